"""One timed request attempt: stream, stamp, count tokens, price, record."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from aetherflow.errors import ProviderError, ProviderStreamError, ProviderTimeoutError
from aetherflow.execution.observer import RunObserver
from aetherflow.metrics.timeline import RequestTimeline, now_ns
from aetherflow.providers.base import (
    ChatRequest,
    ErrorEvent,
    Finish,
    Provider,
    TextDelta,
    UsageReport,
)
from aetherflow.results.run import (
    AttemptKind,
    AttemptRecord,
    CostBreakdown,
    ServerTiming,
    TimingMetrics,
    TokenCount,
    Usage,
)

__all__ = ["TRUNCATION_REASONS", "AttemptOutcome", "Pricer", "TextSink", "fill_missing_usage",
           "run_attempt"]

#: Prices one attempt: (provider name, model, usage) -> cost with its source.
Pricer = Callable[[str, str, Usage], CostBreakdown]
#: Receives streamed text in bounded batches while an attempt is in flight (the journal).
TextSink = Callable[[str], None]
#: Finish reasons meaning "stopped on the output-token limit" (OpenAI-style, Anthropic,
#: Gemini).
TRUNCATION_REASONS = frozenset({"length", "max_tokens", "MAX_TOKENS"})
#: A batch of streamed text goes to the journal once it holds this many characters, or
#: :data:`_BATCH_NS` after the batch's first chunk, whichever comes first.
_BATCH_CHARS = 4096
_BATCH_NS = 500_000_000


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
    sink: TextSink | None = None
    pending: int = 0  # index in ``parts`` of the first chunk not yet given to ``sink``
    pending_chars: int = 0
    batch_started: int = 0

    def add(self, text: str, at: int) -> None:
        self.parts.append(text)
        if self.sink is None:
            return
        if self.pending == len(self.parts) - 1:
            self.batch_started = at
        self.pending_chars += len(text)
        if self.pending_chars >= _BATCH_CHARS or at - self.batch_started >= _BATCH_NS:
            self.flush()

    def flush(self) -> None:
        if self.sink is not None and self.pending < len(self.parts):
            batch = "".join(self.parts[self.pending:])
            self.pending, self.pending_chars = len(self.parts), 0
            self.sink(batch)


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
                    at = now_ns()
                    tl.mark_token(at)
                    out.add(ev.text, at)
                    observer.on_token(step_id, ev.text)
            elif isinstance(ev, UsageReport):
                out.usage = ev.usage
            elif isinstance(ev, Finish):
                out.finish = ev.reason
            elif isinstance(ev, ErrorEvent):
                raise ProviderStreamError(f"{provider.name} stream error: {ev.message}",
                                          kind=ev.kind, partial_text="".join(out.parts))


def _unanswered(error: ProviderError | None, text: str, usage: Usage | None) -> bool:
    """A request the provider never answered (refused, 429, 5xx before any content)."""
    return error is not None and not text and usage is None


def _never_billed(provider: str) -> CostBreakdown:
    return CostBreakdown(total_usd=0.0, input_usd=0.0, cache_read_usd=0.0, cache_write_usd=0.0,
                         output_usd=0.0, price_source=f"{provider}: not billed",
                         note="the request was never answered (no content, no usage): "
                              "providers do not bill it")


def _interrupted(provider: Provider, tl: RequestTimeline, out: _Collected, attempt_no: int,
                 origin_ns: int, kind: AttemptKind, session: int,
                 pricer: Pricer) -> AttemptOutcome:
    """The record of an attempt cut by an interruption, from what had arrived."""
    text = "".join(out.parts)
    usage = fill_missing_usage(out.usage, len(tl.chunk_times))
    cost = (_never_billed(provider.name) if not text and out.usage is None
            else pricer(provider.name, provider.model, usage))
    record = AttemptRecord(
        attempt=attempt_no, provider=provider.name, model=provider.model,
        emulated=provider.emulated, status="error", error_kind="interrupted",
        error_message="the run was interrupted while this attempt was in flight",
        finish_reason=out.finish, started_at_ms=((tl.queued or origin_ns) - origin_ns) / 1e6,
        timeline_ms=tl.offsets_ms(origin_ns),
        timing=TimingMetrics.from_timeline(tl, usage.output.value), usage=usage, cost=cost,
        output_chars=len(text), kind=kind, session=session,
        server_timing=ServerTiming.unknown("the attempt was interrupted"),
    )
    return AttemptOutcome(record=record, text=text,
                          error=ProviderStreamError("interrupted", kind="interrupted"))


async def run_attempt(
    provider: Provider, request: ChatRequest, *, attempt_no: int, step_id: str,
    origin_ns: int, gate: asyncio.Semaphore, observer: RunObserver, pricer: Pricer,
    timeout_s: float, queued_ns: int | None = None, kind: AttemptKind = "generation",
    session: int = 1, text_sink: TextSink | None = None,
    on_interrupted: Callable[[AttemptOutcome], None] | None = None,
) -> AttemptOutcome:
    """Run one attempt under the concurrency ``gate`` and within ``timeout_s``.

    Provider errors and timeouts become data on the record. ``queued_ns`` is when the
    attempt started waiting (default: now), so a wait before the call counts as queue
    latency. Streamed text goes to ``text_sink`` in bounded batches. On cancellation the
    batch in progress is flushed to it, and ``on_interrupted`` gets the attempt as far as it
    went (status ``error``, kind ``interrupted``), before the cancellation propagates.
    """
    tl = RequestTimeline(queued=queued_ns or now_ns())
    out = _Collected(parts=[], sink=text_sink)
    error: ProviderError | None = None
    try:
        async with gate:
            tl.dispatched = now_ns()
            observer.on_step_start(step_id, attempt_no, provider.name)
            try:
                async with asyncio.timeout(timeout_s):
                    await _consume(provider, request, tl, step_id, observer, out)
            except ProviderError as exc:
                error = exc
            except TimeoutError:
                error = ProviderTimeoutError(
                    f"attempt exceeded the step budget ({timeout_s:.1f}s)")
            finally:
                tl.closed = now_ns()
    except asyncio.CancelledError:
        out.flush()
        if on_interrupted is not None:
            tl.closed = tl.closed or now_ns()
            on_interrupted(_interrupted(provider, tl, out, attempt_no, origin_ns, kind,
                                        session, pricer))
        raise
    text = "".join(out.parts)
    reported = out.usage
    usage = reported or await provider.count_tokens(request, text)
    usage = fill_missing_usage(usage, len(tl.chunk_times))
    server_timing = await provider.server_timing(request)
    cost = (_never_billed(provider.name) if _unanswered(error, text, reported)
            else pricer(provider.name, provider.model, usage))
    record = AttemptRecord(
        attempt=attempt_no, provider=provider.name, model=provider.model,
        emulated=provider.emulated, status="error" if error else "ok",
        error_kind=error.kind if error else None,
        error_message=str(error) if error else None,
        finish_reason=out.finish, started_at_ms=((tl.queued or origin_ns) - origin_ns) / 1e6,
        timeline_ms=tl.offsets_ms(origin_ns),
        timing=TimingMetrics.from_timeline(tl, usage.output.value),
        usage=usage, cost=cost, output_chars=len(text), server_timing=server_timing,
        kind=kind, truncated=out.finish in TRUNCATION_REASONS, session=session,
    )
    return AttemptOutcome(record=record, text=text, error=error)
