"""``benchmark_data.json``: the versioned report model of one bench (the source of truth).

Every Markdown, PNG, HTML and terminal view is rendered from a :class:`BenchmarkData`
alone. It holds the bench's metadata, *every* run record (warm-up runs included and
marked), and the aggregates computed from the measured (non-warm-up) runs. A figure that
could not be measured is ``None`` with a ``note``; it is never 0.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from aetherflow.metrics.stats import Distribution
from aetherflow.results.run import Environment, RunRecord

__all__ = [
    "BENCH_DATA_FILE",
    "BENCH_SCHEMA_VERSION",
    "Aggregates",
    "BenchMeta",
    "BenchRun",
    "BenchmarkData",
    "CacheSection",
    "CheckKindStats",
    "CodeQualitySummary",
    "CostSummary",
    "GlobalFigures",
    "Goodput",
    "GroupStats",
    "LatencyTable",
    "MachineLoad",
    "PassAtK",
    "PlanStructure",
    "QualitySection",
    "Thresholds",
    "Throughput",
    "TokenTotal",
]

#: 2: pass rates from executed checks (v1 counted a completed request as a success; a v1
#: file is re-aggregated from its runs on load, its steps reading as unvalidated).
BENCH_SCHEMA_VERSION = "2"
BENCH_DATA_FILE = "benchmark_data.json"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Thresholds(_Model):
    """The limits the analysis answers judge against (stored so a re-render judges alike)."""

    ttft_p50_ms: float = 2000.0
    ttft_p95_ms: float = 5000.0
    tpot_p50_ms: float = 100.0
    pass_rate: float = 1.0
    cost_per_passed_plan_usd: float = 0.50
    failed_attempt_cost_share: float = 0.20
    parallel_efficiency: float = 0.80
    queue_share_of_ttr: float = 0.10
    attempts_per_step: float = 1.2
    length_stop_share: float = 0.20
    prefill_share_of_ttft: float = 0.50


class MachineLoad(_Model):
    """How busy the machine was while the bench ran (these VMs vary up to 10x with load).

    ``load_*``: the 1-minute load average at the start and the end; ``cpu_steal_share``:
    the share of CPU time the hypervisor took (``/proc/stat`` steal) over the bench;
    ``busy``: load per CPU above 0.7, or steal above 5 %; ``warning`` says what to do.
    """

    cpu_count: int | None = None
    load_start: float | None = None
    load_end: float | None = None
    load_max: float | None = None
    cpu_steal_share: float | None = None
    busy: bool = False
    warning: str | None = None
    note: str | None = None


class BenchMeta(_Model):
    """What was benchmarked, how, and where."""

    plan: str
    task_id: str
    label: str | None = None
    repeats: int
    warmup: int
    overlay: dict[str, str] = Field(default_factory=dict)
    provider: str
    model: str | None = None
    emulated: bool = False
    bench_id: int | None = None
    server_mode: str = ""
    started_at: str
    finished_at: str | None = None
    environment: Environment | None = None
    machine_load: MachineLoad | None = None
    #: Service-level objectives of the goodput figures: metric -> limit (docs/metrics.md).
    slos: dict[str, float] = Field(default_factory=dict)
    #: The SLOs are the defaults (``Thresholds``), not ones the user gave with ``--slo``.
    slos_default: bool = True


class BenchRun(_Model):
    """One run of the bench: its index, whether it was a warm-up, and its full record."""

    index: int
    warmup: bool = False
    run_dir: str | None = None
    history_id: int | None = None
    record: RunRecord
    #: The embedded server had served an earlier run of this bench (None: not embedded).
    server_reused: bool | None = None
    server_runs_served: int | None = None
    #: Seconds to start the embedded server for this run (None when reused or not embedded).
    server_startup_s: float | None = None


class TokenTotal(_Model):
    """A token total over attempts, with the provenances it came from."""

    total: int | None = None
    measured: int = 0
    missing: int = 0
    provenance: list[str] = Field(default_factory=list)
    note: str | None = None


class CostSummary(_Model):
    """Cost figures in USD; None with a note when some attempt was not priced.

    ``failed_attempts_usd``: attempts that did not deliver a passed step's final answer
    (errors, answers whose checks failed, every attempt of a failed step);
    ``repairs_usd``: the repair turns; ``per_passed_step_usd``/``per_passed_plan_usd``:
    the total over passed steps/plans (n/a when none passed).
    """

    total_usd: float | None = None
    per_passed_plan_usd: float | None = None
    per_passed_step_usd: float | None = None
    failed_attempts_usd: float | None = None
    repairs_usd: float | None = None
    #: The LLM judge's requests (``--judge-provider``), included in ``total_usd``.
    judge_usd: float | None = None
    price_sources: list[str] = Field(default_factory=list)
    note: str | None = None


class GlobalFigures(_Model):
    """Headline numbers over the measured runs; failed plans stay in every total.

    Pass rate = passed / (passed + failed + skipped); unvalidated steps (nothing
    checkable) are counted apart and never as a success. First-try pass rate = steps whose
    first answered generation passed every executed check, over the same denominator.
    """

    runs: int
    plans_passed: int
    plans_unvalidated: int = 0
    plan_pass_rate: float | None
    steps: int
    steps_passed: int
    steps_failed: int
    steps_unvalidated: int = 0
    steps_skipped: int
    pass_rate: float | None
    first_try_pass_rate: float | None = None
    attempts: int
    attempts_failed: int
    attempts_per_step: float | None
    truncated_attempts: int = 0
    answered_attempts: int = 0
    truncation_rate: float | None = None
    makespan_ms: Distribution
    cost: CostSummary
    tokens_input: TokenTotal
    tokens_output: TokenTotal


def _not_recorded() -> Distribution:
    return Distribution(n=0, note="not in this data (recorded before server-side timings "
                                  "were read)")


class LatencyTable(_Model):
    """Latency distributions of one population (definitions in docs/metrics.md).

    Client-measured: TTFT, TTR, TPOT, queue latency, network overhead. Server-reported
    (only where the server reports them, e.g. the embedded llama.cpp server): prefill time,
    decode time per token, and TTFT outside prefill (client TTFT minus server prefill).
    """

    population: str
    ttft_ms: Distribution
    ttr_ms: Distribution
    tpot_ms: Distribution
    queue_latency_ms: Distribution
    network_overhead_ms: Distribution
    server_prefill_ms: Distribution = Field(default_factory=_not_recorded)
    server_decode_ms_per_token: Distribution = Field(default_factory=_not_recorded)
    ttft_outside_prefill_ms: Distribution = Field(default_factory=_not_recorded)
    #: Inter-token latency: every gap between content chunks, pooled over attempts (vLLM's
    #: definition). Not TPOT: a chunk may hold several tokens.
    itl_ms: Distribution = Field(default_factory=lambda: Distribution(
        n=0, note="not in this data (recorded before AetherFlow pooled ITL)"))
    #: Where the output token counts behind TPOT came from (``server``, ``tokenizer``,
    #: ``chunk_count``: then TPOT is per chunk, not per token).
    tpot_provenance: list[str] = Field(default_factory=list)

    def rows(self, *, hide_unmeasured_server: bool = False) -> list[tuple[str, str, Distribution]]:
        """``(label, unit, distribution)`` for every metric, in report order.

        ``hide_unmeasured_server`` drops the server-reported rows nobody reported (for
        compact views; the Markdown and HTML reports show them as n/a with the reason).
        """
        client = [
            ("TTFT", "ms", self.ttft_ms), ("TTR", "ms", self.ttr_ms),
            ("TPOT", "ms/token, not ITL", self.tpot_ms),
            ("ITL", "ms, gaps between chunks, not TPOT", self.itl_ms),
            ("queue latency", "ms", self.queue_latency_ms),
            ("network overhead", "ms", self.network_overhead_ms),
        ]
        server = [
            ("server prefill", "ms", self.server_prefill_ms),
            ("server decode", "ms/token", self.server_decode_ms_per_token),
            ("TTFT outside prefill", "ms", self.ttft_outside_prefill_ms),
        ]
        return client + [r for r in server if r[2].n or not hide_unmeasured_server]


class Throughput(_Model):
    """Throughput per run: output tokens / makespan and requests (attempts) / makespan."""

    output_tokens_per_s: Distribution
    requests_per_s: Distribution
    note: str | None = None


class Goodput(_Model):
    """Share of steps within every SLO (a failed or skipped step never is); per SLO too."""

    slos: dict[str, float] = Field(default_factory=dict)
    steps: int = 0
    within: int = 0
    goodput: float | None = None
    per_slo: dict[str, float | None] = Field(default_factory=dict)
    note: str | None = None


class GroupStats(_Model):
    """Figures of one group of steps/attempts (a provider, a task type or a step id)."""

    key: str
    steps: int
    steps_passed: int
    steps_failed: int = 0
    steps_unvalidated: int = 0
    steps_skipped: int = 0
    pass_rate: float | None
    first_try_pass_rate: float | None = None
    attempts: int
    attempts_failed: int
    step_time_ms: Distribution
    latency: LatencyTable
    tokens_output: TokenTotal
    cost_usd: float | None
    cost_note: str | None = None
    output_tokens_per_s: float | None = None


class PlanStructure(_Model):
    """Schedule figures over runs: makespan, critical path, parallel efficiency.

    ``compute_critical_path_ms``: the critical path of the server-reported compute times
    (where the server reports them): with a single-slot server, waiting inside the server
    counts as service time, so the service-time critical path (and efficiency near 1.0)
    hides steps that waited for each other; ``compute_gap_runs`` counts runs where the two
    differ by more than half.
    """

    makespan_ms: Distribution
    critical_path_ms: Distribution
    parallel_efficiency: Distribution
    critical_path: list[str] = Field(default_factory=list)
    compute_critical_path_ms: Distribution = Field(default_factory=_not_recorded)
    compute_parallel_efficiency: Distribution = Field(default_factory=_not_recorded)
    compute_gap_runs: int = 0


class CacheSection(_Model):
    """Provider prompt-cache figures, or n/a with the reason taken from the data."""

    status: Literal["measured", "n/a"]
    reason: str | None = None
    cache_read_tokens: int | None = None
    input_tokens: int | None = None
    token_hit_rate: float | None = None
    request_hit_rate: float | None = None
    cache_setting: str | None = None


class CheckKindStats(_Model):
    """Verdicts of one check kind (``pytest``, ``ruff``, ...) over every attempt checked."""

    check: str
    executed: int
    passed: int
    failed: int
    error: int
    pass_rate: float | None


class PassAtK(_Model):
    """pass@k over the bench's repeats (Chen et al. 2021, unbiased estimator), from each
    repeat's first try; ``None`` with the reason when the repeats cannot differ."""

    k: int
    value: float | None = None
    steps: int = 0
    note: str | None = None


class CodeQualitySummary(_Model):
    """Static quality of the Python files the steps produced (docs/metrics.md)."""

    steps: int = 0
    python_files: int = 0
    lines: int = 0
    ruff_findings_per_100_lines: float | None = None
    maintainability_index_mean: float | None = None
    cyclomatic_complexity_mean: float | None = None
    cyclomatic_complexity_max: int | None = None
    note: str | None = None


class QualitySection(_Model):
    """What the executed checks say, or n/a with the reason when nothing was checkable."""

    status: Literal["measured", "n/a"]
    reason: str | None = None
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    unvalidated: int = 0
    pass_rate: float | None = None
    first_try_pass_rate: float | None = None
    first_try_passed: int = 0
    by_check: list[CheckKindStats] = Field(default_factory=list)
    judged_passed: int = 0
    judged_failed: int = 0
    unchecked_criteria: int = 0
    repairs: int = 0
    repairs_per_passed_step: float | None = None
    validation_ms: Distribution = Field(default_factory=lambda: Distribution(n=0))
    pass_at_k: list[PassAtK] = Field(default_factory=list)
    code: CodeQualitySummary = Field(default_factory=CodeQualitySummary)
    sandboxes: list[str] = Field(default_factory=list)


class Aggregates(_Model):
    """Everything computed from the measured runs' records."""

    global_figures: GlobalFigures
    throughput: Throughput | None = None
    goodput: Goodput | None = None
    latency_all: LatencyTable
    latency_successful: LatencyTable
    per_provider: list[GroupStats]
    per_task_type: list[GroupStats]
    per_step: list[GroupStats]
    plan_structure: PlanStructure
    cache: CacheSection
    quality: QualitySection


class BenchmarkData(_Model):
    """``benchmark_data.json``."""

    schema_version: str = BENCH_SCHEMA_VERSION
    kind: Literal["bench"] = "bench"
    meta: BenchMeta
    thresholds: Thresholds = Field(default_factory=Thresholds)
    runs: list[BenchRun]
    aggregates: Aggregates

    def measured_runs(self) -> list[RunRecord]:
        """The records that count in statistics (warm-ups excluded)."""
        return [r.record for r in self.runs if not r.warmup]
