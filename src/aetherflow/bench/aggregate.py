"""Aggregates of a bench, computed from its run records alone.

Populations are explicit: *all attempts* (failed ones included, their stamps are real
measurements) versus *successful attempts only* (``status == "ok"``). Failed plans and
failed steps stay in every total. Nothing unmeasured becomes 0: missing values are
counted and explained.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence

from aetherflow.metrics.stats import rate, summarize
from aetherflow.results.bench import (
    Aggregates,
    CacheSection,
    CheckKindStats,
    CodeQualitySummary,
    CostSummary,
    GlobalFigures,
    Goodput,
    GroupStats,
    LatencyTable,
    PassAtK,
    PlanStructure,
    QualitySection,
    Throughput,
    TokenTotal,
)
from aetherflow.results.run import (
    PASS_RATE_STATUSES,
    AttemptRecord,
    RunRecord,
    StepRecord,
    TokenCount,
    all_attempts,
    all_steps,
)

__all__ = [
    "COMPUTE_GAP_SHARE",
    "DEFAULT_SLOS",
    "QUALITY_UNCHECKED_REASON",
    "all_attempts",
    "all_steps",
    "compute_aggregates",
    "goodput",
    "latency_table",
    "pass_at_k",
    "pass_rate",
    "sum_costs",
]

QUALITY_UNCHECKED_REASON = (
    "no step had an executable check (free-text criteria only): nothing is known about "
    "whether the code works"
)


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
        itl_ms=summarize((gap for a in attempts for gap in a.timing.itl_ms),
                         empty or "no attempt streamed two content chunks"),
        tpot_provenance=sorted({a.usage.output.provenance for a in attempts
                                if a.timing.tpot_ms is not None and a.usage.output.provenance}),
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
    """Total USD of ``attempts``; None with a note when any attempt is unpriced; a note
    saying the total is a lower bound when some attempt's cost is one."""
    unpriced = [a for a in attempts if a.cost.total_usd is None]
    if unpriced:
        reasons = sorted({a.cost.note or "no price" for a in unpriced})
        return None, f"{len(unpriced)} of {len(attempts)} attempts unpriced ({'; '.join(reasons)})"
    bounds = sum(a.cost.lower_bound for a in attempts)
    note = (f"a lower bound: {bounds} attempt(s) were cut before their usage arrived (only "
            "their output is priced)") if bounds else None
    return sum(a.cost.total_usd or 0.0 for a in attempts), note


def _wasted_attempts(steps: Iterable[StepRecord]) -> list[AttemptRecord]:
    """Attempts that did not deliver a passed step's final answer: errors, answers whose
    checks failed, and every attempt of a step that did not pass."""
    wasted: list[AttemptRecord] = []
    for s in steps:
        if s.status == "passed":
            final = max((a.attempt for a in s.attempts if a.status == "ok"), default=None)
            wasted.extend(a for a in s.attempts if a.attempt != final)
        else:
            wasted.extend(s.attempts)
    return wasted


def pass_rate(statuses: Iterable[str]) -> tuple[int, int, float | None]:
    """(passed, denominator, rate): passed / (passed + failed + skipped)."""
    values = list(statuses)
    passed = values.count("passed")
    denominator = sum(values.count(s) for s in PASS_RATE_STATUSES)
    return passed, denominator, rate(passed, denominator)


def _cost_summary(runs: Sequence[RunRecord]) -> CostSummary:
    steps = all_steps(runs)
    attempts = all_attempts(steps)
    judged = [a for s in steps for a in s.judge_attempts]
    total, note = sum_costs([*attempts, *judged])
    judge_usd = sum_costs(judged)[0] if judged else None
    failed, _ = sum_costs(_wasted_attempts(steps))
    repairs, _ = sum_costs([a for a in attempts if a.kind == "repair"])
    ok_plans = sum(r.status == "passed" for r in runs)
    ok_steps = sum(s.status == "passed" for s in steps)
    per_plan = per_step = None
    if total is not None and ok_plans:
        per_plan = total / ok_plans
    if total is not None and ok_steps:
        per_step = total / ok_steps
    if total is not None and not ok_steps:
        note = "no step passed: cost per passed step and plan undefined"
    elif total is not None and not ok_plans:
        note = "no plan passed: cost per passed plan undefined"
    sources = sorted({a.cost.price_source for a in attempts if a.cost.price_source})
    return CostSummary(total_usd=total, per_passed_plan_usd=per_plan,
                       per_passed_step_usd=per_step, failed_attempts_usd=failed,
                       repairs_usd=repairs, judge_usd=judge_usd, price_sources=sources,
                       note=note)


def _first_try_rate(steps: Sequence[StepRecord]) -> float | None:
    _, denominator, _ = pass_rate(s.status for s in steps)
    return rate(sum(s.first_try == "passed" for s in steps), denominator)


def _global(runs: Sequence[RunRecord]) -> GlobalFigures:
    steps = all_steps(runs)
    attempts = all_attempts(steps)
    status = Counter(s.status for s in steps)
    plans = Counter(r.status for r in runs)
    answered = [a for a in attempts if a.status == "ok"]
    truncated = sum(a.truncated for a in answered)
    passed, _, step_rate = pass_rate(s.status for s in steps)
    plan_denominator = len(runs) - plans["unvalidated"]
    return GlobalFigures(
        runs=len(runs), plans_passed=plans["passed"], plans_unvalidated=plans["unvalidated"],
        plan_pass_rate=rate(plans["passed"], plan_denominator),
        steps=len(steps), steps_passed=passed, steps_failed=status["failed"],
        steps_unvalidated=status["unvalidated"], steps_skipped=status["skipped"],
        pass_rate=step_rate, first_try_pass_rate=_first_try_rate(steps),
        attempts=len(attempts), attempts_failed=sum(a.status == "error" for a in attempts),
        attempts_per_step=len(attempts) / len(steps) if steps else None,
        truncated_attempts=truncated, answered_attempts=len(answered),
        truncation_rate=rate(truncated, len(answered)),
        makespan_ms=summarize((r.makespan_ms for r in runs), "no run finished"),
        cost=_cost_summary(runs),
        tokens_input=token_total(a.usage.input for a in attempts),
        tokens_output=token_total(a.usage.output for a in attempts),
    )


def _group(key: str, steps: Sequence[StepRecord], attempts: Sequence[AttemptRecord]) -> GroupStats:
    status = Counter(s.status for s in steps)
    passed, _, step_rate = pass_rate(s.status for s in steps)
    cost, cost_note = sum_costs(attempts)
    return GroupStats(
        key=key, steps=len(steps), steps_passed=passed, steps_failed=status["failed"],
        steps_unvalidated=status["unvalidated"], steps_skipped=status["skipped"],
        pass_rate=step_rate, first_try_pass_rate=_first_try_rate(steps),
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


def _tokens_per_s(attempts: Sequence[AttemptRecord], seconds: float) -> float | None:
    counts = [a.usage.output.value for a in attempts]
    if not seconds or not counts or any(c is None for c in counts):
        return None
    return sum(c or 0 for c in counts) / seconds


def _per_provider(steps: Sequence[StepRecord], seconds: float = 0.0) -> list[GroupStats]:
    """Attempts grouped by the provider that served them; steps by their final provider."""
    attempts: dict[str, list[AttemptRecord]] = {}
    for a in all_attempts(steps):
        attempts.setdefault(a.provider, []).append(a)
    by_step: dict[str, list[StepRecord]] = {}
    for s in steps:
        if s.provider:
            by_step.setdefault(s.provider, []).append(s)
    keys = sorted(set(attempts) | set(by_step))
    groups = [_group(k, by_step.get(k, []), attempts.get(k, [])) for k in keys]
    for g in groups:  # the provider's output tokens over the runs' wall time
        g.output_tokens_per_s = _tokens_per_s(attempts.get(g.key, []), seconds)
    return groups


#: A run whose compute critical path is below this share of its service-time critical path
#: is flagged: its steps waited inside the server for each other.
COMPUTE_GAP_SHARE = 0.5


def _structure(runs: Sequence[RunRecord]) -> PlanStructure:
    paths = Counter(tuple(r.critical_path) for r in runs if r.critical_path)
    unreported = "the server reported no compute time (only the embedded llama.cpp does)"
    gaps = sum(1 for r in runs if r.compute_critical_path_ms is not None
               and r.critical_path_ms
               and r.compute_critical_path_ms < COMPUTE_GAP_SHARE * r.critical_path_ms)
    return PlanStructure(
        makespan_ms=summarize((r.makespan_ms for r in runs), "no run finished"),
        critical_path_ms=summarize((r.critical_path_ms for r in runs), "no critical path"),
        parallel_efficiency=summarize((r.parallel_efficiency for r in runs),
                                      "no parallel efficiency"),
        critical_path=list(paths.most_common(1)[0][0]) if paths else [],
        compute_critical_path_ms=summarize((r.compute_critical_path_ms for r in runs),
                                           unreported),
        compute_parallel_efficiency=summarize(
            (r.compute_critical_path_ms / r.makespan_ms
             if r.compute_critical_path_ms is not None and r.makespan_ms else None
             for r in runs), unreported),
        compute_gap_runs=gaps,
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


def _by_check(steps: Sequence[StepRecord]) -> list[CheckKindStats]:
    verdicts = [v for s in steps for a in s.attempts for v in a.verdicts
                if v.method == "executed"]
    out = []
    for kind in sorted({v.check for v in verdicts}):
        mine = Counter(v.status for v in verdicts if v.check == kind)
        executed = sum(mine.values())
        out.append(CheckKindStats(check=kind, executed=executed, passed=mine["passed"],
                                  failed=mine["failed"], error=mine["error"],
                                  pass_rate=rate(mine["passed"], executed)))
    return out


def _comb(n: int, k: int) -> float:
    return float(math.comb(n, k))


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k estimator (Chen et al. 2021): 1 - C(n-c, k) / C(n, k) for ``n``
    samples of which ``c`` passed (needs k <= n)."""
    if k > n:
        raise ValueError("pass@k needs k <= n")
    if n - c < k:
        return 1.0
    return 1.0 - _comb(n - c, k) / _comb(n, k)


def _pass_at_k(runs: Sequence[RunRecord]) -> list[PassAtK]:
    """pass@k per step id over the runs' first tries, averaged over steps."""
    tries: dict[str, list[bool]] = {}
    for r in runs:
        for s in r.steps:
            if s.first_try in ("passed", "failed"):
                tries.setdefault(s.step_id, []).append(s.first_try == "passed")
    if not tries:
        return [PassAtK(k=1, note="no step had an executed check on its first try")]
    temps = {r.config.temperature for r in runs}
    if temps == {0.0}:
        return [PassAtK(k=1, note="temperature 0: the repeats are the same draw, so pass@k "
                                  "would only repeat pass@1")]
    n_min = min(len(v) for v in tries.values())
    out = []
    for k in (1, 2, 5, 10):
        if k > n_min:
            break
        values = [pass_at_k(len(v), sum(v), k) for v in tries.values()]
        out.append(PassAtK(k=k, value=sum(values) / len(values), steps=len(values)))
    return out


def _code_quality(steps: Sequence[StepRecord]) -> CodeQualitySummary:
    measured = [s.quality for s in steps if s.quality is not None]
    if not measured:
        return CodeQualitySummary(note="no step produced a Python file")
    lines = sum(q.lines for q in measured)
    findings = [q.ruff_findings for q in measured]
    per_100 = (None if any(f is None for f in findings) or not lines
               else sum(f or 0 for f in findings) * 100 / lines)
    mi = [(q.maintainability_index, q.lines) for q in measured
          if q.maintainability_index is not None]
    cc = [q.cyclomatic_complexity_mean for q in measured
          if q.cyclomatic_complexity_mean is not None]
    cc_max = [q.cyclomatic_complexity_max for q in measured
              if q.cyclomatic_complexity_max is not None]
    mi_lines = sum(n for _, n in mi)
    return CodeQualitySummary(
        steps=len(measured), python_files=sum(q.python_files for q in measured), lines=lines,
        ruff_findings_per_100_lines=per_100,
        maintainability_index_mean=(sum(v * n for v, n in mi) / mi_lines if mi_lines
                                    else None),
        cyclomatic_complexity_mean=sum(cc) / len(cc) if cc else None,
        cyclomatic_complexity_max=max(cc_max) if cc_max else None,
        note=None if per_100 is not None else "ruff did not run on every file")


def _quality(runs: Sequence[RunRecord]) -> QualitySection:
    steps = all_steps(runs)
    status = Counter(s.status for s in steps)
    passed, denominator, step_rate = pass_rate(s.status for s in steps)
    final = [v for s in steps for v in s.validation]
    judged = Counter(v.status for v in final if v.method == "judge")
    executed = [v for v in final if v.method == "executed"]
    reason = None
    if not final and not any(s.validation for s in steps):
        reason = "no validation criteria in the plan"
    elif not executed and not any(s.status in ("passed", "failed") for s in steps):
        reason = QUALITY_UNCHECKED_REASON
    repairs = sum(s.repairs for s in steps)
    return QualitySection(
        status="n/a" if reason else "measured", reason=reason, passed=passed,
        failed=status["failed"], skipped=status["skipped"], unvalidated=status["unvalidated"],
        pass_rate=step_rate, first_try_pass_rate=_first_try_rate(steps),
        first_try_passed=sum(s.first_try == "passed" for s in steps),
        by_check=_by_check(steps), judged_passed=judged["passed"],
        judged_failed=judged["failed"],
        unchecked_criteria=sum(v.status == "unchecked" for v in final),
        repairs=repairs, repairs_per_passed_step=repairs / passed if passed else None,
        validation_ms=summarize((s.validation_ms for s in steps),
                                "no check ran" if denominator else "no step checked"),
        pass_at_k=_pass_at_k(runs), code=_code_quality(steps),
        sandboxes=sorted({v.sandbox for v in executed if v.sandbox}),
    )


#: The SLOs goodput uses when the user gives none (``--slo``); shown as defaults.
DEFAULT_SLOS: dict[str, float] = {"ttft_ms": 2000.0, "tpot_ms": 100.0}


def _throughput(runs: Sequence[RunRecord]) -> Throughput:
    """Per run: measured output tokens / makespan and attempts / makespan (per second)."""
    tokens: list[float | None] = []
    requests: list[float | None] = []
    provenances: set[str] = set()
    for r in runs:
        seconds = (r.makespan_ms or 0.0) / 1000
        attempts = all_attempts(r.steps)
        counts = [a.usage.output for a in attempts]
        if not seconds or any(c.value is None for c in counts):
            tokens.append(None)
        else:
            tokens.append(sum(c.value or 0 for c in counts) / seconds)
            provenances |= {c.provenance for c in counts if c.provenance}
        requests.append(len(attempts) / seconds if seconds else None)
    note = None
    if "chunk_count" in provenances:
        note = "some output tokens are streamed-chunk counts (no usage, no tokenizer)"
    return Throughput(
        output_tokens_per_s=summarize(tokens, "no run with a makespan and every output "
                                              "token count measured"),
        requests_per_s=summarize(requests, "no run with a makespan"),
        note=note)


def _step_metric(step: StepRecord, name: str) -> float | None:
    """A step's value of an SLO metric: its last attempt's TTFT/TPOT/TTR, or its time."""
    if name == "step_time_ms":
        return step.step_time_ms
    last = step.attempts[-1] if step.attempts else None
    if last is None:
        return None
    return {"ttft_ms": last.timing.ttft_ms, "tpot_ms": last.timing.tpot_ms,
            "ttr_ms": last.timing.ttr_ms}.get(name)


def goodput(runs: Sequence[RunRecord], slos: Mapping[str, float]) -> Goodput:
    """The share of steps that did not fail and met every SLO (a metric the step did not
    measure, e.g. TPOT of a one-token answer, does not count against it); per SLO, the share
    of the steps that measured it which met it."""
    steps = all_steps(runs)
    if not steps:
        return Goodput(slos=dict(slos), note="no steps")
    within = 0
    per: dict[str, list[bool]] = {name: [] for name in slos}
    for s in steps:
        ok = s.status in ("passed", "unvalidated")
        for name, limit in slos.items():
            value = _step_metric(s, name)
            if value is None:
                continue
            per[name].append(value <= limit)
            ok = ok and value <= limit
        within += ok
    return Goodput(slos=dict(slos), steps=len(steps), within=within,
                   goodput=within / len(steps),
                   per_slo={k: (sum(v) / len(v) if v else None) for k, v in per.items()},
                   note="a failed or skipped step is never within the SLOs")


def compute_aggregates(runs: Sequence[RunRecord], cache_setting: str | None = None,
                       slos: Mapping[str, float] | None = None) -> Aggregates:
    """Every aggregate of ``runs`` (pass the measured runs only: warm-ups excluded).

    ``slos`` bound the goodput (default: the runs' own ``--slo`` values, else
    :data:`DEFAULT_SLOS`)."""
    steps = all_steps(runs)
    attempts = all_attempts(steps)
    chosen = dict(slos or next((r.config.slos for r in runs if r.config.slos), {})
                  or DEFAULT_SLOS)
    return Aggregates(
        global_figures=_global(runs), throughput=_throughput(runs),
        goodput=goodput(runs, chosen),
        latency_all=latency_table(attempts, "all attempts"),
        latency_successful=latency_table([a for a in attempts if a.status == "ok"],
                                         "successful attempts only"),
        per_provider=_per_provider(steps, sum((r.makespan_ms or 0.0) for r in runs) / 1000),
        per_task_type=_grouped(steps, lambda s: s.type),
        per_step=_grouped(steps, lambda s: s.step_id),
        plan_structure=_structure(runs),
        cache=_cache(attempts, cache_setting),
        quality=_quality(runs),
    )
