"""Compare two benches metric by metric, with confidence intervals, and ``--fail-if`` gates.

Differences are ``B - A`` (A is the baseline). Runs are the units of resampling (a run's
attempts are not independent of each other): every sample metric gets a cluster-bootstrap
interval, paired by step when both benches ran the same step ids; rates fall back to
Newcombe's interval where the trials are independent (plan pass rate over runs; one run on a
side). The estimators are published in ``docs/statistics.md``. ``comparison_data.json`` is
the source of truth of ``comparison_report.md``.

``--fail-if`` grammar: ``METRIC OP NUMBER[%]`` with OP ``>`` or ``<`` and a signed number.
With ``%`` the rule tests the relative difference ``(B - A) / A``; without, the absolute
difference ``B - A`` in the metric's unit (rates in fractions: ``-0.05`` is 5 points). In
the default mode ``significant`` a rule triggers when the point estimate is beyond the
threshold *and* the change is significant (its CI excludes 0); in mode ``point`` the point
estimate alone decides. A rule whose value or significance cannot be computed triggers
when it can: a gate never passes on missing data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from aetherflow.errors import ConfigError
from aetherflow.metrics.stats import (
    MIN_RUNS_PER_SIDE,
    DiffEstimate,
    Observation,
    cluster_bootstrap_diff_ci,
    proportion_diff_ci,
)
from aetherflow.results.bench import BenchmarkData
from aetherflow.results.comparison import (
    COMPARISON_SCHEMA_VERSION,
    FAIL_IF_MODES,
    BenchRef,
    Better,
    ComparisonData,
    FailIfMode,
    FailResult,
    MetricComparison,
)
from aetherflow.results.run import (
    PASS_RATE_STATUSES,
    AttemptRecord,
    RunRecord,
    StepRecord,
)

__all__ = [
    "COMPARISON_SCHEMA_VERSION",
    "FAIL_IF_MODES",
    "METRICS",
    "REMOVED_METRICS",
    "BenchRef",
    "ComparisonData",
    "FailIfMode",
    "FailResult",
    "FailRule",
    "MetricComparison",
    "MetricSpec",
    "compare_benches",
    "default_comparison_dir",
    "evaluate_rules",
    "parse_fail_if",
]

#: What a metric's values are: drives formatting in views (``rate``/``share`` are fractions).
Unit = Literal["ms", "ms/token", "tokens", "usd", "rate", "share", "ratio", "count"]
Level = Literal["attempt", "step", "run"]


@dataclass(frozen=True)
class _RunView:
    """One run's steps and attempts within a scope."""

    run: RunRecord
    steps: list[StepRecord]
    #: ``(step id, attempt)`` of every attempt in scope.
    attempts: list[tuple[str, AttemptRecord]]


@dataclass(frozen=True)
class MetricSpec:
    """How one metric is measured and compared.

    ``value`` maps an attempt, step or run (``level``) to its value (None: not measured, or
    outside the metric's denominator). ``count`` (ratio metrics) is what the observation adds
    to the denominator: the statistic is ``sum(value) / sum(count)``. ``rate`` metrics have
    0/1 values. ``pairable`` metrics are paired by step when the design is paired.
    """

    description: str
    unit: Unit
    better: Better | None
    level: Level
    stat: Literal["mean", "median"]
    value: Callable[..., float | None]
    count: Callable[..., float] | None = None
    rate: bool = False
    grouped: bool = True
    pairable: bool = True


def _timing(name: str) -> Callable[[AttemptRecord], float | None]:
    return lambda a: getattr(a.timing, name)


def _step_cost(s: StepRecord) -> float | None:
    costs = [a.cost.total_usd for a in s.attempts]
    return None if any(c is None for c in costs) else sum(c or 0.0 for c in costs)


def _run_cost(run: RunRecord) -> float | None:
    costs = [_step_cost(s) for s in run.steps]
    return None if any(c is None for c in costs) else sum(c or 0.0 for c in costs)


def _cached_share(a: AttemptRecord) -> float | None:
    read, total = a.usage.cache_read.value, a.usage.input.value
    return None if read is None or not total else read / total


def _in_pass_rate(s: StepRecord) -> bool:
    return s.status in PASS_RATE_STATUSES


def _passed(s: StepRecord) -> float:
    return 1.0 if s.status == "passed" else 0.0


def _truncated(a: AttemptRecord) -> float | None:
    return (1.0 if a.truncated else 0.0) if a.status == "ok" else None


def _attempt(desc: str, unit: Unit, better: Better | None, stat: Literal["mean", "median"],
             value: Callable[[AttemptRecord], float | None], rate: bool = False) -> MetricSpec:
    return MetricSpec(desc, unit, better, "attempt", stat, value, rate=rate)


def _step(desc: str, unit: Unit, better: Better | None, stat: Literal["mean", "median"],
          value: Callable[[StepRecord], float | None], rate: bool = False,
          count: Callable[[StepRecord], float] | None = None) -> MetricSpec:
    return MetricSpec(desc, unit, better, "step", stat, value, count=count, rate=rate,
                      pairable=count is None)


def _run(desc: str, unit: Unit, better: Better | None, stat: Literal["mean", "median"],
         value: Callable[[RunRecord], float | None], rate: bool = False) -> MetricSpec:
    return MetricSpec(desc, unit, better, "run", stat, value, rate=rate, grouped=False,
                      pairable=False)


METRICS: dict[str, MetricSpec] = {
    "pass_rate": _step(
        "steps passed / (passed + failed + skipped); unvalidated steps left out (missing)",
        "rate", "higher", "mean", lambda s: _passed(s) if _in_pass_rate(s) else None,
        rate=True),
    "first_try_pass_rate": _step(
        "steps whose first answered generation passed its checks / (passed + failed + "
        "skipped)", "rate", "higher", "mean",
        lambda s: (1.0 if s.first_try == "passed" else 0.0) if _in_pass_rate(s) else None,
        rate=True),
    "plan_pass_rate": _run("runs with status passed / runs", "rate", "higher", "mean",
                           lambda r: 1.0 if r.status == "passed" else 0.0, rate=True),
    "unvalidated_share": _step("steps with nothing checkable / steps", "share", "lower",
                               "mean", lambda s: 1.0 if s.status == "unvalidated" else 0.0,
                               rate=True),
    "truncation_rate": _attempt("answered attempts stopped by the output-token limit / "
                                "answered attempts", "rate", "lower", "mean", _truncated,
                                rate=True),
    "repairs_per_passed_step": _step("repair turns (all steps) / passed steps", "count",
                                     "lower", "mean", lambda s: float(s.repairs),
                                     count=_passed),
    "validation_time_mean": _step("time running a step's checks, mean per step, ms", "ms",
                                  "lower", "mean", lambda s: s.validation_ms),
    "cost_per_passed_step": _step("cost of every attempt / passed steps, USD", "usd", "lower",
                                  "mean", _step_cost, count=_passed),
    "ttft_p50": _attempt("TTFT median, ms (all attempts)", "ms", "lower", "median",
                         _timing("ttft_ms")),
    "ttft_mean": _attempt("TTFT mean, ms (all attempts)", "ms", "lower", "mean",
                          _timing("ttft_ms")),
    "ttr_p50": _attempt("TTR median, ms (all attempts)", "ms", "lower", "median",
                        _timing("ttr_ms")),
    "ttr_mean": _attempt("TTR mean, ms (all attempts)", "ms", "lower", "mean",
                         _timing("ttr_ms")),
    "tpot_p50": _attempt("TPOT median, ms/token (all attempts)", "ms/token", "lower",
                         "median", _timing("tpot_ms")),
    "tpot_mean": _attempt("TPOT mean, ms/token (all attempts)", "ms/token", "lower", "mean",
                          _timing("tpot_ms")),
    "queue_latency_mean": _attempt("queue latency mean, ms", "ms", "lower", "mean",
                                   _timing("queue_latency_ms")),
    "network_overhead_mean": _attempt("network overhead mean, ms", "ms", "lower", "mean",
                                      _timing("network_overhead_ms")),
    "server_prefill_mean": _attempt("server-reported prefill time mean, ms (where the server "
                                    "reports it)", "ms", "lower", "mean",
                                    lambda a: a.server_timing.prefill_ms),
    "server_decode_tpot_mean": _attempt("server-reported decode time per token mean, "
                                        "ms/token (where the server reports it)", "ms/token",
                                        "lower", "mean",
                                        lambda a: a.server_timing.decode_ms_per_token),
    "step_time_p50": _step("step time median, ms", "ms", "lower", "median",
                           lambda s: s.step_time_ms),
    "output_tokens_mean": _attempt("output tokens per attempt, mean", "tokens", None, "mean",
                                   lambda a: a.usage.output.value),
    "input_tokens_mean": _attempt("input tokens per attempt, mean", "tokens", None, "mean",
                                  lambda a: a.usage.input.value),
    "cached_tokens_mean": _attempt("prompt tokens read from the provider's prefix cache per "
                                   "attempt, mean", "tokens", "higher", "mean",
                                   lambda a: a.usage.cache_read.value),
    "cached_input_share": _attempt("share of input tokens read from the prefix cache, mean "
                                   "over attempts", "share", "higher", "mean", _cached_share),
    "makespan": _run("makespan per run, mean, ms", "ms", "lower", "mean",
                     lambda r: r.makespan_ms),
    "makespan_p50": _run("makespan per run, median, ms", "ms", "lower", "median",
                         lambda r: r.makespan_ms),
    "parallel_efficiency": _run("parallel efficiency per run, mean", "ratio", "higher",
                                "mean", lambda r: r.parallel_efficiency),
    "cost_total": _run("total cost of a run, mean over runs, USD", "usd", "lower", "mean",
                       _run_cost),
}

#: Names that meant "the request completed", not "the checks passed": refused with a pointer.
REMOVED_METRICS: dict[str, str] = {
    "success_rate": "it counted requests that completed, not steps whose checks passed; use "
                    "pass_rate (or first_try_pass_rate)",
    "plan_success_rate": "it counted runs whose requests completed; use plan_pass_rate",
}


# --- estimation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Settings:
    paired: bool
    confidence: float
    n_resamples: int
    seed: int


def _observations(metric: MetricSpec, run: _RunView) -> list[Observation]:
    """One run's observations of ``metric`` (grouped by step id for pairing)."""
    if metric.level == "run":
        return [Observation(metric.value(run.run))]
    if metric.level == "step":
        return [Observation(metric.value(s), s.step_id,
                            1.0 if metric.count is None else metric.count(s))
                for s in run.steps]
    return [Observation(metric.value(a), step_id) for step_id, a in run.attempts]


def _counts(clusters: list[list[Observation]]) -> tuple[int, int, int]:
    """``(successes, trials, runs with a trial)`` of 0/1 observations."""
    values = [o.value for obs in clusters for o in obs if o.value is not None]
    runs = sum(any(o.value is not None for o in obs) for obs in clusters)
    return int(sum(values)), len(values), runs


def _newcombe(clusters_a: list[list[Observation]], clusters_b: list[list[Observation]],
              why: str, confidence: float) -> DiffEstimate:
    sa, na, ka = _counts(clusters_a)
    sb, nb, kb = _counts(clusters_b)
    est = proportion_diff_ci(sa, na, sb, nb, confidence)
    missing_a = sum(o.value is None for obs in clusters_a for o in obs)
    missing_b = sum(o.value is None for obs in clusters_b for o in obs)
    note = "; ".join(n for n in (est.note, why) if n)
    return est.model_copy(update={"runs_a": ka, "runs_b": kb, "missing_a": missing_a,
                                  "missing_b": missing_b, "note": note})


def _estimate(metric: MetricSpec, a: list[_RunView], b: list[_RunView],
              settings: _Settings) -> DiffEstimate:
    ca = [_observations(metric, r) for r in a]
    cb = [_observations(metric, r) for r in b]
    if metric.rate and metric.level == "run":
        return _newcombe(ca, cb, "runs are independent trials", settings.confidence)
    if metric.rate and min(_counts(ca)[2], _counts(cb)[2]) < MIN_RUNS_PER_SIDE:
        why = (f"fewer than {MIN_RUNS_PER_SIDE} runs on a side: Newcombe's interval treats "
               f"the {metric.level}s as independent trials")
        return _newcombe(ca, cb, why, settings.confidence)
    return cluster_bootstrap_diff_ci(
        ca, cb, metric.stat, paired=settings.paired and metric.pairable, rate=metric.rate,
        relative_ci=not metric.rate, confidence=settings.confidence,
        n_resamples=settings.n_resamples, seed=settings.seed)


def _scoped(runs: list[RunRecord], keep_step: Callable[[StepRecord], bool] | None = None,
            keep_attempt: Callable[[AttemptRecord], bool] | None = None) -> list[_RunView]:
    views = []
    for r in runs:
        steps = [s for s in r.steps if keep_step is None or keep_step(s)]
        pool = r.steps if keep_attempt is not None else steps
        attempts = [(s.step_id, a) for s in pool for a in s.attempts
                    if keep_attempt is None or keep_attempt(a)]
        views.append(_RunView(r, steps, attempts))
    return views


def _scopes(a: list[RunRecord], b: list[RunRecord]
            ) -> list[tuple[str, list[_RunView], list[_RunView]]]:
    out = [("global", _scoped(a), _scoped(b))]

    def attempts(runs: list[RunRecord]) -> list[AttemptRecord]:
        return [x for r in runs for s in r.steps for x in s.attempts]

    def steps(runs: list[RunRecord]) -> list[StepRecord]:
        return [s for r in runs for s in r.steps]

    for p in sorted({x.provider for x in attempts(a)} & {x.provider for x in attempts(b)}):
        def by_step(s: StepRecord, p: str = p) -> bool:
            return s.provider == p

        def by_attempt(x: AttemptRecord, p: str = p) -> bool:
            return x.provider == p

        out.append((f"provider:{p}", _scoped(a, by_step, by_attempt),
                    _scoped(b, by_step, by_attempt)))
    for t in sorted({s.type for s in steps(a)} & {s.type for s in steps(b)}):
        def by_type(s: StepRecord, t: str = t) -> bool:
            return s.type == t

        out.append((f"task_type:{t}", _scoped(a, by_type), _scoped(b, by_type)))
    return out


def _design(a: list[RunRecord], b: list[RunRecord]) -> tuple[bool, str]:
    """Paired when both sides ran the same (non-empty) set of step ids."""
    ids_a = {s.step_id for r in a for s in r.steps}
    ids_b = {s.step_id for r in b for s in r.steps}
    if ids_a and ids_a == ids_b:
        ids = f"{len(ids_a)} step id{'s' if len(ids_a) != 1 else ''}"
        return True, (f"paired by step: both benches ran the same {ids}; step and attempt "
                      "metrics compare each step with itself")
    return False, (f"independent: the benches ran different steps (A {len(ids_a)} step ids, "
                   f"B {len(ids_b)}, {len(ids_a & ids_b)} shared)")


def _ref(data: BenchmarkData, source: str) -> BenchRef:
    m = data.meta
    return BenchRef(source=source, task_id=m.task_id, label=m.label, provider=m.provider,
                    model=m.model, emulated=m.emulated, runs=len(data.measured_runs()),
                    overlay=dict(m.overlay))


def compare_benches(a: BenchmarkData, b: BenchmarkData, source_a: str = "A",
                    source_b: str = "B", *, confidence: float = 0.95,
                    n_resamples: int = 2000, seed: int = 0) -> ComparisonData:
    """Every metric in every shared scope, ``b`` against the baseline ``a``.

    Deterministic for a given ``seed`` (every row's bootstrap uses it).
    """
    runs_a, runs_b = a.measured_runs(), b.measured_runs()
    paired, design_note = _design(runs_a, runs_b)
    settings = _Settings(paired, confidence, n_resamples, seed)
    rows: list[MetricComparison] = []
    for scope, pa, pb in _scopes(runs_a, runs_b):
        for name, metric in METRICS.items():
            if scope != "global" and not metric.grouped:
                continue
            rows.append(MetricComparison(
                metric=name, scope=scope, description=metric.description,
                estimate=_estimate(metric, pa, pb, settings), unit=metric.unit,
                better=metric.better))
    return ComparisonData(a=_ref(a, source_a), b=_ref(b, source_b), rows=rows,
                          design="paired" if paired else "independent",
                          design_note=design_note, confidence=confidence,
                          n_resamples=n_resamples, seed=seed)


def _side_name(data: BenchmarkData, source: str) -> str:
    name = data.meta.label or (f"bench{data.meta.bench_id}"
                               if data.meta.bench_id is not None else None)
    return name or Path(source).name or source


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name).strip("._") or "bench"


def default_comparison_dir(a: BenchmarkData, b: BenchmarkData, source_a: str, source_b: str,
                           root: Path = Path("bench_results")) -> Path:
    """``<root>/comparisons/<A>-vs-<B>``: each side's label (else its bench id, else its
    source's name), made filename-safe; the sources' names break a tie between equal labels.
    """
    name_a, name_b = _side_name(a, source_a), _side_name(b, source_b)
    if name_a == name_b:
        name_a, name_b = Path(source_a).name or source_a, Path(source_b).name or source_b
    return root / "comparisons" / f"{_safe(name_a)}-vs-{_safe(name_b)}"


# --- --fail-if ------------------------------------------------------------------------------

_RULE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*([<>])\s*([+-]?\d+(?:\.\d+)?)\s*(%?)\s*$")


@dataclass(frozen=True)
class FailRule:
    """A parsed ``--fail-if`` expression."""

    expression: str
    metric: str
    op: Literal[">", "<"]
    threshold: float
    relative: bool

    def describe(self) -> str:
        """Human form, e.g. ``relative change of ttft_p50 > +10%``."""
        if self.relative:
            return f"relative change of {self.metric} {self.op} {100 * self.threshold:+g}%"
        return f"change of {self.metric} {self.op} {self.threshold:+g}"

    def beyond(self, value: float) -> bool:
        """Whether ``value`` passes the threshold in the rule's direction."""
        return value > self.threshold if self.op == ">" else value < self.threshold


def parse_fail_if(expression: str) -> FailRule:
    """Parse ``METRIC OP NUMBER[%]``; a bad expression is a :class:`ConfigError`."""
    match = _RULE.match(expression)
    if match is None:
        raise ConfigError(
            f"--fail-if {expression!r}: expected METRIC>NUMBER or METRIC<NUMBER with an "
            "optional sign and %, e.g. 'ttft_p50>+10%' or 'pass_rate<-0.05'")
    metric, op, number, pct = match.groups()
    if metric in REMOVED_METRICS:
        raise ConfigError(f"--fail-if {expression!r}: {metric!r} was removed: "
                          f"{REMOVED_METRICS[metric]}")
    if metric not in METRICS:
        raise ConfigError(f"--fail-if {expression!r}: unknown metric {metric!r} "
                          f"(valid: {', '.join(METRICS)})")
    value = float(number) / (100.0 if pct else 1.0)
    return FailRule(expression.strip(), metric, ">" if op == ">" else "<", value, bool(pct))


def _rule_value(rule: FailRule, est: DiffEstimate) -> tuple[float | None, str]:
    if est.difference is None:
        return None, f"cannot evaluate: {est.note or 'not measured'}"
    if not rule.relative:
        if METRICS[rule.metric].unit in ("rate", "share"):
            return est.difference, f"B - A = {100 * est.difference:+.1f} points"
        return est.difference, f"B - A = {est.difference:+.6g}"
    if est.relative_difference is None:
        if est.difference == 0:
            return 0.0, "B - A = 0 (baseline 0)"
        return None, "cannot evaluate: relative change from a baseline of 0"
    return est.relative_difference, f"(B - A) / A = {100 * est.relative_difference:+.2f}%"


def _ci_text(est: DiffEstimate) -> str:
    if est.ci_low is None or est.ci_high is None:
        return "no CI"
    return f"{100 * est.confidence:g}% CI of B - A [{est.ci_low:+.4g}, {est.ci_high:+.4g}]"


def _decide(rule: FailRule, est: DiffEstimate, mode: FailIfMode) -> FailResult:
    value, shown = _rule_value(rule, est)
    sig = est.significant
    head = f"{rule.describe()}: {shown}"
    if value is None:
        return FailResult(expression=rule.expression, triggered=True, value=None, mode=mode,
                          significant=sig, detail=f"{head}; a gate never passes on missing "
                                                  "data")
    beyond = rule.beyond(value)
    where = "beyond" if beyond else "within"
    ci = f"{_ci_text(est)} ({est.method})"
    if mode == "point":
        judged = {True: "significant", False: "not significant", None: "significance n/a"}
        why = (f"point estimate {where} the threshold; mode point: the point estimate "
               f"decides ({judged[sig]}: {ci})")
        triggered = beyond
    elif not beyond:
        why, triggered = "point estimate within the threshold (mode significant)", False
    elif sig is True:
        why, triggered = (f"point estimate beyond the threshold and significant: {ci} "
                          "excludes 0 (mode significant)"), True
    elif sig is False:
        why, triggered = (f"point estimate beyond the threshold but not significant: {ci} "
                          "includes 0 (mode significant)"), False
    else:
        why, triggered = (f"point estimate beyond the threshold and significance cannot be "
                          f"judged ({est.note or 'no CI'}): fails closed (mode "
                          "significant)"), True
    return FailResult(expression=rule.expression, triggered=triggered, value=value,
                      detail=f"{head}; {why}", mode=mode, beyond_threshold=beyond,
                      significant=sig)


def evaluate_rules(data: ComparisonData, rules: Sequence[FailRule],
                   mode: FailIfMode = "significant") -> list[FailResult]:
    """Evaluate every rule on the global comparison rows (see the module docstring)."""
    if mode not in FAIL_IF_MODES:
        raise ConfigError(f"--fail-if-mode {mode!r}: expected one of "
                          f"{', '.join(FAIL_IF_MODES)}")
    results: list[FailResult] = []
    for rule in rules:
        row = data.row(rule.metric)
        if row is None:
            results.append(FailResult(expression=rule.expression, triggered=True, value=None,
                                      mode=mode, detail="cannot evaluate: metric not "
                                                        "compared; a gate never passes on "
                                                        "missing data"))
            continue
        results.append(_decide(rule, row.estimate, mode))
    return results
