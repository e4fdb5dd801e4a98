"""Google Gemini (Generative Language API) over SSE.

``POST {base_url}/v1beta/models/{model}:streamGenerateContent?alt=sse`` (default
``https://generativelanguage.googleapis.com``), header ``x-goog-api-key`` (the key never
goes into the URL). Every ``data:`` line is a whole ``GenerateContentResponse``:
text in ``candidates[0].content.parts[].text`` (parts flagged ``thought`` are not content),
``candidates[0].finishReason`` (``STOP``, ``MAX_TOKENS``, ``SAFETY``, ...) on the last
chunk, and ``usageMetadata`` (``promptTokenCount`` which *includes*
``cachedContentTokenCount``, ``candidatesTokenCount``, ``thoughtsTokenCount``) - the last
one seen is reported.

Completeness: the stream has no end marker of its own, so AetherFlow counts a stream as
complete when a chunk carried a ``finishReason`` (or a ``promptFeedback.blockReason``,
reported as finish reason ``blocked:<reason>``). A stream that closes without either
raises ``ProviderStreamError`` (``truncated``) with the partial text. The usage report and
:class:`Finish` are emitted when the connection closes. An ``error`` object in a chunk
becomes an :class:`ErrorEvent`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aetherflow.providers.base import (
    ChatRequest,
    ErrorEvent,
    Finish,
    StreamEvent,
    TextDelta,
    UsageReport,
)
from aetherflow.providers.presets import RemoteSSEProvider
from aetherflow.providers.usage import normalise_gemini_usage
from aetherflow.providers.wire import (
    as_dict,
    as_list,
    decode_json_data,
    error_message,
    truncated,
)
from aetherflow.transport.sse import SSEEvent

__all__ = ["GeminiChunkParser", "GeminiProvider"]


class GeminiChunkParser:
    """I/O-free parser of one ``streamGenerateContent?alt=sse`` stream (see the module doc).

    ``finished`` stays False: the only end of a Gemini stream is the connection closing.
    ``complete`` says whether a finish reason was seen.
    """

    def __init__(self, provider: str = "gemini") -> None:
        self.provider = provider
        self.finished = False
        self.complete = False
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self.text: list[str] = []

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        """Parse one ``GenerateContentResponse`` chunk (values of an unexpected JSON type
        are ignored)."""
        if not event.data.strip():
            return []
        chunk = decode_json_data(event, self.provider, self.text)
        if isinstance(chunk, list):  # tolerate a JSON-array framed chunk
            chunk = chunk[0] if chunk else {}
        if not isinstance(chunk, dict):
            return []
        if chunk.get("error"):
            err = chunk["error"]
            status = str(err.get("status", "error")) if isinstance(err, dict) else "error"
            return [ErrorEvent(kind="stream_error", message=f"{status}: {error_message(err)}")]
        if isinstance(chunk.get("usageMetadata"), dict):
            self.usage = chunk["usageMetadata"]
        block = as_dict(chunk.get("promptFeedback")).get("blockReason")
        if block:
            self.finish_reason = f"blocked:{block}"
            self.complete = True
        candidates = as_list(chunk.get("candidates"))
        first = as_dict(candidates[0]) if candidates else {}
        out: list[StreamEvent] = []
        for part in as_list(as_dict(first.get("content")).get("parts")):
            text = part.get("text") if isinstance(part, dict) and not part.get("thought") else None
            if isinstance(text, str) and text:
                self.text.append(text)
                out.append(TextDelta(text))
        if first.get("finishReason"):
            self.finish_reason = str(first["finishReason"])
            self.complete = True
        return out

    def close(self) -> list[StreamEvent]:
        """Usage and finish if a finish reason was seen; ``truncated`` otherwise."""
        if not self.complete:
            raise truncated(self.provider, "a chunk with a finishReason", "".join(self.text))
        out: list[StreamEvent] = []
        if self.usage is not None:
            out.append(UsageReport(normalise_gemini_usage(self.usage, self.provider)))
        out.append(Finish(self.finish_reason))
        return out


class GeminiProvider(RemoteSSEProvider):
    """Gemini via ``streamGenerateContent`` (``GEMINI_API_KEY``, ``GEMINI_BASE_URL``)."""

    preset = "gemini"

    def endpoint(self, request: ChatRequest) -> str:
        """``{base_url}/v1beta/models/{model}:streamGenerateContent?alt=sse``."""
        model = quote(self.model.removeprefix("models/"), safe="-._")
        return f"{self.base_url}/v1beta/models/{model}:streamGenerateContent?alt=sse"

    def headers(self) -> dict[str, str]:
        """``x-goog-api-key``."""
        headers = {"Accept": "text/event-stream"}
        if self._api_key:
            headers["x-goog-api-key"] = self._api_key
        return headers

    def payload(self, request: ChatRequest) -> dict[str, Any]:
        """``contents`` (roles ``user``/``model``), ``systemInstruction``, ``generationConfig``."""
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        body: dict[str, Any] = {
            "contents": [
                {"role": "model" if m.role == "assistant" else "user",
                 "parts": [{"text": m.content}]}
                for m in request.messages if m.role != "system"
            ],
            "generationConfig": {
                "maxOutputTokens": request.max_tokens,
                "temperature": request.temperature,
            },
        }
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        body.update(request.extra)
        return body

    def parser(self) -> GeminiChunkParser:
        """A fresh chunk parser."""
        return GeminiChunkParser(self.name)
