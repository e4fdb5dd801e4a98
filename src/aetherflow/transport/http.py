"""A keep-alive aiohttp session that stamps each request's phases into a RequestTimeline.

aiohttp's tracing signals give: connection-pool wait, new connection creation (which
contains DNS resolution and, for https, the TLS handshake), connection reuse, DNS, the
request body sent, and response headers received. The request's timeline is passed as
``trace_request_ctx`` so concurrent requests never mix their stamps.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import aiohttp

from aetherflow.errors import (
    ProviderHTTPError,
    ProviderStreamError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from aetherflow.metrics.timeline import RequestTimeline, now_ns

__all__ = ["TimedSession", "parse_retry_after"]

_READ_BUFSIZE = 1 << 20  # 1 MiB: the 64 KiB default breaks on long SSE lines


def _tl(ctx: SimpleNamespace) -> RequestTimeline | None:
    tl = ctx.trace_request_ctx
    return tl if isinstance(tl, RequestTimeline) else None


async def _on_conn_create_start(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
    if tl := _tl(ctx):
        tl.connect_start = now_ns()
        tl.connection_reused = False


async def _on_conn_create_end(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
    if tl := _tl(ctx):
        tl.connect_end = now_ns()


async def _on_conn_reuse(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
    if tl := _tl(ctx):
        tl.connection_reused = True


async def _on_dns_start(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
    if tl := _tl(ctx):
        tl.dns_start = now_ns()


async def _on_dns_end(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
    if tl := _tl(ctx):
        tl.dns_end = now_ns()


async def _on_chunk_sent(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
    if tl := _tl(ctx):
        tl.request_sent = now_ns()  # the last body chunk wins


async def _on_headers_sent(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
    if (tl := _tl(ctx)) and tl.request_sent is None:
        tl.request_sent = now_ns()


async def _on_request_end(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
    if tl := _tl(ctx):
        tl.headers = now_ns()


def _trace_config() -> aiohttp.TraceConfig:
    tc = aiohttp.TraceConfig()
    tc.on_connection_create_start.append(_on_conn_create_start)
    tc.on_connection_create_end.append(_on_conn_create_end)
    tc.on_connection_reuseconn.append(_on_conn_reuse)
    tc.on_dns_resolvehost_start.append(_on_dns_start)
    tc.on_dns_resolvehost_end.append(_on_dns_end)
    tc.on_request_headers_sent.append(_on_headers_sent)
    tc.on_request_chunk_sent.append(_on_chunk_sent)
    tc.on_request_end.append(_on_request_end)
    return tc


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds form); None if absent/unparsable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


async def _drain(resp: aiohttp.ClientResponse, limit_s: float = 1.0) -> None:
    """Read what is left after the end marker (e.g. the chunked terminator).

    Leaving it unread makes aiohttp close the connection instead of returning it to the
    pool, so the next request would pay a new connect. Bounded: a server that keeps sending
    past its end marker gets its connection closed after ``limit_s``.
    """
    if resp.content.is_eof():
        return
    with contextlib.suppress(TimeoutError, aiohttp.ClientError):
        async with asyncio.timeout(limit_s):
            while await resp.content.readany():
                pass


class TimedSession:
    """One keep-alive connection pool (per provider) with per-phase timing.

    The pool has no connection limit of its own: concurrency is limited (and its wait
    measured as queue latency) by the executor, never hidden inside the pool.
    """

    def __init__(self, *, connect_timeout_s: float = 10.0, read_timeout_s: float = 120.0) -> None:
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        self._session: aiohttp.ClientSession | None = None

    def _ensure(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=300),
                trace_configs=[_trace_config()],
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=self._connect_timeout_s,
                    sock_read=self._read_timeout_s,
                ),
                read_bufsize=_READ_BUFSIZE,
                auto_decompress=True,
            )
        return self._session

    async def aclose(self) -> None:
        """Close the pool."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    @contextlib.asynccontextmanager
    async def stream_post(
        self, url: str, payload: dict[str, Any], headers: dict[str, str],
        timeline: RequestTimeline,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """POST ``payload`` and yield the open response after checking its status.

        Non-2xx answers raise :class:`ProviderHTTPError` (with Retry-After); connection
        failures and timeouts are translated into project errors.
        """
        session = self._ensure()
        try:
            async with session.post(
                url, json=payload, headers=headers, trace_request_ctx=timeline
            ) as resp:
                if resp.status >= 400:
                    body = (await resp.read())[:2000].decode("utf-8", "replace")
                    raise ProviderHTTPError(
                        f"HTTP {resp.status} from {url}: {body[:300]}",
                        status=resp.status,
                        retry_after_s=parse_retry_after(resp.headers.get("Retry-After")),
                        body=body,
                    )
                yield resp
                await _drain(resp)
        except (ProviderHTTPError, ProviderStreamError):
            raise
        except TimeoutError as exc:
            raise ProviderTimeoutError(f"timed out talking to {url}") from exc
        except aiohttp.ClientConnectorError as exc:
            raise ProviderUnavailableError(f"cannot connect to {url}: {exc.os_error}") from exc
        except aiohttp.ServerDisconnectedError as exc:
            raise ProviderStreamError(f"server disconnected: {url}", kind="reset") from exc
        except aiohttp.ClientPayloadError as exc:
            raise ProviderStreamError(f"connection reset mid-stream: {exc}", kind="reset") from exc
        except (aiohttp.ClientOSError, ConnectionResetError) as exc:
            raise ProviderStreamError(f"connection error: {exc}", kind="reset") from exc
        except aiohttp.ClientError as exc:
            raise ProviderUnavailableError(f"HTTP client error for {url}: {exc}") from exc

    async def get_json(self, url: str, headers: dict[str, str] | None = None) -> Any:
        """GET ``url`` and decode JSON (for health checks and listings, not timed)."""
        session = self._ensure()
        async with session.get(url, headers=headers or {}) as resp:
            resp.raise_for_status()
            return await resp.json()

    async def post_json(self, url: str, payload: dict[str, Any],
                        headers: dict[str, str] | None = None) -> Any:
        """POST ``payload`` and decode the JSON answer (auxiliary calls like tokenize)."""
        session = self._ensure()
        async with session.post(url, json=payload, headers=headers or {}) as resp:
            resp.raise_for_status()
            return await resp.json()
