"""The versioned report model: what ``run.json`` holds. The source of truth for every view.

Times in records are milliseconds; ``*_at_ms`` fields are offsets from the run's start on
the monotonic clock. A metric that could not be measured is ``None`` and, where useful,
carries the reason in a sibling ``*_note`` / ``note`` field: it is never silently 0.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aetherflow.metrics.timeline import RequestTimeline

__all__ = [
    "SCHEMA_VERSION",
    "AttemptRecord",
    "AttemptStatus",
    "CostBreakdown",
    "CriterionResult",
    "Environment",
    "PromptCacheMode",
    "Provenance",
    "RefusedFile",
    "RunConfig",
    "RunRecord",
    "ServerTiming",
    "StepRecord",
    "StepStatus",
    "TimingMetrics",
    "TokenCount",
    "Usage",
]

SCHEMA_VERSION = "1"

#: Where a token count came from: the provider's own usage report, a real tokenizer run
#: on the text, a heuristic estimate, or the number of streamed content chunks.
Provenance = Literal["server", "tokenizer", "estimate", "chunk_count"]
AttemptStatus = Literal["ok", "error"]
StepStatus = Literal["succeeded", "failed", "skipped"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenCount(_Model):
    """A token count with its provenance; ``value`` None means not measured (see ``note``)."""

    value: int | None = None
    provenance: Provenance | None = None
    note: str | None = None

    @classmethod
    def unknown(cls, note: str) -> TokenCount:
        """A count that could not be measured, with the reason."""
        return cls(value=None, provenance=None, note=note)


class Usage(_Model):
    """Normalised token usage of one attempt.

    ``input`` counts *all* prompt tokens, including cache reads and cache writes, whatever
    the provider's own convention; ``uncached_input`` = input - cache_read - cache_write.
    """

    input: TokenCount = Field(default_factory=lambda: TokenCount.unknown("not reported"))
    output: TokenCount = Field(default_factory=lambda: TokenCount.unknown("not reported"))
    cache_read: TokenCount = Field(default_factory=lambda: TokenCount.unknown("not reported"))
    cache_write: TokenCount = Field(default_factory=lambda: TokenCount.unknown("not reported"))

    @property
    def uncached_input(self) -> int | None:
        """Input tokens billed at the full input price (None if input is unknown)."""
        if self.input.value is None:
            return None
        return self.input.value - (self.cache_read.value or 0) - (self.cache_write.value or 0)


class CostBreakdown(_Model):
    """Cost of one attempt in USD with where the prices came from.

    ``total_usd`` None means it could not be priced (``note`` says why).
    """

    total_usd: float | None = None
    input_usd: float | None = None
    cache_read_usd: float | None = None
    cache_write_usd: float | None = None
    output_usd: float | None = None
    price_source: str | None = None
    price_date: str | None = None
    note: str | None = None


class TimingMetrics(_Model):
    """Metrics derived from one attempt's :class:`RequestTimeline` (see docs/metrics.md)."""

    queue_latency_ms: float | None = None
    dns_ms: float | None = None
    network_overhead_ms: float | None = None
    connection_reused: bool | None = None
    server_think_ms: float | None = None
    ttft_ms: float | None = None
    ttr_ms: float | None = None
    tpot_ms: float | None = None
    itl_ms: list[float] = Field(default_factory=list)
    content_chunks: int = 0

    @classmethod
    def from_timeline(cls, tl: RequestTimeline, output_tokens: int | None) -> TimingMetrics:
        """Derive every metric from the stamps; unmeasurable ones stay None."""
        return cls(
            queue_latency_ms=tl.queue_latency_ms,
            dns_ms=tl.dns_ms,
            network_overhead_ms=tl.network_overhead_ms,
            connection_reused=tl.connection_reused,
            server_think_ms=tl.server_think_ms,
            ttft_ms=tl.ttft_ms,
            ttr_ms=tl.ttr_ms,
            tpot_ms=tl.tpot_ms(output_tokens),
            itl_ms=tl.itl_ms,
            content_chunks=len(tl.chunk_times),
        )


class ServerTiming(_Model):
    """The server's own account of one request's model compute (see docs/metrics.md).

    ``compute_ms`` is all the time the server's model spent on the request. ``prefill_ms``
    is the part spent evaluating the ``prefill_tokens`` prompt tokens it did not reuse from
    its cache; ``decode_ms`` the part spent on ``decode_runs`` one-token decode steps, and
    ``decode_ms_per_token`` their ratio. ``source`` says where the figures were read; a
    figure the server does not report, or reports with another meaning, is ``None`` and
    ``note`` gives the reason.
    """

    compute_ms: float | None = None
    prefill_ms: float | None = None
    prefill_tokens: int | None = None
    decode_ms: float | None = None
    decode_runs: int | None = None
    decode_ms_per_token: float | None = None
    source: str | None = None
    note: str | None = None

    @classmethod
    def unknown(cls, note: str) -> ServerTiming:
        """No server-side figures, with the reason."""
        return cls(note=note)


class AttemptRecord(_Model):
    """One request attempt of a step: what was asked of whom, what came back, how fast."""

    attempt: int = Field(ge=1)
    provider: str
    model: str
    emulated: bool = False
    status: AttemptStatus
    error_kind: str | None = None
    error_message: str | None = None
    finish_reason: str | None = None
    started_at_ms: float
    timeline_ms: dict[str, float | None] = Field(default_factory=dict)
    timing: TimingMetrics = Field(default_factory=TimingMetrics)
    usage: Usage = Field(default_factory=Usage)
    cost: CostBreakdown = Field(default_factory=CostBreakdown)
    output_chars: int = 0
    server_timing: ServerTiming = Field(
        default_factory=lambda: ServerTiming.unknown("not recorded (written before AetherFlow "
                                                     "read server-side timings)"))


class RefusedFile(_Model):
    """A file the model named that was not written, and why."""

    path: str
    reason: str


class CriterionResult(_Model):
    """Outcome of one validation criterion."""

    criterion: str
    status: Literal["passed", "failed", "unchecked", "error"]
    detail: str | None = None


class StepRecord(_Model):
    """Everything measured about one step."""

    step_id: str
    type: str
    status: StepStatus
    reason: str | None = None
    provider: str | None = None
    model: str | None = None
    dependencies: list[str] = Field(default_factory=list)
    ready_at_ms: float | None = None
    finished_at_ms: float | None = None
    step_time_ms: float | None = None
    service_time_ms: float | None = None
    ttft_ms: float | None = None
    ttr_ms: float | None = None
    attempts: list[AttemptRecord] = Field(default_factory=list)
    output_file: str | None = None
    files_written: list[str] = Field(default_factory=list)
    files_refused: list[RefusedFile] = Field(default_factory=list)
    validation: list[CriterionResult] = Field(default_factory=list)


class Environment(_Model):
    """Where and with what the run happened."""

    hostname: str
    platform: str
    machine: str
    cpu_count: int | None
    python: str
    aetherflow_version: str
    packages: dict[str, str] = Field(default_factory=dict)


#: How a run treats provider prompt caches: provider default, used, or defeated.
PromptCacheMode = Literal["default", "on", "off"]


class RunConfig(_Model):
    """The settings a run used (never secrets)."""

    provider: str
    model: str | None = None
    base_url: str | None = None
    concurrency: int
    max_tokens: int
    temperature: float
    step_timeout_s: float
    max_attempts: int
    emulated: bool = False
    #: ``default``, ``on`` (provider prompt caching used) or ``off`` (defeated by a nonce).
    prompt_cache: PromptCacheMode = "default"
    #: Provider options the run set (e.g. llama.cpp ``server_args``); never secrets.
    provider_options: dict[str, Any] = Field(default_factory=dict)


class RunRecord(_Model):
    """``run.json``: one run of one plan."""

    schema_version: str = SCHEMA_VERSION
    run_id: str
    task_id: str
    plan_path: str | None = None
    plan_description: str = ""
    status: Literal["running", "succeeded", "failed", "interrupted"] = "running"
    started_at: str
    finished_at: str | None = None
    config: RunConfig
    environment: Environment
    steps: list[StepRecord] = Field(default_factory=list)
    makespan_ms: float | None = None
    critical_path_ms: float | None = None
    critical_path: list[str] = Field(default_factory=list)
    parallel_efficiency: float | None = None
    label: str | None = None
