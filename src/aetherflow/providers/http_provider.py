"""The shared base of every provider that streams server-sent events over HTTP.

It holds the settings checks, the timed connection pool and the one streaming loop (post,
read SSE, parse into events); a subclass supplies the four wire-specific pieces:
:meth:`SSEProvider.endpoint`, :meth:`SSEProvider.headers`, :meth:`SSEProvider.payload` and
:meth:`SSEProvider.parser`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aetherflow.errors import ConfigError
from aetherflow.metrics.timeline import RequestTimeline
from aetherflow.providers.base import (
    ChatRequest,
    ErrorEvent,
    ProviderSettings,
    StreamEvent,
    no_server_timing,
)
from aetherflow.providers.wire import StreamParser
from aetherflow.results.run import ServerTiming, Usage
from aetherflow.transport.http import TimedSession
from aetherflow.transport.sse import iter_sse_batches

__all__ = ["SSEProvider"]


class SSEProvider:
    """A provider that posts one JSON request and reads an SSE stream back.

    ``settings`` must already carry the base URL and model (presets fill them first).
    Options: ``emulated`` (label runs as emulated), ``read_timeout_s`` (default 120).
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
        self._options: dict[str, Any] = dict(settings.options)
        self.emulated = bool(self._options.get("emulated", False))
        self.session = TimedSession(read_timeout_s=float(self._options.get("read_timeout_s", 120)))

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, model={self.model!r}, "
                f"base_url={self.base_url!r})")

    async def start(self) -> None:
        """Nothing to start: the connection pool opens lazily."""

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.session.aclose()

    def endpoint(self, request: ChatRequest) -> str:  # pragma: no cover - abstract
        """The URL ``request`` is posted to."""
        raise NotImplementedError

    def headers(self) -> dict[str, str]:  # pragma: no cover - abstract
        """Request headers (authentication included)."""
        raise NotImplementedError

    def payload(self, request: ChatRequest) -> dict[str, Any]:  # pragma: no cover - abstract
        """The JSON body for ``request``."""
        raise NotImplementedError

    def parser(self) -> StreamParser:  # pragma: no cover - abstract
        """A fresh parser for one response stream."""
        raise NotImplementedError

    async def stream(
        self, request: ChatRequest, timeline: RequestTimeline
    ) -> AsyncIterator[StreamEvent]:
        """Post ``request`` and yield the parsed events: text deltas, then the usage report
        (if the server sends one) and the finish marker."""
        async with self.session.stream_post(
            self.endpoint(request), self.payload(request), self.headers(), timeline
        ) as resp:
            # One loop from network read to parsed event (no generator per layer): a read
            # usually holds many SSE events, and every layer per event costs at thousands of
            # streams a second. Same behaviour as ``run_parser(parser, iter_sse(resp))``.
            parser = self.parser()
            async for batch in iter_sse_batches(resp):
                for ev in batch:
                    for out in parser.feed(ev):
                        yield out
                        if isinstance(out, ErrorEvent):
                            return
                    if parser.finished:
                        break
                if parser.finished:
                    break
            for out in parser.close():
                yield out

    async def count_tokens(self, request: ChatRequest, output_text: str) -> Usage | None:
        """No tokenize endpoint: usage is what the stream reported (or stays unknown)."""
        return None

    async def server_timing(self, request: ChatRequest) -> ServerTiming:
        """None reported: see :func:`~aetherflow.providers.base.no_server_timing`."""
        return no_server_timing(self.name)
