"""Read the parts of a provider request body the emulator needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["BadRequest", "ParsedRequest", "parse_body", "parse_openai_completions"]


class BadRequest(ValueError):
    """The request body is not what the provider would accept (answered with HTTP 400)."""


@dataclass(frozen=True)
class ParsedRequest:
    """What the emulator takes from one request.

    ``prompt_pieces`` are the text parts in order (system first); their tokens, concatenated,
    are the input tokens and the prefix-cache key. ``cache_control`` says whether an
    Anthropic ``cache_control`` marker was present anywhere.
    """

    model: str
    stream: bool
    max_tokens: int | None
    include_usage: bool
    prompt_pieces: tuple[str, ...]
    cache_control: bool = False

    @property
    def prompt_text(self) -> str:
        """All prompt text joined by newlines (used for reply and fault matching)."""
        return "\n".join(self.prompt_pieces)


def _text_of(content: Any, where: str) -> list[str]:
    """Texts of a string or a list of content blocks (``{"type": "text", "text": ...}``)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [
            b["text"] for b in content if isinstance(b, dict) and isinstance(b.get("text"), str)
        ]
    raise BadRequest(f"{where}: content must be a string or a list of blocks")


def _has_cache_control(value: Any) -> bool:
    if isinstance(value, dict):
        return "cache_control" in value or any(_has_cache_control(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_cache_control(v) for v in value)
    return False


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty list")
    if not all(isinstance(m, dict) for m in messages):
        raise BadRequest("each message must be an object")
    return messages


def _int_or_none(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadRequest(f"'{name}' must be a non-negative integer")
    return value


def parse_openai_chat(body: dict[str, Any]) -> ParsedRequest:
    """OpenAI-style ``/chat/completions`` (OpenAI, DeepSeek, Groq, Mistral, generic)."""
    pieces = [
        t
        for i, m in enumerate(_messages(body))
        for t in _text_of(m.get("content"), f"messages[{i}]")
    ]
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    options = body.get("stream_options") or {}
    return ParsedRequest(
        model=str(body.get("model", "emulated-model")),
        stream=bool(body.get("stream")),
        max_tokens=_int_or_none(limit, "max_tokens"),
        include_usage=bool(isinstance(options, dict) and options.get("include_usage")),
        prompt_pieces=tuple(pieces),
    )


def _completion_prompt(prompt: Any) -> list[str]:
    """Texts of a completions ``prompt``: a string, strings, token ids, or lists of token ids.

    Token ids become one word each (``"1 2 3"``), so the emulator counts exactly one input
    token per id.
    """
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list) and prompt:
        if all(isinstance(p, str) for p in prompt):
            return list(prompt)
        if all(isinstance(p, int) and not isinstance(p, bool) for p in prompt):
            return [" ".join(str(p) for p in prompt)]
        if all(isinstance(p, list) and _completion_prompt(p) for p in prompt):
            return [t for p in prompt for t in _completion_prompt(p)]
    raise BadRequest(
        "'prompt' must be a string, a list of strings, or a list of token ids (or lists of them)"
    )


def parse_openai_completions(body: dict[str, Any]) -> ParsedRequest:
    """OpenAI legacy ``/completions`` (what ``vllm bench serve`` sends by default)."""
    if "prompt" not in body:
        raise BadRequest("'prompt' is a required property")
    options = body.get("stream_options") or {}
    return ParsedRequest(
        model=str(body.get("model", "emulated-model")),
        stream=bool(body.get("stream")),
        max_tokens=_int_or_none(body.get("max_tokens"), "max_tokens"),
        include_usage=bool(isinstance(options, dict) and options.get("include_usage")),
        prompt_pieces=tuple(_completion_prompt(body["prompt"])),
    )


def parse_mistral_fim(body: dict[str, Any]) -> ParsedRequest:
    """Mistral ``/fim/completions``: ``prompt`` and optional ``suffix``."""
    prompt = body.get("prompt")
    if not isinstance(prompt, str):
        raise BadRequest("'prompt' must be a string")
    suffix = body.get("suffix") or ""
    return ParsedRequest(
        model=str(body.get("model", "codestral-latest")),
        stream=bool(body.get("stream")),
        max_tokens=_int_or_none(body.get("max_tokens"), "max_tokens"),
        include_usage=True,
        prompt_pieces=(prompt, str(suffix)) if suffix else (prompt,),
    )


def parse_anthropic(body: dict[str, Any]) -> ParsedRequest:
    """Anthropic ``/v1/messages`` (``max_tokens`` is required there)."""
    messages = _messages(body)
    pieces = _text_of(body.get("system"), "system")
    pieces += [
        t for i, m in enumerate(messages) for t in _text_of(m.get("content"), f"messages[{i}]")
    ]
    if "max_tokens" not in body:
        raise BadRequest("max_tokens: Field required")
    return ParsedRequest(
        model=str(body.get("model", "claude-emulated")),
        stream=bool(body.get("stream")),
        max_tokens=_int_or_none(body.get("max_tokens"), "max_tokens"),
        include_usage=True,
        prompt_pieces=tuple(pieces),
        cache_control=_has_cache_control(body),
    )


def parse_gemini(body: dict[str, Any], model: str, stream: bool) -> ParsedRequest:
    """Gemini ``generateContent`` / ``streamGenerateContent``."""
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise BadRequest("contents is not specified")
    system = body.get("systemInstruction") or body.get("system_instruction") or {}
    pieces = _text_of(system.get("parts"), "systemInstruction") if isinstance(system, dict) else []
    for i, c in enumerate(contents):
        pieces += _text_of(c.get("parts") if isinstance(c, dict) else None, f"contents[{i}]")
    config = body.get("generationConfig") or {}
    limit = config.get("maxOutputTokens") if isinstance(config, dict) else None
    return ParsedRequest(
        model=model,
        stream=stream,
        include_usage=True,
        max_tokens=_int_or_none(limit, "maxOutputTokens"),
        prompt_pieces=tuple(pieces),
    )


def parse_body(kind: str, body: Any, model: str = "", stream: bool = False) -> ParsedRequest:
    """Dispatch on the endpoint ``kind``: ``chat``, ``completions``, ``fim``, ``messages``,
    ``gemini``."""
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    if kind == "completions":
        return parse_openai_completions(body)
    if kind == "fim":
        return parse_mistral_fim(body)
    if kind == "messages":
        return parse_anthropic(body)
    if kind == "gemini":
        return parse_gemini(body, model, stream)
    return parse_openai_chat(body)
