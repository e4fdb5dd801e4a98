"""Aggregates of a bench, computed from its run records alone.

Populations are explicit: *all attempts* (failed ones included, their stamps are real
measurements) versus *successful attempts only* (``status == "ok"``). Failed plans and
failed steps stay in every total. Nothing unmeasured becomes 0: missing values are
counted and explained.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from aetherflow.bench.model import (
    Aggregates,
    CacheSection,
    CostSummary,
    GlobalFigures,
    GroupStats,
    LatencyTable,
    PlanStructure,
    QualitySection,
    TokenTotal,
)
from aetherflow.metrics.records import AttemptRecord, RunRecord, StepRecord, TokenCount
from aetherflow.metrics.stats import rate, summarize

__all__ = [
    "QUALITY_UNCHECKED_REASON",
    "all_attempts",
    "all_steps",
    "compute_aggregates",
    "latency_table",
    "sum_costs",
]

QUALITY_UNCHECKED_REASON = (
    "validation of criteria not implemented in this version: all criteria unchecked"
)


def all_steps(runs: Sequence[RunRecord]) -> list[StepRecord]:
    """Every step of every run."""
    return [s for r in runs for s in r.steps]


def all_attempts(steps: Iterable[StepRecord]) -> list[AttemptRecord]:
    """Every attempt of the given steps."""
    return [a for s in steps for a in s.attempts]


def _server_note(attempts: Sequence[AttemptRecord]) -> str:
    """The most common reason server timings are missing among ``attempts``."""
    notes = Counter(a.server_timing.note for a in attempts
                    if a.server_timing.prefill_ms is None and a.server_timing.note)
    return notes.most_common(1)[0][0] if notes else "no server-side timings reported"


def _outside_prefill(a: AttemptRecord) -> float | None:
    ttft, prefill = a.timing.ttft_ms, a.server_timing.prefill_ms
    return None if ttft is None or prefill is None else ttft - prefill


def latency_table(attempts: Sequence[AttemptRecord], population: str) -> LatencyTable:
    """Distributions of the per-attempt latency metrics of ``attempts``."""
    t = [a.timing for a in attempts]
    empty = "no attempts" if not t else None
    server = empty or _server_note(attempts)
    return LatencyTable(
        population=population,
        ttft_ms=summarize((x.ttft_ms for x in t), empty or "no first token received"),
        ttr_ms=summarize((x.ttr_ms for x in t), empty or "no attempt closed"),
        tpot_ms=summarize((x.tpot_ms for x in t), empty or "TPOT needs >= 2 output tokens"),
        queue_latency_ms=summarize((x.queue_latency_ms for x in t), empty or "no queue stamps"),
        network_overhead_ms=summarize((x.network_overhead_ms for x in t),
                                      empty or "no connection stamps"),
        server_prefill_ms=summarize((a.server_timing.prefill_ms for a in attempts), server),
        server_decode_ms_per_token=summarize(
            (a.server_timing.decode_ms_per_token for a in attempts), server),
        ttft_outside_prefill_ms=summarize((_outside_prefill(a) for a in attempts), server),
    )


def token_total(counts: Iterable[TokenCount]) -> TokenTotal:
    """Sum measured counts; report how many were missing and where they came from."""
    values = list(counts)
    measured = [c for c in values if c.value is not None]
    missing = [c for c in values if c.value is None]
    notes = sorted({c.note for c in missing if c.note})
    return TokenTotal(
        total=sum(c.value or 0 for c in measured) if measured else None,
        measured=len(measured),
        missing=len(missing),
        provenance=sorted({c.provenance for c in measured if c.provenance}),
        note="; ".join(notes) or (None if measured else "no attempts"),
    )


def sum_costs(attempts: Sequence[AttemptRecord]) -> tuple[float | None, str | None]:
    """Total USD of ``attempts``; None with a note when any attempt is unpriced."""
    unpriced = [a for a in attempts if a.cost.total_usd is None]
    if unpriced:
        reasons = sorted({a.cost.note or "no price" for a in unpriced})
        return None, f"{len(unpriced)} of {len(attempts)} attempts unpriced ({'; '.join(reasons)})"
    return sum(a.cost.total_usd or 0.0 for a in attempts), None


def _wasted_attempts(steps: Iterable[StepRecord]) -> list[AttemptRecord]:
    """Attempts that did not deliver a step's final success (errors, and failed steps)."""
    wasted: list[AttemptRecord] = []
    for s in steps:
        if s.status == "succeeded" and s.attempts:
            wasted.extend(s.attempts[:-1])
        else:
            wasted.extend(s.attempts)
    return wasted


def _cost_summary(runs: Sequence[RunRecord]) -> CostSummary:
    steps = all_steps(runs)
    attempts = all_attempts(steps)
    total, note = sum_costs(attempts)
    failed, _ = sum_costs(_wasted_attempts(steps))
    ok_plans = sum(r.status == "succeeded" for r in runs)
    per_plan: float | None = None
    if total is not None and ok_plans:
        per_plan = total / ok_plans
    elif total is not None:
        note = "no plan succeeded: cost per successful plan undefined"
    sources = sorted({a.cost.price_source for a in attempts if a.cost.price_source})
    return CostSummary(total_usd=total, per_successful_plan_usd=per_plan,
                       failed_attempts_usd=failed, price_sources=sources, note=note)


def _global(runs: Sequence[RunRecord]) -> GlobalFigures:
    steps = all_steps(runs)
    attempts = all_attempts(steps)
    status = Counter(s.status for s in steps)
    ok_plans = sum(r.status == "succeeded" for r in runs)
    return GlobalFigures(
        runs=len(runs), plans_succeeded=ok_plans, plan_success_rate=rate(ok_plans, len(runs)),
        steps=len(steps), steps_succeeded=status["succeeded"], steps_failed=status["failed"],
        steps_skipped=status["skipped"], step_success_rate=rate(status["succeeded"], len(steps)),
        attempts=len(attempts), attempts_failed=sum(a.status == "error" for a in attempts),
        attempts_per_step=len(attempts) / len(steps) if steps else None,
        length_stops=sum(a.finish_reason == "length" for a in attempts),
        makespan_ms=summarize((r.makespan_ms for r in runs), "no run finished"),
        cost=_cost_summary(runs),
        tokens_input=token_total(a.usage.input for a in attempts),
        tokens_output=token_total(a.usage.output for a in attempts),
    )


def _group(key: str, steps: Sequence[StepRecord], attempts: Sequence[AttemptRecord]) -> GroupStats:
    ok = sum(s.status == "succeeded" for s in steps)
    cost, cost_note = sum_costs(attempts)
    return GroupStats(
        key=key, steps=len(steps), steps_succeeded=ok, success_rate=rate(ok, len(steps)),
        attempts=len(attempts), attempts_failed=sum(a.status == "error" for a in attempts),
        step_time_ms=summarize((s.step_time_ms for s in steps), "no step finished"),
        latency=latency_table(attempts, "all attempts"),
        tokens_output=token_total(a.usage.output for a in attempts),
        cost_usd=cost, cost_note=cost_note,
    )


def _grouped(steps: Sequence[StepRecord], key: Callable[[StepRecord], str]) -> list[GroupStats]:
    groups: dict[str, list[StepRecord]] = {}
    for s in steps:
        groups.setdefault(key(s), []).append(s)
    return [_group(k, v, all_attempts(v)) for k, v in sorted(groups.items())]


def _per_provider(steps: Sequence[StepRecord]) -> list[GroupStats]:
    """Attempts grouped by the provider that served them; steps by their final provider."""
    attempts: dict[str, list[AttemptRecord]] = {}
    for a in all_attempts(steps):
        attempts.setdefault(a.provider, []).append(a)
    by_step: dict[str, list[StepRecord]] = {}
    for s in steps:
        if s.provider:
            by_step.setdefault(s.provider, []).append(s)
    keys = sorted(set(attempts) | set(by_step))
    return [_group(k, by_step.get(k, []), attempts.get(k, [])) for k in keys]


def _structure(runs: Sequence[RunRecord]) -> PlanStructure:
    paths = Counter(tuple(r.critical_path) for r in runs if r.critical_path)
    return PlanStructure(
        makespan_ms=summarize((r.makespan_ms for r in runs), "no run finished"),
        critical_path_ms=summarize((r.critical_path_ms for r in runs), "no critical path"),
        parallel_efficiency=summarize((r.parallel_efficiency for r in runs),
                                      "no parallel efficiency"),
        critical_path=list(paths.most_common(1)[0][0]) if paths else [],
    )


def _cache(attempts: Sequence[AttemptRecord], setting: str | None) -> CacheSection:
    reads = [a.usage.cache_read for a in attempts]
    if not reads:
        return CacheSection(status="n/a", reason="no attempts", cache_setting=setting)
    if any(c.value is None for c in reads):
        notes = sorted({c.note or "not reported" for c in reads if c.value is None})
        reason = "prompt-cache accounting not reported by this provider (" + "; ".join(notes) + ")"
        return CacheSection(status="n/a", reason=reason, cache_setting=setting)
    read = sum(c.value or 0 for c in reads)
    inputs = [a.usage.input.value for a in attempts]
    total_in = None if any(v is None for v in inputs) else sum(v or 0 for v in inputs)
    return CacheSection(
        status="measured", cache_read_tokens=read, input_tokens=total_in,
        token_hit_rate=read / total_in if total_in else None,
        request_hit_rate=sum((c.value or 0) > 0 for c in reads) / len(reads),
        cache_setting=setting,
    )


def _quality(steps: Sequence[StepRecord]) -> QualitySection:
    n = Counter(v.status for s in steps for v in s.validation)
    checked = n["passed"] + n["failed"] + n["error"]
    reason: str | None = None
    if not sum(n.values()):
        reason = "no validation criteria in the plan"
    elif not checked:
        reason = QUALITY_UNCHECKED_REASON
    return QualitySection(
        status="n/a" if reason else "measured", reason=reason, passed=n["passed"],
        failed=n["failed"], unchecked=n["unchecked"], error=n["error"],
        pass_rate=n["passed"] / checked if checked else None,
    )


def compute_aggregates(runs: Sequence[RunRecord], cache_setting: str | None = None) -> Aggregates:
    """Every aggregate of ``runs`` (pass the measured runs only: warm-ups excluded)."""
    steps = all_steps(runs)
    attempts = all_attempts(steps)
    return Aggregates(
        global_figures=_global(runs),
        latency_all=latency_table(attempts, "all attempts"),
        latency_successful=latency_table([a for a in attempts if a.status == "ok"],
                                         "successful attempts only"),
        per_provider=_per_provider(steps),
        per_task_type=_grouped(steps, lambda s: s.type),
        per_step=_grouped(steps, lambda s: s.step_id),
        plan_structure=_structure(runs),
        cache=_cache(attempts, cache_setting),
        quality=_quality(steps),
    )
