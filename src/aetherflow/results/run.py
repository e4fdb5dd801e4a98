"""The versioned report model: what ``run.json`` holds. The source of truth for every view.

Times in records are milliseconds; ``*_at_ms`` fields are offsets from the run's start on
the monotonic clock. A metric that could not be measured is ``None`` and, where useful,
carries the reason in a sibling ``*_note`` / ``note`` field: it is never silently 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aetherflow.metrics.timeline import RequestTimeline

__all__ = [
    "PASS_RATE_STATUSES",
    "RUN_FILE",
    "SCHEMA_VERSION",
    "AttemptKind",
    "AttemptRecord",
    "AttemptStatus",
    "CodeQuality",
    "CostBreakdown",
    "Environment",
    "FileCollision",
    "FirstTry",
    "ProjectApply",
    "PromptCacheMode",
    "Provenance",
    "RefusedFile",
    "RunConfig",
    "RunRecord",
    "RunStatus",
    "ServerTiming",
    "SessionRecord",
    "StepRecord",
    "StepStatus",
    "TimingMetrics",
    "TokenCount",
    "Usage",
    "Verdict",
    "VerdictMethod",
    "VerdictStatus",
    "all_attempts",
    "all_steps",
    "run_status_from_steps",
]

#: 2: executed checks decide a step's status (``passed``/``failed``/``unvalidated``/``skipped``);
#: records of version 1 had no check executed, so their "succeeded" reads as ``unvalidated``.
SCHEMA_VERSION = "2"
#: A run directory's record (``run.json``).
RUN_FILE = "run.json"

#: Where a token count came from: the provider's own usage report, a real tokenizer run
#: on the text, a heuristic estimate, or the number of streamed content chunks.
Provenance = Literal["server", "tokenizer", "estimate", "chunk_count"]
AttemptStatus = Literal["ok", "error"]
#: ``passed``: at least one check executed and every executed check passed. ``failed``: a
#: check failed, the request failed or the output was empty. ``unvalidated``: completed with
#: nothing executable (never a success; does not block dependents). ``skipped``: not run.
StepStatus = Literal["passed", "failed", "unvalidated", "skipped"]
#: Statuses in a pass rate's denominator: pass rate = passed / (passed + failed + skipped).
PASS_RATE_STATUSES: tuple[StepStatus, ...] = ("passed", "failed", "skipped")
RunStatus = Literal["running", "passed", "unvalidated", "failed", "interrupted", "crashed"]
#: What an attempt was: the first generation, a repair turn after failed checks, or a review
#: pass (``--workflow prod``).
AttemptKind = Literal["generation", "repair", "review", "judge"]
VerdictStatus = Literal["passed", "failed", "error", "unchecked"]
#: ``executed``: a check ran (in a sandbox or, for parse-only checks, in-process);
#: ``judge``: an LLM judge's opinion on a free-text criterion (never in executed pass rates);
#: ``none``: nothing ran (an unchecked free-text criterion).
VerdictMethod = Literal["executed", "judge", "none"]
FirstTry = Literal["passed", "failed", "unvalidated"]


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
    #: The true cost is at least ``total_usd`` (e.g. a stream cut before its usage arrived:
    #: only the output tokens could be priced).
    lower_bound: bool = False


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


class Verdict(_Model):
    """The outcome of one validation criterion on one attempt's files.

    ``status``: ``passed``/``failed`` (the check ran and decided), ``error`` (the check could
    not run properly, e.g. the checker itself is missing), ``unchecked`` (nothing ran).
    ``reason`` says why a check failed or erred in a few words (``exit code 1``,
    ``timeout after 30 s``, ``memory limit``); ``output_tail`` is the bounded, secret-scrubbed
    tail of what it printed; ``sandbox`` names what ran it.
    """

    criterion: str
    check: str = "text"
    status: VerdictStatus
    method: VerdictMethod = "none"
    reason: str | None = None
    duration_ms: float | None = None
    exit_code: int | None = None
    output_tail: str | None = None
    sandbox: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_v1(cls, data: Any) -> Any:
        """Version-1 records had ``{criterion, status, detail}`` and never ran a check."""
        if isinstance(data, dict) and "detail" in data:
            data = {k: v for k, v in data.items() if k != "detail"} | {"reason": data["detail"]}
        return data


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
    kind: AttemptKind = "generation"
    #: The reply stopped on the output-token limit (finish reason ``length``/``max_tokens``).
    truncated: bool = False
    #: The verdicts of the checks run on this attempt's files (empty if none ran).
    verdicts: list[Verdict] = Field(default_factory=list)
    #: Which session of the run made the attempt (1, then 2 after a ``--resume``, ...).
    session: int = 1


class RefusedFile(_Model):
    """A file the model named that was not written, and why."""

    path: str
    reason: str


class FileCollision(_Model):
    """A file written by two steps that no dependency orders: the later write won."""

    path: str
    overwritten_step: str
    by_step: str


class CodeQuality(_Model):
    """Static quality of the Python files a step produced (see docs/metrics.md).

    ``None`` with ``note`` when not measurable (no Python file, radon missing, ...).
    """

    python_files: int = 0
    lines: int = 0
    ruff_findings: int | None = None
    ruff_findings_per_100_lines: float | None = None
    maintainability_index: float | None = None
    cyclomatic_complexity_mean: float | None = None
    cyclomatic_complexity_max: int | None = None
    note: str | None = None


def _v1_status(data: Any, old: str, new: str) -> Any:
    if isinstance(data, dict) and data.get("status") == old:
        return {**data, "status": new}
    return data


class StepRecord(_Model):
    """Everything measured about one step.

    ``validation`` holds the verdicts on the step's final files; each attempt keeps its own
    in ``AttemptRecord.verdicts``. ``first_try`` is the verdict on the first answered
    generation, before any repair (transport retries of an unanswered request are not tries).
    """

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
    #: Files the step's reply deleted (a unified diff removing them).
    files_deleted: list[str] = Field(default_factory=list)
    #: Files the step modifies whose current content was cut to fit the prompt.
    context_truncated: list[str] = Field(default_factory=list)
    validation: list[Verdict] = Field(default_factory=list)
    first_try: FirstTry | None = None
    repairs: int = 0
    truncated: bool = False
    #: Time spent running checks (all attempts), apart from generation.
    validation_ms: float | None = None
    quality: CodeQuality | None = None
    collisions: list[FileCollision] = Field(default_factory=list)
    #: The LLM judge's requests for this step's free-text criteria (``--judge-provider``):
    #: kept apart from ``attempts`` (they are not the step's work), counted in its cost.
    judge_attempts: list[AttemptRecord] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _from_v1(cls, data: Any) -> Any:
        """Version 1 executed no check: its "succeeded" is ``unvalidated``, never passed."""
        return _v1_status(data, "succeeded", "unvalidated")


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
    repairs: int | None = None
    workflow: str | None = None
    max_cost_usd: float | None = None
    #: The sandbox mode asked for (``auto``/``bwrap``/``process``); each verdict names the
    #: backend that actually ran it.
    sandbox: str | None = None
    #: The sampling seed sent to the provider (None: not sent, the provider's own sampling).
    seed: int | None = None
    #: Service-level objectives the run was judged against (goodput): metric -> limit.
    slos: dict[str, float] = Field(default_factory=dict)
    #: The LLM judge of free-text criteria (``provider/model``), if any.
    judge: str | None = None
    #: The project the run's workspace started as a copy of (``--project``).
    project: str | None = None


class ProjectApply(_Model):
    """What ``--apply`` did with a project run's changes (``aetherflow diff`` shows them).

    ``applied`` False with ``note`` when it refused (a step failed or was skipped, or the
    project changed since the copy); ``unverified`` lists the changed files that no executed
    check verified (written only by unvalidated steps).
    """

    applied: bool
    files: list[str] = Field(default_factory=list)
    unverified: list[str] = Field(default_factory=list)
    diff_file: str | None = None
    note: str | None = None


class SessionRecord(_Model):
    """One process's stretch of a run: the first, then one per ``--resume``.

    ``makespan_ms`` is this session's wall time on its own monotonic clock. ``cpu_ms`` is
    the CPU time (user + system, every thread) AetherFlow's own process used over the same
    stretch: start-up and imports are before it, and the sandboxed checks and the embedded
    model's server are other processes, not in it.
    """

    session: int
    started_at: str
    finished_at: str | None = None
    makespan_ms: float | None = None
    cpu_ms: float | None = None
    pid: int | None = None
    end: Literal["running", "finished", "interrupted", "crashed"] = "running"


def run_status_from_steps(statuses: list[str]) -> RunStatus:
    """A finished run's status: ``passed`` (every step passed), ``unvalidated`` (none failed
    or was skipped, some unvalidated), else ``failed``."""
    if any(s in ("failed", "skipped") for s in statuses):
        return "failed"
    if statuses and all(s == "passed" for s in statuses):
        return "passed"
    return "unvalidated"


class RunRecord(_Model):
    """``run.json``: one run of one plan."""

    schema_version: str = SCHEMA_VERSION
    run_id: str
    task_id: str
    plan_path: str | None = None
    plan_description: str = ""
    status: RunStatus = "running"
    started_at: str
    finished_at: str | None = None
    config: RunConfig
    environment: Environment
    steps: list[StepRecord] = Field(default_factory=list)
    makespan_ms: float | None = None
    critical_path_ms: float | None = None
    critical_path: list[str] = Field(default_factory=list)
    parallel_efficiency: float | None = None
    #: The critical path of the server-reported compute times (None: not reported).
    compute_critical_path_ms: float | None = None
    label: str | None = None
    #: sha256 of the plan file's bytes when the run started (resume refuses a changed plan).
    plan_sha256: str | None = None
    sessions: list[SessionRecord] = Field(default_factory=list)
    #: Warnings for the person reading the run (unused plan keys, file collisions, ...).
    warnings: list[str] = Field(default_factory=list)
    #: What ``--apply`` did (project runs only).
    project_apply: ProjectApply | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_v1(cls, data: Any) -> Any:
        """Version 1 executed no check: a run that "succeeded" is ``unvalidated``."""
        return _v1_status(data, "succeeded", "unvalidated")

    def __repr__(self) -> str:
        # Short on purpose: asyncio formats a finished task's result (this record) when it
        # restores signal handlers, and pydantic's full repr of a 10,000-step run takes
        # seconds only to be truncated.
        return (f"RunRecord(run_id={self.run_id!r}, status={self.status!r}, "
                f"steps={len(self.steps)})")


def all_steps(runs: Sequence[RunRecord]) -> list[StepRecord]:
    """Every step of every run."""
    return [s for r in runs for s in r.steps]


def all_attempts(steps: Iterable[StepRecord]) -> list[AttemptRecord]:
    """Every attempt of the given steps."""
    return [a for s in steps for a in s.attempts]
