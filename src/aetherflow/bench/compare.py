"""Compare two benches metric by metric, with confidence intervals, and ``--fail-if`` gates.

Differences are ``B - A`` (A is the baseline). Sample metrics use a percentile bootstrap
of the mean or the median (``*_p50`` = median); success rates use Newcombe's score
interval (:mod:`aetherflow.metrics.stats`). ``comparison_data.json`` is the source of
truth of ``comparison_report.md``.

``--fail-if`` grammar: ``METRIC OP NUMBER[%]`` with OP ``>`` or ``<`` and a signed number.
With ``%`` the rule tests the relative difference ``(B - A) / A``; without, the absolute
difference ``B - A`` in the metric's unit. A rule whose difference cannot be computed
(a metric not measured, or a relative change from a baseline of 0 that is not itself 0)
triggers too: a gate never passes on missing data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from aetherflow.bench.aggregate import all_attempts, all_steps
from aetherflow.bench.model import BenchmarkData
from aetherflow.errors import ConfigError
from aetherflow.metrics.records import AttemptRecord, RunRecord, StepRecord
from aetherflow.metrics.stats import DiffEstimate, bootstrap_diff_ci, proportion_diff_ci

__all__ = [
    "COMPARISON_SCHEMA_VERSION",
    "METRICS",
    "BenchRef",
    "ComparisonData",
    "FailResult",
    "FailRule",
    "MetricComparison",
    "compare_benches",
    "evaluate_rules",
    "parse_fail_if",
]

COMPARISON_SCHEMA_VERSION = "1"


@dataclass(frozen=True)
class _Population:
    runs: list[RunRecord]
    steps: list[StepRecord]
    attempts: list[AttemptRecord]


Samples = list[float | None]
Proportion = tuple[int, int]


@dataclass(frozen=True)
class _Metric:
    description: str
    stat: Literal["mean", "median", "proportion"]
    grouped: bool
    samples: Callable[[_Population], Samples] | None = None
    proportion: Callable[[_Population], Proportion] | None = None


def _timing(field: str) -> Callable[[_Population], Samples]:
    return lambda p: [getattr(a.timing, field) for a in p.attempts]


def _run_cost(run: RunRecord) -> float | None:
    costs = [a.cost.total_usd for s in run.steps for a in s.attempts]
    return None if any(c is None for c in costs) else sum(c or 0.0 for c in costs)


def _cached_share(a: AttemptRecord) -> float | None:
    read, total = a.usage.cache_read.value, a.usage.input.value
    return None if read is None or not total else read / total


def _metric(desc: str, stat: Literal["mean", "median"], get: Callable[[_Population], Samples],
            grouped: bool = True) -> _Metric:
    return _Metric(desc, stat, grouped, samples=get)


METRICS: dict[str, _Metric] = {
    "ttft_p50": _metric("TTFT median, ms (all attempts)", "median", _timing("ttft_ms")),
    "ttft_mean": _metric("TTFT mean, ms (all attempts)", "mean", _timing("ttft_ms")),
    "ttr_p50": _metric("TTR median, ms (all attempts)", "median", _timing("ttr_ms")),
    "ttr_mean": _metric("TTR mean, ms (all attempts)", "mean", _timing("ttr_ms")),
    "tpot_p50": _metric("TPOT median, ms/token (all attempts)", "median", _timing("tpot_ms")),
    "tpot_mean": _metric("TPOT mean, ms/token (all attempts)", "mean", _timing("tpot_ms")),
    "queue_latency_mean": _metric("queue latency mean, ms", "mean",
                                  _timing("queue_latency_ms")),
    "network_overhead_mean": _metric("network overhead mean, ms", "mean",
                                     _timing("network_overhead_ms")),
    "server_prefill_mean": _metric("server-reported prefill time mean, ms (where the server "
                                   "reports it)", "mean",
                                   lambda p: [a.server_timing.prefill_ms for a in p.attempts]),
    "server_decode_tpot_mean": _metric("server-reported decode time per token mean, ms/token "
                                       "(where the server reports it)", "mean",
                                       lambda p: [a.server_timing.decode_ms_per_token
                                                  for a in p.attempts]),
    "step_time_p50": _metric("step time median, ms", "median",
                             lambda p: [s.step_time_ms for s in p.steps]),
    "output_tokens_mean": _metric("output tokens per attempt, mean", "mean",
                                  lambda p: [a.usage.output.value for a in p.attempts]),
    "input_tokens_mean": _metric("input tokens per attempt, mean", "mean",
                                 lambda p: [a.usage.input.value for a in p.attempts]),
    "cached_tokens_mean": _metric("prompt tokens read from the provider's prefix cache per "
                                  "attempt, mean", "mean",
                                  lambda p: [a.usage.cache_read.value for a in p.attempts]),
    "cached_input_share": _metric("share of input tokens read from the prefix cache, mean "
                                  "over attempts", "mean",
                                  lambda p: [_cached_share(a) for a in p.attempts]),
    "makespan": _metric("makespan per run, mean, ms", "mean",
                        lambda p: [r.makespan_ms for r in p.runs], grouped=False),
    "makespan_p50": _metric("makespan per run, median, ms", "median",
                            lambda p: [r.makespan_ms for r in p.runs], grouped=False),
    "parallel_efficiency": _metric("parallel efficiency per run, mean", "mean",
                                   lambda p: [r.parallel_efficiency for r in p.runs],
                                   grouped=False),
    "cost_total": _metric("total cost of a run, mean over runs, USD", "mean",
                          lambda p: [_run_cost(r) for r in p.runs], grouped=False),
    "success_rate": _Metric("step success rate (failed plans kept)", "proportion", True,
                            proportion=lambda p: (sum(s.status == "succeeded" for s in p.steps),
                                                  len(p.steps))),
    "plan_success_rate": _Metric("plan success rate", "proportion", False,
                                 proportion=lambda p: (sum(r.status == "succeeded"
                                                           for r in p.runs), len(p.runs))),
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BenchRef(_Model):
    """Which bench a side of the comparison is."""

    source: str
    task_id: str
    label: str | None = None
    provider: str
    model: str | None = None
    emulated: bool = False
    runs: int
    overlay: dict[str, str] = Field(default_factory=dict)


class MetricComparison(_Model):
    """One metric in one scope (``global``, ``provider:NAME`` or ``task_type:TYPE``)."""

    metric: str
    scope: str
    description: str
    estimate: DiffEstimate


class FailResult(_Model):
    """The outcome of one ``--fail-if`` rule."""

    expression: str
    triggered: bool
    value: float | None
    detail: str


class ComparisonData(_Model):
    """``comparison_data.json``."""

    schema_version: str = COMPARISON_SCHEMA_VERSION
    kind: Literal["comparison"] = "comparison"
    a: BenchRef
    b: BenchRef
    rows: list[MetricComparison]
    fail_if: list[FailResult] = Field(default_factory=list)

    def row(self, metric: str, scope: str = "global") -> MetricComparison | None:
        """The comparison of ``metric`` in ``scope``, if present."""
        return next((r for r in self.rows if r.metric == metric and r.scope == scope), None)


def _estimate(metric: _Metric, a: _Population, b: _Population) -> DiffEstimate:
    if metric.proportion is not None:
        sa, na_ = metric.proportion(a)
        sb, nb = metric.proportion(b)
        return proportion_diff_ci(sa, na_, sb, nb)
    assert metric.samples is not None and metric.stat != "proportion"
    return bootstrap_diff_ci(metric.samples(a), metric.samples(b), stat=metric.stat)


def _population(runs: list[RunRecord], keep: Callable[[StepRecord], bool] | None = None,
                keep_attempt: Callable[[AttemptRecord], bool] | None = None) -> _Population:
    steps = [s for s in all_steps(runs) if keep is None or keep(s)]
    attempts = [a for a in all_attempts(all_steps(runs) if keep_attempt else steps)
                if keep_attempt is None or keep_attempt(a)]
    return _Population(runs, steps, attempts)


def _scopes(a: list[RunRecord], b: list[RunRecord]) -> list[tuple[str, _Population, _Population]]:
    out = [("global", _population(a), _population(b))]
    providers = sorted({x.provider for x in all_attempts(all_steps(a))}
                       & {x.provider for x in all_attempts(all_steps(b))})
    for p in providers:
        def by_step(s: StepRecord, p: str = p) -> bool:
            return s.provider == p

        def by_attempt(x: AttemptRecord, p: str = p) -> bool:
            return x.provider == p

        out.append((f"provider:{p}", _population(a, by_step, by_attempt),
                    _population(b, by_step, by_attempt)))
    types = sorted({s.type for s in all_steps(a)} & {s.type for s in all_steps(b)})
    for t in types:
        def by_type(s: StepRecord, t: str = t) -> bool:
            return s.type == t

        out.append((f"task_type:{t}", _population(a, by_type), _population(b, by_type)))
    return out


def _ref(data: BenchmarkData, source: str) -> BenchRef:
    m = data.meta
    return BenchRef(source=source, task_id=m.task_id, label=m.label, provider=m.provider,
                    model=m.model, emulated=m.emulated, runs=len(data.measured_runs()),
                    overlay=dict(m.overlay))


def compare_benches(a: BenchmarkData, b: BenchmarkData, source_a: str = "A",
                    source_b: str = "B") -> ComparisonData:
    """Every metric in every shared scope, ``b`` against the baseline ``a``."""
    rows: list[MetricComparison] = []
    for scope, pa, pb in _scopes(a.measured_runs(), b.measured_runs()):
        for name, metric in METRICS.items():
            if scope != "global" and not metric.grouped:
                continue
            rows.append(MetricComparison(metric=name, scope=scope,
                                         description=metric.description,
                                         estimate=_estimate(metric, pa, pb)))
    return ComparisonData(a=_ref(a, source_a), b=_ref(b, source_b), rows=rows)


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


def parse_fail_if(expression: str) -> FailRule:
    """Parse ``METRIC OP NUMBER[%]``; a bad expression is a :class:`ConfigError`."""
    match = _RULE.match(expression)
    if match is None:
        raise ConfigError(
            f"--fail-if {expression!r}: expected METRIC>NUMBER or METRIC<NUMBER with an "
            "optional sign and %, e.g. 'ttft_p50>+10%' or 'success_rate<-0.05'")
    metric, op, number, pct = match.groups()
    if metric not in METRICS:
        raise ConfigError(f"--fail-if {expression!r}: unknown metric {metric!r} "
                          f"(valid: {', '.join(METRICS)})")
    value = float(number) / (100.0 if pct else 1.0)
    return FailRule(expression.strip(), metric, ">" if op == ">" else "<", value, bool(pct))


def _rule_value(rule: FailRule, est: DiffEstimate) -> tuple[float | None, str]:
    if est.difference is None:
        return None, f"cannot evaluate: {est.note or 'not measured'}"
    if not rule.relative:
        return est.difference, f"B - A = {est.difference:+.6g}"
    if est.relative_difference is None:
        if est.difference == 0:
            return 0.0, "B - A = 0 (baseline 0)"
        return None, "cannot evaluate: relative change from a baseline of 0"
    return est.relative_difference, f"(B - A) / A = {100 * est.relative_difference:+.2f}%"


def evaluate_rules(data: ComparisonData, rules: Sequence[FailRule]) -> list[FailResult]:
    """Evaluate every rule on the global comparison rows."""
    results: list[FailResult] = []
    for rule in rules:
        row = data.row(rule.metric)
        if row is None:
            results.append(FailResult(expression=rule.expression, triggered=True, value=None,
                                      detail="cannot evaluate: metric not compared"))
            continue
        value, detail = _rule_value(rule, row.estimate)
        hit = value is None or (value > rule.threshold if rule.op == ">"
                                else value < rule.threshold)
        sig = row.estimate.significant
        sig_text = "" if sig is None else (" (significant)" if sig else " (not significant)")
        results.append(FailResult(expression=rule.expression, triggered=hit, value=value,
                                  detail=f"{rule.describe()}: {detail}{sig_text}"))
    return results
