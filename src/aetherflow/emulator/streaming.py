"""Send one planned reply: streamed frame by frame on absolute deadlines, or as one body.

Faults that strike mid-stream (``reset``, ``stall``, ``malformed``, ``truncated``,
``error_event``) take effect just before output token ``after_tokens`` (or after the last
token when the reply is shorter).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

from aiohttp import web

from aetherflow.emulator.latency import TimingPlan, sleep_until
from aetherflow.emulator.profile import FaultRule
from aetherflow.emulator.records import RequestRecord
from aetherflow.emulator.wire import StreamContext, Wire

__all__ = ["Exchange", "abort_connection", "send_complete", "send_stream"]

_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}


@dataclass
class Exchange:
    """Everything needed to answer one request that passed validation."""

    request: web.Request
    wire: Wire
    ctx: StreamContext
    tokens: list[str]
    plan: TimingPlan
    fault: FaultRule | None
    record: RequestRecord
    start: float

    @property
    def fault_at(self) -> int:
        """Index of the token before which the mid-stream fault strikes."""
        return min(self.fault.after_tokens, len(self.tokens)) if self.fault else -1


class _Closed(Exception):
    """The connection was dropped on purpose (reset / stall-then-close)."""


def abort_connection(request: web.Request) -> None:
    """Close the TCP connection abruptly (no HTTP terminator is sent)."""
    if request.transport is not None:
        request.transport.abort()


async def _strike(ex: Exchange, resp: web.StreamResponse) -> str:
    """Apply the mid-stream fault; return ``"go"``, ``"stop"`` (end cleanly) or ``"cut"``."""
    assert ex.fault is not None
    kind = ex.fault.fault
    if kind == "reset":
        raise _Closed
    if kind == "stall":
        ex.record.stall_ms += ex.fault.stall_s * 1000.0
        await asyncio.sleep(ex.fault.stall_s)
        if ex.fault.stall_then == "close":
            raise _Closed
        return "go"
    if kind == "malformed":
        await resp.write(ex.wire.malformed_frame)
        return "go"
    if kind == "error_event":
        await resp.write(ex.wire.error_frame(ex.ctx))
        return "stop"
    return "cut" if kind == "truncated" else "go"


async def _send_tokens(ex: Exchange, resp: web.StreamResponse) -> str:
    for i, tok in enumerate(ex.tokens):
        if i == ex.fault_at and (outcome := await _strike(ex, resp)) != "go":
            return outcome
        await sleep_until(ex.start + ex.plan.token_offsets_s[i] + ex.record.stall_ms / 1000)
        await resp.write(ex.wire.token(ex.ctx, i, tok))
        ex.record.sent_offsets_ms.append((time.perf_counter() - ex.start) * 1000.0)
        ex.record.streamed_tokens += 1
    if not ex.tokens:
        await sleep_until(ex.start + ex.plan.ttft_s)
    if ex.fault_at == len(ex.tokens):
        outcome = await _strike(ex, resp)
        return "end_cut" if outcome == "cut" else outcome
    return "go"


async def send_stream(ex: Exchange) -> web.StreamResponse:
    """Stream the reply as SSE, writing (and flushing) each frame on its deadline."""
    resp = web.StreamResponse(status=200, headers=_SSE_HEADERS)
    try:
        await resp.prepare(ex.request)
        for frame in ex.wire.preamble(ex.ctx):
            await resp.write(frame)
        outcome = await _send_tokens(ex, resp)
        if outcome in ("go", "end_cut"):
            for frame in ex.wire.finish(ex.ctx):
                await resp.write(frame)
        if outcome == "go":
            for frame in ex.wire.end_marker(ex.ctx):
                await resp.write(frame)
            ex.record.completed = True
        await resp.write_eof()
    except _Closed:
        abort_connection(ex.request)
        return resp
    except ConnectionResetError:  # aiohttp's ClientConnectionResetError: the client left
        ex.record.client_gone = True
        return resp
    ex.record.end_offset_ms = (time.perf_counter() - ex.start) * 1000.0
    return resp


async def send_complete(ex: Exchange) -> web.StreamResponse:
    """Answer a non-streaming request after the whole reply's generation time."""
    offsets = ex.plan.token_offsets_s
    await sleep_until(ex.start + (offsets[-1] if offsets else ex.plan.ttft_s))
    kind = ex.fault.fault if ex.fault else None
    if kind == "stall":
        ex.record.stall_ms += ex.fault.stall_s * 1000.0 if ex.fault else 0.0
        await asyncio.sleep(ex.record.stall_ms / 1000)
    if kind == "reset" or (kind == "stall" and ex.fault and ex.fault.stall_then == "close"):
        abort_connection(ex.request)
        return web.Response(status=500)
    body = ex.wire.complete(ex.ctx, "".join(ex.tokens))
    if kind == "error_event":
        ex.record.status = 500
        return web.json_response(ex.wire.error_body(500, "internal error"), status=500)
    text = json.dumps(body)
    if kind in ("malformed", "truncated"):
        text = text[: len(text) // 2]
    ex.record.streamed_tokens = len(ex.tokens)
    ex.record.completed = kind is None or kind == "stall"
    return web.Response(text=text, content_type="application/json")
