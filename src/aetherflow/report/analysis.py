"""The analysis questions, answered from the data by explicit rules and thresholds.

Each answer is a short verdict plus the figures it rests on. The thresholds live in the
report model (:class:`~aetherflow.results.bench.Thresholds`) so a re-render judges alike;
docs/benchmarks.md lists them.
"""

from __future__ import annotations

from dataclasses import dataclass

from aetherflow.report.format import fmt_num, fmt_pct, fmt_usd
from aetherflow.results.bench import BenchmarkData, GroupStats

__all__ = ["FAILED_LISTED", "Answer", "analyse"]

#: Step ids the "Did it succeed?" answer names before it counts the rest.
FAILED_LISTED = 20


@dataclass(frozen=True)
class Answer:
    """One analysis question and its answer."""

    question: str
    answer: str


def _succeeded(data: BenchmarkData) -> Answer:
    """Answered from pass rates of executed checks; unvalidated steps are never a yes."""
    g = data.aggregates.global_figures
    q = "Did it succeed?"
    if g.runs == 0:
        return Answer(q, "n/a (no measured run)")
    n = g.steps_passed + g.steps_failed + g.steps_skipped
    failed = sorted({s.step_id for r in data.measured_runs() for s in r.steps
                     if s.status in ("failed", "skipped")})
    if n == 0:
        return Answer(q, f"unknown: none of the {g.steps:,} steps had an executable check "
                         "(free-text criteria only), so nothing says whether the code works")
    verdict = "yes" if g.steps_passed == n and not g.steps_unvalidated else (
        "partly" if g.steps_passed else "no")
    text = (f"{verdict}: pass rate {fmt_pct(g.pass_rate)} ({g.steps_passed:,} of {n:,} "
            f"steps passed their executed checks, failed plans counted; first try "
            f"{fmt_pct(g.first_try_pass_rate)}); {g.plans_passed:,} of {g.runs:,} plan runs "
            f"passed")
    if g.steps_unvalidated:
        text += (f"; {g.steps_unvalidated:,} steps unvalidated (nothing checkable), "
                 "not counted")
    if failed:
        more = (f" and {len(failed) - FAILED_LISTED:,} more"
                if len(failed) > FAILED_LISTED else "")
        text += (f"; steps that failed or were skipped at least once: "
                 f"{', '.join(failed[:FAILED_LISTED])}{more}")
    return Answer(q, text)


def _performance(data: BenchmarkData) -> Answer:
    good = data.aggregates.goodput
    if good is not None and good.slos:
        return _goodput_answer(data)
    t, lat = data.thresholds, data.aggregates.latency_all
    q = (f"Is performance acceptable? (thresholds: TTFT p50 <= {t.ttft_p50_ms:g} ms, "
         f"TTFT p95 <= {t.ttft_p95_ms:g} ms, TPOT p50 <= {t.tpot_p50_ms:g} ms/token)")
    checks = [("TTFT p50", lat.ttft_ms.p50, t.ttft_p50_ms, "ms"),
              ("TTFT p95", lat.ttft_ms.p95, t.ttft_p95_ms, "ms"),
              ("TPOT p50", lat.tpot_ms.p50, t.tpot_p50_ms, "ms/token")]
    measured = [(n, v, lim, u) for n, v, lim, u in checks if v is not None]
    if not measured:
        return Answer(q, "n/a (no latency measured)")
    over = [f"{n} {fmt_num(v)} {u} > {lim:g}" for n, v, lim, u in measured if v > lim]
    seen = "; ".join(f"{n} {fmt_num(v)} {u}" for n, v, _, u in measured)
    if over:
        return Answer(q, f"no: {'; '.join(over)} (all attempts)")
    return Answer(q, f"yes: {seen} (all attempts)")


def _goodput_answer(data: BenchmarkData) -> Answer:
    """Judged against the SLOs (the user's ``--slo``, else the documented defaults)."""
    good = data.aggregates.goodput
    assert good is not None
    which = "default SLOs (set your own with --slo)" if data.meta.slos_default else "your SLOs"
    slos = ", ".join(f"{k} <= {v:g}" for k, v in good.slos.items())
    q = f"Is performance acceptable? ({which}: {slos} per step)"
    if good.goodput is None:
        return Answer(q, f"n/a ({good.note})")
    per = "; ".join(f"{k} met by {fmt_pct(v)}" for k, v in good.per_slo.items())
    verdict = "yes" if good.within == good.steps else ("partly" if good.within else "no")
    text = (f"{verdict}: goodput {fmt_pct(good.goodput)} ({good.within:,} of {good.steps:,} "
            f"steps did not fail and met every SLO); {per}")
    load = data.meta.machine_load
    if load is not None and load.busy:
        text += f". Careful: {load.warning}"
    return Answer(q, text)


def _cost(data: BenchmarkData) -> Answer:
    t, c = data.thresholds, data.aggregates.global_figures.cost
    q = (f"Is cost reasonable? (thresholds: <= {fmt_usd(t.cost_per_passed_plan_usd)} per "
         f"passed plan; failed attempts <= {fmt_pct(t.failed_attempt_cost_share)} of cost)")
    if c.total_usd is None:
        return Answer(q, f"n/a ({c.note})")
    src = ", ".join(c.price_sources) or "no price source"
    if c.total_usd == 0:
        return Answer(q, f"yes: total {fmt_usd(0.0)} (price source: {src})")
    if c.per_passed_plan_usd is None:
        return Answer(q, f"no: {fmt_usd(c.total_usd)} spent and no plan passed its checks")
    share = (c.failed_attempts_usd or 0.0) / c.total_usd
    ok = (c.per_passed_plan_usd <= t.cost_per_passed_plan_usd
          and share <= t.failed_attempt_cost_share)
    return Answer(q, f"{'yes' if ok else 'no'}: {fmt_usd(c.per_passed_plan_usd)} per "
                     f"passed plan, failed attempts {fmt_pct(share)} of "
                     f"{fmt_usd(c.total_usd)} (price source: {src})")


def _providers(data: BenchmarkData) -> Answer:
    q = "What differs between providers?"
    groups = data.aggregates.per_provider
    if len(groups) < 2:
        return Answer(q, "one provider: no comparison")

    def line(g: GroupStats) -> str:
        return (f"{g.key}: TTFT p50 {fmt_num(g.latency.ttft_ms.p50)} ms, TTR p50 "
                f"{fmt_num(g.latency.ttr_ms.p50)} ms, pass rate {fmt_pct(g.pass_rate)}, "
                f"cost {fmt_usd(g.cost_usd)}")

    ranked = sorted(groups, key=lambda g: (g.latency.ttft_ms.p50 is None,
                                           g.latency.ttft_ms.p50 or 0.0))
    return Answer(q, "; ".join(line(g) for g in ranked) + " (ordered by TTFT p50; use "
                     "`aetherflow compare` for differences with confidence intervals)")


def _ttft_split(data: BenchmarkData) -> list[str]:
    """Where TTFT goes, when the server reported its prefill time, and what would cut it."""
    t, lat = data.thresholds, data.aggregates.latency_all
    ttft, prefill, outside = (lat.ttft_ms.p50, lat.server_prefill_ms.p50,
                              lat.ttft_outside_prefill_ms.p50)
    if not ttft or prefill is None or outside is None:
        return []
    split = (f"of TTFT p50 {fmt_num(ttft)} ms, server prefill p50 is {fmt_num(prefill)} ms "
             f"({fmt_pct(prefill / ttft)}) and TTFT outside prefill p50 {fmt_num(outside)} ms")
    if prefill / ttft > t.prefill_share_of_ttft:
        return [f"{split}: the prompt dominates; shorter prompts, or prefix caching of shared "
                "context (--set cache=on), would cut it"]
    return [f"{split}: the serving stack (HTTP, templating, detokenizing, queueing inside "
            "the server), not the model's prefill, is the larger part"]


def _improvements(data: BenchmarkData) -> list[str]:
    t, a = data.thresholds, data.aggregates
    g, ps, lat = a.global_figures, a.plan_structure, a.latency_all
    tips: list[str] = []
    eff = ps.parallel_efficiency.p50
    if eff is not None and eff < t.parallel_efficiency:
        tips.append(f"parallel efficiency p50 {eff:.2f} < {t.parallel_efficiency:g}: the "
                    "schedule is far from the critical path; raise concurrency or split long "
                    "steps")
    q50, r50 = lat.queue_latency_ms.p50, lat.ttr_ms.p50
    if q50 is not None and r50 and q50 / r50 > t.queue_share_of_ttr:
        tips.append(f"queue latency p50 {fmt_num(q50)} ms is {fmt_pct(q50 / r50)} of TTR p50: "
                    "steps wait for a concurrency slot; raise concurrency (if the provider "
                    "keeps up)")
    tips += _ttft_split(data)
    if ps.compute_gap_runs:
        tips.append(f"in {ps.compute_gap_runs} run(s) the server's compute critical path is "
                    "under half the service-time one: steps waited inside the server (a "
                    "single-slot server serialises them), so parallel efficiency overstates "
                    "the schedule; more server slots, not more concurrency, would help")
    if g.pass_rate is not None and g.pass_rate < t.pass_rate:
        tips.append(f"pass rate {fmt_pct(g.pass_rate)}: fix or reroute the failing steps "
                    "(see the steps and verdicts table); --repairs gives a model its failing "
                    "checks' output")
    if g.attempts_per_step is not None and g.attempts_per_step > t.attempts_per_step:
        tips.append(f"{g.attempts_per_step:.2f} attempts per step: retries cost time and "
                    "money; check provider errors or add a fallback provider")
    if g.truncation_rate is not None and g.truncation_rate > t.length_stop_share:
        tips.append(f"{g.truncated_attempts} of {g.answered_attempts} answers stopped at "
                    "max_tokens: outputs are truncated; raise --max-tokens")
    if a.quality.status == "n/a":
        tips.append(f"quality is not measured ({a.quality.reason}); add structured checks "
                    "(pytest, command, python_syntax) to the plan's criteria")
    return tips or ["no rule triggered: nothing obvious to improve from these figures"]


def analyse(data: BenchmarkData) -> list[Answer]:
    """Every analysis question with its data-derived answer."""
    tips = _improvements(data)
    return [
        _succeeded(data), _performance(data), _cost(data), _providers(data),
        Answer("What to improve?", "; ".join(tips)),
    ]
