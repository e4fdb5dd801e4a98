"""Anthropic Messages API over SSE.

``POST {base_url}/v1/messages`` (default ``https://api.anthropic.com``) with headers
``x-api-key`` and ``anthropic-version: 2023-06-01``; ``stream: true``. The stream is a
sequence of named events:

* ``message_start`` - ``message.usage`` has ``input_tokens`` (cache reads/writes *excluded*),
  ``cache_read_input_tokens``, ``cache_creation_input_tokens`` and an initial
  ``output_tokens``;
* ``content_block_start`` / ``content_block_delta`` / ``content_block_stop`` - text arrives
  as ``delta.type == "text_delta"`` with ``delta.text`` (other delta types, e.g. thinking
  or tool JSON, are not content);
* ``message_delta`` - ``delta.stop_reason`` and a *cumulative* ``usage`` (at least
  ``output_tokens``); its fields replace the ones from ``message_start``;
* ``message_stop`` - the end marker; ``ping`` - keep-alive;
* ``error`` - ``{"type": "error", "error": {"type": ..., "message": ...}}`` (e.g.
  ``overloaded_error``), reported as an :class:`ErrorEvent`.

A stream that ends without ``message_stop`` raises ``ProviderStreamError`` (``truncated``)
carrying the partial text. Option ``cache_system_prompt`` marks the system prompt with
``cache_control: {"type": "ephemeral"}`` (prompt caching).
"""

from __future__ import annotations

from typing import Any

from aetherflow.providers.base import (
    ChatRequest,
    ErrorEvent,
    Finish,
    StreamEvent,
    TextDelta,
    UsageReport,
)
from aetherflow.providers.presets import RemoteSSEProvider
from aetherflow.providers.usage import normalise_anthropic_usage
from aetherflow.providers.wire import as_dict, decode_json_data, error_message, truncated
from aetherflow.transport.sse import SSEEvent

__all__ = ["ANTHROPIC_VERSION", "AnthropicEventParser", "AnthropicProvider"]

ANTHROPIC_VERSION = "2023-06-01"


class AnthropicEventParser:
    """I/O-free parser of one Anthropic Messages event stream (see the module doc)."""

    def __init__(self, provider: str = "anthropic") -> None:
        self.provider = provider
        self.finished = False
        self.stop_reason: str | None = None
        self.usage: dict[str, Any] = {}
        self.text: list[str] = []

    def _merge_usage(self, raw: Any) -> None:
        if isinstance(raw, dict):
            self.usage.update({k: v for k, v in raw.items() if v is not None})

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        """Parse one named event (values of an unexpected JSON type are ignored)."""
        if not event.data.strip():
            return []
        data = decode_json_data(event, self.provider, self.text)
        if not isinstance(data, dict):
            return []
        kind = str(data.get("type") or event.event)
        if kind == "error":
            err = data.get("error") or {}
            etype = str(err.get("type", "error")) if isinstance(err, dict) else "error"
            return [ErrorEvent(kind="stream_error", message=f"{etype}: {error_message(err)}")]
        if kind == "message_start":
            self._merge_usage(as_dict(data.get("message")).get("usage"))
        elif kind == "content_block_delta":
            delta = as_dict(data.get("delta"))
            text = delta.get("text")
            if delta.get("type") == "text_delta" and isinstance(text, str) and text:
                self.text.append(text)
                return [TextDelta(text)]
        elif kind == "message_delta":
            stop = as_dict(data.get("delta")).get("stop_reason")
            if stop:
                self.stop_reason = str(stop)
            self._merge_usage(data.get("usage"))
        elif kind == "message_stop":
            self.finished = True
        return []  # ping, content_block_start/stop, unknown future events

    def close(self) -> list[StreamEvent]:
        """Usage and finish after ``message_stop``; ``truncated`` without it."""
        if not self.finished:
            raise truncated(self.provider, "message_stop", "".join(self.text))
        out: list[StreamEvent] = []
        if self.usage:
            out.append(UsageReport(normalise_anthropic_usage(self.usage, self.provider)))
        out.append(Finish(self.stop_reason))
        return out


class AnthropicProvider(RemoteSSEProvider):
    """Claude via the Messages API (``ANTHROPIC_API_KEY``, ``ANTHROPIC_BASE_URL``)."""

    preset = "anthropic"

    def endpoint(self, request: ChatRequest) -> str:
        """``{base_url}/v1/messages``."""
        return f"{self.base_url}/v1/messages"

    def headers(self) -> dict[str, str]:
        """``x-api-key`` + ``anthropic-version``."""
        headers = {
            "Accept": "text/event-stream",
            "anthropic-version": str(self._options.get("anthropic_version", ANTHROPIC_VERSION)),
        }
        if self._api_key:
            headers["x-api-key"] = self._api_key
        return headers

    def payload(self, request: ChatRequest) -> dict[str, Any]:
        """Messages body: system prompts joined into ``system``, the rest as ``messages``."""
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": True,
            "messages": [{"role": m.role, "content": m.content}
                         for m in request.messages if m.role != "system"],
        }
        if system:
            if self._options.get("cache_system_prompt"):
                body["system"] = [{"type": "text", "text": system,
                                   "cache_control": {"type": "ephemeral"}}]
            else:
                body["system"] = system
        body.update(request.extra)
        return body

    def parser(self) -> AnthropicEventParser:
        """A fresh event parser."""
        return AnthropicEventParser(self.name)
