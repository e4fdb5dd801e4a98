"""Aggregates and report views against a hand-built set of run records with known values."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from aetherflow.bench.aggregate import QUALITY_UNCHECKED_REASON, compute_aggregates
from aetherflow.bench.runner import build_benchmark_data, load_benchmark_data, write_benchmark_data
from aetherflow.report import render_markdown, write_bench_reports
from aetherflow.report.analysis import FAILED_LISTED, analyse
from aetherflow.results.bench import BenchmarkData, BenchMeta, BenchRun
from aetherflow.results.run import (
    AttemptRecord,
    CostBreakdown,
    Environment,
    RunConfig,
    RunRecord,
    StepRecord,
    TimingMetrics,
    TokenCount,
    Usage,
    Verdict,
)

ENV = Environment(hostname="h", platform="p", machine="m", cpu_count=2, python="3.11",
                  aetherflow_version="0")


def make_attempt(ttft: float, *, ok: bool = True, cost: float | None = 0.01,
                 provider: str = "emu", out_tokens: int = 10,
                 cache_read: int | None = None) -> AttemptRecord:
    """An attempt with TTFT ``ttft`` and TTR ``2 * ttft``."""
    return AttemptRecord(
        attempt=1, provider=provider, model="m", status="ok" if ok else "error",
        started_at_ms=0.0, timeline_ms={"dispatched": 0.0},
        timing=TimingMetrics(ttft_ms=ttft, ttr_ms=2 * ttft, tpot_ms=5.0, queue_latency_ms=1.0,
                             network_overhead_ms=0.0),
        usage=Usage(input=TokenCount(value=100, provenance="server"),
                    output=TokenCount(value=out_tokens, provenance="server"),
                    cache_read=TokenCount(value=cache_read, provenance="server")
                    if cache_read is not None else TokenCount.unknown("no cache field")),
        cost=CostBreakdown(total_usd=cost, price_source="test prices",
                           note=None if cost is not None else "no price"),
    )


def verdict(status: str, check: str = "pytest") -> Verdict:
    """An executed verdict (or an unchecked free-text one for ``status="unchecked"``)."""
    if status == "unchecked":
        return Verdict(criterion="free text", status="unchecked")
    return Verdict(criterion=check, check=check, status=status, method="executed",  # type: ignore[arg-type]
                   sandbox="test")


def make_step(step_id: str, ttfts: list[float], status: str = "passed",
              step_type: str = "code_generation", **kw: object) -> StepRecord:
    """A step whose attempts have the given TTFTs (all but the last failed when >1); a
    passed step's last attempt passed a pytest check, a failed step's failed it."""
    attempts = [make_attempt(t, ok=(i == len(ttfts) - 1 and status != "failed"), **kw)  # type: ignore[arg-type]
                for i, t in enumerate(ttfts)]
    for i, a in enumerate(attempts, start=1):
        a.attempt = i
    final = {"passed": [verdict("passed")], "failed": [verdict("failed")],
             "unvalidated": [verdict("unchecked")]}.get(status, [])
    if attempts and final:
        attempts[-1].verdicts = list(final)
    return StepRecord(step_id=step_id, type=step_type, status=status, provider="emu",  # type: ignore[arg-type]
                      ready_at_ms=0.0, finished_at_ms=100.0, step_time_ms=100.0,
                      attempts=attempts, validation=final,
                      first_try=status if status in ("passed", "failed", "unvalidated")  # type: ignore[arg-type]
                      else None)


def make_run(run_id: str, steps: list[StepRecord], makespan: float = 1000.0,
             status: str = "passed") -> RunRecord:
    """A finished run record."""
    return RunRecord(
        run_id=run_id, task_id="t", plan_path="plan.json", status=status,  # type: ignore[arg-type]
        started_at="2025-01-01T00:00:00+00:00", finished_at="2025-01-01T00:00:01+00:00",
        config=RunConfig(provider="emu", model="m", concurrency=2, max_tokens=16,
                         temperature=0.0, step_timeout_s=10, max_attempts=2, emulated=True),
        environment=ENV, steps=steps, makespan_ms=makespan, critical_path_ms=makespan * 0.5,
        critical_path=["a"], parallel_efficiency=0.5,
    )


def known_runs() -> list[RunRecord]:
    """Two runs; TTFTs 100, 200, 300, 400 (p50 250); the second plan failed."""
    ok = make_run("r1", [make_step("a", [100.0]), make_step("b", [200.0], step_type="analysis")])
    bad = make_run("r2", [make_step("a", [300.0]),
                          make_step("b", [400.0], status="failed", step_type="analysis")],
                   makespan=3000.0, status="failed")
    return [ok, bad]


_BENCHES = itertools.count(1)


def make_data(runs: list[RunRecord] | None = None,
              warmup: RunRecord | None = None) -> BenchmarkData:
    """Bench data over ``runs`` (default :func:`known_runs`) and an optional warm-up."""
    runs = runs if runs is not None else known_runs()
    meta = BenchMeta(plan="plan.json", task_id="t", label="L", repeats=len(runs),
                     warmup=1 if warmup else 0, provider="emu", model="m", emulated=True,
                     started_at="2025-01-01T00:00:00+00:00", environment=ENV)
    tag = next(_BENCHES)  # each bench's runs are its own: unique run ids across benches
    entries = [BenchRun(index=1, warmup=True, record=warmup)] if warmup else []
    entries += [BenchRun(index=i, record=r.model_copy(update={"run_id": f"{r.run_id}@{tag}"}))
                for i, r in enumerate(runs, start=1)]
    return build_benchmark_data(meta, entries)


def test_latency_distribution_of_known_values() -> None:
    agg = compute_aggregates(known_runs())
    ttft = agg.latency_all.ttft_ms
    assert (ttft.n, ttft.p50, ttft.mean, ttft.min, ttft.max) == (4, 250.0, 250.0, 100.0, 400.0)
    assert agg.latency_all.ttr_ms.p50 == 500.0
    # the failed attempt (ttft 400) is excluded from the successful-only population
    assert agg.latency_successful.ttft_ms.n == 3 and agg.latency_successful.ttft_ms.max == 300.0


def test_failed_plans_stay_in_totals() -> None:
    g = compute_aggregates(known_runs()).global_figures
    assert (g.runs, g.plans_passed, g.plan_pass_rate) == (2, 1, 0.5)
    assert (g.steps, g.steps_passed, g.steps_failed, g.pass_rate) == (4, 3, 1, 0.75)
    assert g.first_try_pass_rate == 0.75
    assert g.cost.total_usd == pytest.approx(0.04)
    assert g.cost.per_passed_plan_usd == pytest.approx(0.04)
    assert g.cost.per_passed_step_usd == pytest.approx(0.04 / 3)
    assert g.cost.failed_attempts_usd == pytest.approx(0.01)
    assert g.tokens_output.total == 40 and g.tokens_output.provenance == ["server"]
    assert g.makespan_ms.mean == 2000.0


def test_groups_per_task_type_and_step() -> None:
    agg = compute_aggregates(known_runs())
    by_type = {g.key: g for g in agg.per_task_type}
    assert set(by_type) == {"analysis", "code_generation"}
    assert by_type["analysis"].pass_rate == 0.5
    assert by_type["code_generation"].latency.ttft_ms.p50 == 200.0
    assert [g.key for g in agg.per_step] == ["a", "b"]
    assert [g.key for g in agg.per_provider] == ["emu"]


def test_unpriced_attempt_makes_cost_na_not_zero() -> None:
    runs = [make_run("r", [make_step("a", [100.0], cost=None)])]
    cost = compute_aggregates(runs).global_figures.cost
    assert cost.total_usd is None and cost.note and "unpriced" in cost.note


def test_cache_and_quality_na_reasons_come_from_the_data() -> None:
    agg = compute_aggregates(known_runs())
    assert agg.cache.status == "n/a" and "not reported by this provider" in (agg.cache.reason or "")
    assert "no cache field" in (agg.cache.reason or "")
    assert agg.quality.status == "measured" and agg.quality.pass_rate == 0.75
    unchecked = compute_aggregates([make_run("r", [make_step("a", [1.0], "unvalidated")],
                                             status="unvalidated")])
    assert unchecked.quality.status == "n/a"
    assert unchecked.quality.reason == QUALITY_UNCHECKED_REASON
    assert unchecked.global_figures.pass_rate is None  # unvalidated is never a success
    assert unchecked.global_figures.steps_unvalidated == 1
    measured = compute_aggregates([make_run("r", [make_step("a", [1.0], cache_read=50)])])
    assert measured.cache.status == "measured" and measured.cache.token_hit_rate == 0.5


def test_warmup_runs_are_kept_but_excluded() -> None:
    warm = make_run("w", [make_step("a", [9000.0])])
    data = make_data(warmup=warm)
    assert len(data.runs) == 3 and data.runs[0].warmup
    assert data.aggregates.latency_all.ttft_ms.max == 400.0


def test_markdown_shows_known_statistics_and_answers() -> None:
    md = render_markdown(make_data())
    assert "| TTFT (ms) | 4 | 250.0 | 250.0 |" in md
    assert "3 of 4 steps passed their executed checks" in md and "75.0%" in md
    assert "| pytest | 4 | 3 | 1 | 0 | 75.0% |" in md
    assert "one provider: no comparison" in md
    assert "parallel efficiency p50 0.50 < 0.8" in md
    assert "emulator" in md


def test_analysis_flags_slow_ttft() -> None:
    runs = [make_run("r", [make_step("a", [3000.0, 3000.0], status="passed")])]
    answers = {a.question.split("?")[0]: a.answer for a in analyse(make_data(runs))}
    assert answers["Is performance acceptable"].startswith("no: goodput 0.0% (0 of 1 steps")
    assert "ttft_ms met by 0.0%; tpot_ms met by 100.0%" in answers["Is performance acceptable"]


def test_succeeded_answer_names_some_failed_steps_and_counts_the_rest() -> None:
    """Thousands of failed steps: the answer names FAILED_LISTED of them, counts the
    rest and writes the figures with thousands separators."""
    steps = [make_step(f"s{i:04d}", [100.0], status="failed") for i in range(1500)]
    answers = {a.question.split("?")[0]: a.answer
               for a in analyse(make_data([make_run("r", steps, status="failed")]))}
    text = answers["Did it succeed"]
    assert text.startswith("no: pass rate 0.0% (0 of 1,500 steps")
    assert f"s{FAILED_LISTED - 1:04d}, s{FAILED_LISTED:04d}" not in text
    assert f"s{FAILED_LISTED - 1:04d} and {1500 - FAILED_LISTED:,} more" in text


def test_goodput_counts_failed_steps_as_outside_and_uses_the_given_slos() -> None:
    from aetherflow.bench.aggregate import goodput

    runs = [make_run("r", [make_step("a", [100.0]), make_step("b", [5000.0]),
                           make_step("c", [50.0], status="failed")], status="failed")]
    good = goodput(runs, {"ttft_ms": 1000.0})
    assert (good.steps, good.within, good.goodput) == (3, 1, 1 / 3)
    assert good.per_slo == {"ttft_ms": 2 / 3}  # c met the SLO but failed: not goodput
    assert goodput(runs, {"ttft_ms": 10_000.0}).within == 2


def test_rerender_from_stored_json_is_identical(tmp_path: Path) -> None:
    data = make_data()
    write_benchmark_data(data, tmp_path)
    again = load_benchmark_data(tmp_path)
    assert again == data
    assert render_markdown(again) == render_markdown(data)


def test_every_report_file_is_written(tmp_path: Path) -> None:
    files = write_bench_reports(make_data(), tmp_path)
    names = {f.name for f in files}
    assert names == {"benchmark_report.md", "benchmark_report.html", "latency.png",
                     "timeline.png", "tokens_cost.png", "quality.png"}
    for f in files:
        assert f.stat().st_size > 0
    assert (tmp_path / "timeline.png").read_bytes()[:4] == b"\x89PNG"
    page = (tmp_path / "benchmark_report.html").read_text()
    assert "<script src=" not in page and "plotly.js v" in page  # inlined, no CDN
    assert page.count("Plotly.newPlot") == 4
