"""One timed request attempt: stream, stamp, count tokens, price, record."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from aetherflow.errors import ProviderError, ProviderStreamError, ProviderTimeoutError
from aetherflow.execution.observer import RunObserver
from aetherflow.metrics.records import (
    AttemptRecord,
    CostBreakdown,
    TimingMetrics,
    TokenCount,
    Usage,
)
from aetherflow.metrics.timeline import RequestTimeline, now_ns
from aetherflow.providers.base import (
    ChatRequest,
    ErrorEvent,
    Finish,
    Provider,
    TextDelta,
    UsageReport,
)

__all__ = ["AttemptOutcome", "Pricer", "fill_missing_usage", "run_attempt"]

#: Prices one attempt: (provider name, model, usage) -> cost with its source.
Pricer = Callable[[str, str, Usage], CostBreakdown]


@dataclass
class AttemptOutcome:
    """The record of one attempt, its text (possibly partial) and its error, if any."""

    record: AttemptRecord
    text: str
    error: ProviderError | None


@dataclass
class _Collected:
    parts: list[str]
    usage: Usage | None = None
    finish: str | None = None


def fill_missing_usage(usage: Usage | None, chunks: int) -> Usage:
    """Complete ``usage`` honestly: an unknown output count falls back to the chunk count
    (provenance ``chunk_count``); an unknown input count stays unknown with the reason."""
    usage = usage or Usage(
        input=TokenCount.unknown("provider reported no usage and has no tokenizer"),
        cache_read=TokenCount.unknown("provider reported no usage"),
        cache_write=TokenCount.unknown("provider reported no usage"),
    )
    if usage.output.value is None:
        usage = usage.model_copy(update={"output": TokenCount(
            value=chunks, provenance="chunk_count",
            note="no server usage or tokenizer: one token per streamed content chunk assumed",
        )})
    return usage


async def _consume(provider: Provider, request: ChatRequest, tl: RequestTimeline,
                   step_id: str, observer: RunObserver, out: _Collected) -> None:
    gen = provider.stream(request, tl)
    async with contextlib.aclosing(gen):  # type: ignore[type-var]
        async for ev in gen:
            if isinstance(ev, TextDelta):
                if ev.text:
                    tl.mark_token()
                    out.parts.append(ev.text)
                    observer.on_token(step_id, ev.text)
            elif isinstance(ev, UsageReport):
                out.usage = ev.usage
            elif isinstance(ev, Finish):
                out.finish = ev.reason
            elif isinstance(ev, ErrorEvent):
                raise ProviderStreamError(f"{provider.name} stream error: {ev.message}",
                                          kind=ev.kind, partial_text="".join(out.parts))


async def run_attempt(
    provider: Provider, request: ChatRequest, *, attempt_no: int, step_id: str,
    origin_ns: int, gate: asyncio.Semaphore, observer: RunObserver, pricer: Pricer,
    timeout_s: float,
) -> AttemptOutcome:
    """Run one attempt under the concurrency ``gate`` and within ``timeout_s``.

    Provider errors and timeouts become data on the record; cancellation propagates.
    """
    tl = RequestTimeline(queued=now_ns())
    out = _Collected(parts=[])
    error: ProviderError | None = None
    async with gate:
        tl.dispatched = now_ns()
        observer.on_step_start(step_id, attempt_no, provider.name)
        try:
            async with asyncio.timeout(timeout_s):
                await _consume(provider, request, tl, step_id, observer, out)
        except ProviderError as exc:
            error = exc
        except TimeoutError:
            error = ProviderTimeoutError(f"attempt exceeded the step budget ({timeout_s:.1f}s)")
        finally:
            tl.closed = now_ns()
    text = "".join(out.parts)
    usage = out.usage or await provider.count_tokens(request, text)
    usage = fill_missing_usage(usage, len(tl.chunk_times))
    server_timing = await provider.server_timing(request)
    record = AttemptRecord(
        attempt=attempt_no, provider=provider.name, model=provider.model,
        emulated=provider.emulated, status="error" if error else "ok",
        error_kind=error.kind if error else None,
        error_message=str(error) if error else None,
        finish_reason=out.finish, started_at_ms=((tl.queued or origin_ns) - origin_ns) / 1e6,
        timeline_ms=tl.offsets_ms(origin_ns),
        timing=TimingMetrics.from_timeline(tl, usage.output.value),
        usage=usage, cost=pricer(provider.name, provider.model, usage),
        output_chars=len(text), server_timing=server_timing,
    )
    return AttemptOutcome(record=record, text=text, error=error)
