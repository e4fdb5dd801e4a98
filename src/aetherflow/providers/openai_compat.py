"""OpenAI-compatible chat completions over SSE: vLLM, Ollama, llama.cpp, DeepSeek, Groq, ..."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aetherflow.errors import ConfigError
from aetherflow.metrics.records import ServerTiming, Usage
from aetherflow.metrics.timeline import RequestTimeline
from aetherflow.providers.base import (
    ChatRequest,
    ProviderSettings,
    StreamEvent,
    no_server_timing,
)
from aetherflow.providers.usage import normalise_openai_usage
from aetherflow.providers.wire import OpenAIChunkParser, run_parser
from aetherflow.transport.http import TimedSession
from aetherflow.transport.sse import iter_sse

__all__ = ["OpenAICompatibleProvider"]


class OpenAICompatibleProvider:
    """Streams ``POST {base_url}/chat/completions`` and parses OpenAI chunk events.

    Options (``settings.options``): ``stream_usage`` (send
    ``stream_options.include_usage``, default True), ``emulated`` (label runs emulated),
    ``read_timeout_s``.
    """

    def __init__(self, settings: ProviderSettings) -> None:
        if not settings.base_url:
            raise ConfigError(f"provider {settings.name!r} needs a base URL (--base-url)")
        if not settings.model:
            raise ConfigError(f"provider {settings.name!r} needs a model (--model)")
        self.name = settings.name
        self.model = settings.model
        self.base_url = settings.base_url.rstrip("/")
        self._api_key = settings.api_key
        self._options = dict(settings.options)
        self.emulated = bool(self._options.get("emulated", False))
        self.session = TimedSession(read_timeout_s=float(self._options.get("read_timeout_s", 120)))

    async def start(self) -> None:
        """Nothing to start: the connection pool opens lazily."""

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.session.aclose()

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def payload(self, request: ChatRequest) -> dict[str, Any]:
        """The JSON body for ``request``."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": True,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if self._options.get("stream_usage", True):
            body["stream_options"] = {"include_usage": True}
        body.update(request.extra)
        return body

    def parser(self) -> OpenAIChunkParser:
        """A fresh parser for one response stream (shared by every OpenAI-wire provider)."""
        return OpenAIChunkParser(self.name, normalise_openai_usage)

    def endpoint(self, request: ChatRequest) -> str:
        """The URL ``request`` is posted to."""
        return f"{self.base_url}/chat/completions"

    async def stream(
        self, request: ChatRequest, timeline: RequestTimeline
    ) -> AsyncIterator[StreamEvent]:
        """Yield text deltas, then one usage report (if any) and the finish marker."""
        async with self.session.stream_post(
            self.endpoint(request), self.payload(request), self._headers(), timeline
        ) as resp:
            async for out in run_parser(self.parser(), iter_sse(resp)):
                yield out

    async def count_tokens(self, request: ChatRequest, output_text: str) -> Usage | None:
        """A generic OpenAI-compatible server has no standard tokenize endpoint."""
        return None

    async def server_timing(self, request: ChatRequest) -> ServerTiming:
        """None reported: see :func:`~aetherflow.providers.base.no_server_timing`."""
        return no_server_timing(self.name)
