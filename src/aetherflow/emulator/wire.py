"""Each provider's wire format: SSE frames, final usage, error bodies, non-streaming bodies.

Formats follow the providers' documented examples (see ``docs/emulator.md`` and the fixtures
in ``tests/fixtures/wire``). The usage numbers come from :class:`UsageTruth`, the emulator's
server-side truth, mapped onto each provider's own fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "DEFAULT_MODEL",
    "MODELS_CREATED",
    "MODEL_OWNER",
    "AnthropicWire",
    "GeminiWire",
    "OpenAICompletionsWire",
    "OpenAIWire",
    "StreamContext",
    "UsageTruth",
    "Wire",
    "sse",
    "wire_for",
]


DEFAULT_MODEL = "emulated-model"
"""The model a model list names when the profile sets no ``model_name`` (any name is accepted)."""

MODEL_OWNER = "aetherflow-emulator"
"""``owned_by`` of every OpenAI-style model-list entry."""

MODELS_CREATED = 1_704_067_200
"""Fixed creation time of listed models (2024-01-01T00:00:00Z), so the answers are stable."""


@dataclass(frozen=True)
class UsageTruth:
    """Server-side token truth of one request.

    ``input_tokens`` counts the whole prompt; ``cached_tokens`` (read from the prefix cache)
    and ``cache_write_tokens`` (newly written, reported by Anthropic only) are parts of it.
    """

    input_tokens: int
    cached_tokens: int
    cache_write_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class StreamContext:
    """Identity and outcome of one response, shared by all of its frames."""

    provider: str
    model: str
    response_id: str
    created: int
    usage: UsageTruth
    finish: str  # "stop" (natural end) or "length" (hit the token limit)
    ttft_s: float = 0.0
    decode_s: float = 0.0


def sse(data: Any, event: str | None = None) -> bytes:
    """One SSE frame: optional ``event:`` line, one ``data:`` line, blank line."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


class Wire:
    """Interface of a wire format (one instance per provider flavour)."""

    malformed_frame = b'data: {"choices": [{"delta": {"content": "unterminated\n\n'

    def preamble(self, ctx: StreamContext) -> list[bytes]:
        """Frames sent as soon as the response starts (before the first token)."""
        raise NotImplementedError

    def token(self, ctx: StreamContext, index: int, text: str) -> bytes:
        """The frame carrying output token ``index`` (0-based)."""
        raise NotImplementedError

    def finish(self, ctx: StreamContext) -> list[bytes]:
        """Frames after the last token (finish reason, usage), excluding the end marker."""
        raise NotImplementedError

    def end_marker(self, ctx: StreamContext) -> list[bytes]:
        """The frames a complete stream ends with (omitted by the ``truncated`` fault)."""
        raise NotImplementedError

    def error_frame(self, ctx: StreamContext) -> bytes:
        """An in-stream error in the provider's own format."""
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        """JSON body of an HTTP error answer."""
        raise NotImplementedError

    def complete(self, ctx: StreamContext, text: str) -> dict[str, Any]:
        """The non-streaming response body."""
        raise NotImplementedError

    def model_list(self, model: str) -> dict[str, Any]:
        """The body of the provider's ``GET …/models``, listing ``model``."""
        raise NotImplementedError


_OPENAI_ERRORS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", "service_unavailable"),
}


class OpenAIWire(Wire):
    """``chat.completion.chunk`` streams ending with ``data: [DONE]``.

    Flavours: ``generic``/``openai`` (usage chunk only with ``stream_options.include_usage``),
    ``deepseek`` (adds ``prompt_cache_hit_tokens``/``prompt_cache_miss_tokens``),
    ``groq`` (``x_groq.usage`` on the finish chunk), ``mistral`` (usage on the finish chunk).
    """

    def __init__(self, flavor: str, include_usage: bool = False) -> None:
        self.flavor = flavor
        self.include_usage = include_usage and flavor != "mistral"

    def usage(self, ctx: StreamContext) -> dict[str, Any]:
        """The usage object in this flavour's fields."""
        u = ctx.usage
        base: dict[str, Any] = {
            "prompt_tokens": u.input_tokens,
            "completion_tokens": u.output_tokens,
            "total_tokens": u.input_tokens + u.output_tokens,
        }
        if self.flavor == "mistral":
            return base
        if self.flavor != "groq" or u.cached_tokens:
            base["prompt_tokens_details"] = {"cached_tokens": u.cached_tokens}
        if self.flavor == "deepseek":
            base["prompt_cache_hit_tokens"] = u.cached_tokens
            base["prompt_cache_miss_tokens"] = u.input_tokens - u.cached_tokens
        elif self.flavor == "groq":
            base.update(
                queue_time=0.0,
                prompt_time=round(ctx.ttft_s, 6),
                completion_time=round(ctx.decode_s, 6),
                total_time=round(ctx.ttft_s + ctx.decode_s, 6),
            )
        else:
            base["completion_tokens_details"] = {"reasoning_tokens": 0}
        return base

    def _chunk(self, ctx: StreamContext, choices: list[dict[str, Any]]) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": ctx.response_id,
            "object": "chat.completion.chunk",
            "created": ctx.created,
            "model": ctx.model,
        }
        if self.flavor != "mistral":
            chunk["system_fingerprint"] = "fp_emulator"
        chunk["choices"] = choices
        if self.include_usage:
            chunk["usage"] = None
        return chunk

    def _choice(self, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": 0, "delta": delta}
        if self.flavor != "mistral":
            choice["logprobs"] = None
        choice["finish_reason"] = finish
        return choice

    def preamble(self, ctx: StreamContext) -> list[bytes]:
        chunk = self._chunk(ctx, [self._choice({"role": "assistant", "content": ""}, None)])
        if self.flavor == "groq":
            chunk["x_groq"] = {"id": f"req_{ctx.response_id}"}
        return [sse(chunk)]

    def token(self, ctx: StreamContext, index: int, text: str) -> bytes:
        return sse(self._chunk(ctx, [self._choice({"content": text}, None)]))

    def finish(self, ctx: StreamContext) -> list[bytes]:
        delta: dict[str, Any] = {"content": ""} if self.flavor == "mistral" else {}
        last = self._chunk(ctx, [self._choice(delta, ctx.finish)])
        if self.flavor == "mistral":
            last["usage"] = self.usage(ctx)
        if self.flavor == "groq":
            last["x_groq"] = {"id": f"req_{ctx.response_id}", "usage": self.usage(ctx)}
        frames = [sse(last)]
        if self.include_usage:
            final = self._chunk(ctx, [])
            final["usage"] = self.usage(ctx)
            frames.append(sse(final))
        return frames

    def end_marker(self, ctx: StreamContext) -> list[bytes]:
        return [sse("[DONE]")]

    def error_frame(self, ctx: StreamContext) -> bytes:
        return sse(self.error_body(500, "The server had an error while processing your request."))

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        kind, code = _OPENAI_ERRORS.get(status, ("server_error", None))
        if self.flavor == "mistral":
            return {
                "object": "error",
                "message": message,
                "type": kind,
                "param": None,
                "code": str(status),
            }
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}

    def complete(self, ctx: StreamContext, text: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": ctx.response_id,
            "object": "chat.completion",
            "created": ctx.created,
            "model": ctx.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "logprobs": None,
                    "finish_reason": ctx.finish,
                }
            ],
            "usage": self.usage(ctx),
        }
        if self.flavor == "groq":
            body["x_groq"] = {"id": f"req_{ctx.response_id}"}
        return body

    def model_list(self, model: str) -> dict[str, Any]:
        """``{"object": "list", "data": [model]}``; ``generic`` adds vLLM's ``root``/``parent``
        (``vllm bench serve`` reads ``data[0].root`` when it is not given ``--model``)."""
        entry: dict[str, Any] = {
            "id": model,
            "object": "model",
            "created": MODELS_CREATED,
            "owned_by": MODEL_OWNER,
        }
        if self.flavor == "generic":
            entry.update(root=model, parent=None)
        return {"object": "list", "data": [entry]}


class OpenAICompletionsWire(OpenAIWire):
    """Legacy ``text_completion`` streams (``/v1/completions``) ending with ``data: [DONE]``.

    No preamble: the first frame carries the first token (``choices[0].text``), so a client
    that takes its first chunk with ``choices`` as the first token (``vllm bench serve``) is
    right. The finish chunk has ``text: ""`` and ``finish_reason``; with
    ``stream_options.include_usage`` a last chunk with ``choices: []`` carries the usage.
    """

    def _text_choice(self, text: str, finish: str | None) -> dict[str, Any]:
        return {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}

    def _chunk(self, ctx: StreamContext, choices: list[dict[str, Any]]) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": ctx.response_id,
            "object": "text_completion",
            "created": ctx.created,
            "model": ctx.model,
            "choices": choices,
        }
        if self.include_usage:
            chunk["usage"] = None
        return chunk

    def preamble(self, ctx: StreamContext) -> list[bytes]:
        return []

    def token(self, ctx: StreamContext, index: int, text: str) -> bytes:
        return sse(self._chunk(ctx, [self._text_choice(text, None)]))

    def finish(self, ctx: StreamContext) -> list[bytes]:
        frames = [sse(self._chunk(ctx, [self._text_choice("", ctx.finish)]))]
        if self.include_usage:
            final = self._chunk(ctx, [])
            final["usage"] = self.usage(ctx)
            frames.append(sse(final))
        return frames

    def complete(self, ctx: StreamContext, text: str) -> dict[str, Any]:
        return {
            "id": ctx.response_id,
            "object": "text_completion",
            "created": ctx.created,
            "model": ctx.model,
            "choices": [self._text_choice(text, ctx.finish)],
            "usage": self.usage(ctx),
        }


_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
}


class AnthropicWire(Wire):
    """Messages API SSE: message_start … message_stop, named events."""

    def usage(self, ctx: StreamContext, output_tokens: int) -> dict[str, Any]:
        """Anthropic usage: ``input_tokens`` excludes cache reads and cache writes."""
        u = ctx.usage
        return {
            "input_tokens": u.input_tokens - u.cached_tokens - u.cache_write_tokens,
            "cache_creation_input_tokens": u.cache_write_tokens,
            "cache_read_input_tokens": u.cached_tokens,
            "output_tokens": output_tokens,
        }

    def _stop_reason(self, ctx: StreamContext) -> str:
        return "max_tokens" if ctx.finish == "length" else "end_turn"

    def preamble(self, ctx: StreamContext) -> list[bytes]:
        message: dict[str, Any] = {
            "id": ctx.response_id,
            "type": "message",
            "role": "assistant",
            "model": ctx.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": self.usage(ctx, 1),
        }
        return [
            sse({"type": "message_start", "message": message}, "message_start"),
            sse(
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
                "content_block_start",
            ),
            sse({"type": "ping"}, "ping"),
        ]

    def token(self, ctx: StreamContext, index: int, text: str) -> bytes:
        return sse(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": text},
            },
            "content_block_delta",
        )

    def finish(self, ctx: StreamContext) -> list[bytes]:
        return [
            sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": self._stop_reason(ctx), "stop_sequence": None},
                    "usage": {"output_tokens": ctx.usage.output_tokens},
                },
                "message_delta",
            ),
        ]

    def end_marker(self, ctx: StreamContext) -> list[bytes]:
        return [sse({"type": "message_stop"}, "message_stop")]

    def error_frame(self, ctx: StreamContext) -> bytes:
        return sse(self.error_body(503, "Overloaded"), "error")

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        kind = _ANTHROPIC_ERRORS.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}

    def complete(self, ctx: StreamContext, text: str) -> dict[str, Any]:
        return {
            "id": ctx.response_id,
            "type": "message",
            "role": "assistant",
            "model": ctx.model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": self._stop_reason(ctx),
            "stop_sequence": None,
            "usage": self.usage(ctx, ctx.usage.output_tokens),
        }

    def model_list(self, model: str) -> dict[str, Any]:
        """Anthropic's page: ``data`` of ``{type, id, display_name, created_at}``, cursors."""
        created = datetime.fromtimestamp(MODELS_CREATED, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        entry = {"type": "model", "id": model, "display_name": model, "created_at": created}
        return {"data": [entry], "has_more": False, "first_id": model, "last_id": model}


_GEMINI_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class GeminiWire(Wire):
    """``streamGenerateContent?alt=sse``: ``data:`` frames of GenerateContentResponse JSON.

    There is no end sentinel; the complete stream ends with a chunk carrying ``finishReason``.
    ``usageMetadata`` is cumulative in every chunk; ``cachedContentTokenCount`` appears when
    cached tokens were read (it is a subset of ``promptTokenCount``).
    """

    def usage(self, ctx: StreamContext, output_tokens: int) -> dict[str, Any]:
        """Gemini usageMetadata after ``output_tokens`` tokens."""
        u = ctx.usage
        meta: dict[str, Any] = {
            "promptTokenCount": u.input_tokens,
            "candidatesTokenCount": output_tokens,
            "totalTokenCount": u.input_tokens + output_tokens,
        }
        if u.cached_tokens:
            meta["cachedContentTokenCount"] = u.cached_tokens
        return meta

    def _response(
        self, ctx: StreamContext, text: str, produced: int, finish: str | None
    ) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}}
        if finish:
            candidate["finishReason"] = finish
        candidate["index"] = 0
        return {
            "candidates": [candidate],
            "usageMetadata": self.usage(ctx, produced),
            "modelVersion": ctx.model,
            "responseId": ctx.response_id,
        }

    def _finish_reason(self, ctx: StreamContext) -> str:
        return "MAX_TOKENS" if ctx.finish == "length" else "STOP"

    def preamble(self, ctx: StreamContext) -> list[bytes]:
        return []

    def token(self, ctx: StreamContext, index: int, text: str) -> bytes:
        return sse(self._response(ctx, text, index + 1, None))

    def finish(self, ctx: StreamContext) -> list[bytes]:
        return []

    def end_marker(self, ctx: StreamContext) -> list[bytes]:
        return [sse(self._response(ctx, "", ctx.usage.output_tokens, self._finish_reason(ctx)))]

    def error_frame(self, ctx: StreamContext) -> bytes:
        return sse(self.error_body(500, "An internal error has occurred."))

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {
            "error": {
                "code": status,
                "message": message,
                "status": _GEMINI_STATUS.get(status, "INTERNAL"),
            }
        }

    def complete(self, ctx: StreamContext, text: str) -> dict[str, Any]:
        return self._response(ctx, text, ctx.usage.output_tokens, self._finish_reason(ctx))

    def model_list(self, model: str) -> dict[str, Any]:
        """``{"models": [{"name": "models/<id>", …}]}`` as ``GET /v1beta/models`` answers."""
        entry = {
            "name": f"models/{model}",
            "version": "001",
            "displayName": model,
            "description": "AetherFlow provider emulator (not a real model).",
            "inputTokenLimit": 1_048_576,
            "outputTokenLimit": 65_536,
            "supportedGenerationMethods": ["generateContent", "streamGenerateContent"],
        }
        return {"models": [entry]}


def wire_for(provider: str, include_usage: bool = False, kind: str = "chat") -> Wire:
    """The wire format a provider speaks at an endpoint of ``kind`` (``completions`` or not)."""
    if kind == "completions":
        return OpenAICompletionsWire(provider, include_usage)
    if provider == "anthropic":
        return AnthropicWire()
    if provider == "gemini":
        return GeminiWire()
    return OpenAIWire(provider, include_usage)
