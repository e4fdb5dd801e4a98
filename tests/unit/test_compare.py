"""compare: designs, estimators and methods per metric, --fail-if modes, the CLI's output."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from aetherflow.bench.compare import (
    METRICS,
    ComparisonData,
    FailRule,
    compare_benches,
    default_comparison_dir,
    evaluate_rules,
    parse_fail_if,
)
from aetherflow.bench.runner import build_benchmark_data, write_benchmark_data
from aetherflow.cli import compare as compare_cli
from aetherflow.errors import ConfigError
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
)

ENV = Environment(hostname="h", platform="p", machine="m", cpu_count=2, python="3.11",
                  aetherflow_version="0")


def attempt(ttft: float, *, provider: str = "emu", ok: bool = True, cost: float | None = 0.01,
            tokens_in: int = 100, truncated: bool = False, kind: str = "generation"
            ) -> AttemptRecord:
    """An attempt with TTFT ``ttft`` and TTR ``2 * ttft``."""
    return AttemptRecord(
        attempt=1, provider=provider, model="m", status="ok" if ok else "error",
        started_at_ms=0.0, timeline_ms={"dispatched": 0.0}, truncated=truncated,
        kind=kind,  # type: ignore[arg-type]
        timing=TimingMetrics(ttft_ms=ttft, ttr_ms=2 * ttft, tpot_ms=5.0, queue_latency_ms=1.0,
                             network_overhead_ms=0.0),
        usage=Usage(input=TokenCount(value=tokens_in, provenance="server"),
                    output=TokenCount(value=10, provenance="server")),
        cost=CostBreakdown(total_usd=cost, price_source="test prices"),
    )


def step(step_id: str, attempts: list[AttemptRecord], status: str = "passed", *,
         first_try: str | None = None, validation_ms: float | None = 5.0,
         step_type: str = "code_generation") -> StepRecord:
    """A v2 step; ``first_try`` defaults to the status (or None when skipped)."""
    for i, a in enumerate(attempts, start=1):
        a.attempt = i
    first = first_try if first_try is not None else (None if status == "skipped" else status)
    return StepRecord(step_id=step_id, type=step_type, status=status,  # type: ignore[arg-type]
                      provider=attempts[0].provider if attempts else None,
                      ready_at_ms=0.0, finished_at_ms=100.0, step_time_ms=100.0,
                      attempts=attempts, first_try=first,  # type: ignore[arg-type]
                      repairs=sum(a.kind == "repair" for a in attempts),
                      validation_ms=validation_ms)


def run(run_id: str, steps: list[StepRecord], status: str = "passed",
        makespan: float = 1000.0, efficiency: float = 0.5) -> RunRecord:
    """A finished run record."""
    return RunRecord(
        run_id=run_id, task_id="t", plan_path="plan.json", status=status,  # type: ignore[arg-type]
        started_at="2025-01-01T00:00:00+00:00", finished_at="2025-01-01T00:00:01+00:00",
        config=RunConfig(provider="emu", model="m", concurrency=2, max_tokens=16,
                         temperature=0.0, step_timeout_s=10, max_attempts=2, emulated=True),
        environment=ENV, steps=steps, makespan_ms=makespan, critical_path_ms=makespan * 0.5,
        critical_path=["a"], parallel_efficiency=efficiency,
    )


_BENCHES = itertools.count(1)


def bench(runs: list[RunRecord], label: str | None = "L",
          bench_id: int | None = None) -> BenchmarkData:
    """Bench data over ``runs``."""
    meta = BenchMeta(plan="plan.json", task_id="t", label=label, repeats=len(runs), warmup=0,
                     provider="emu", model="m", emulated=True, bench_id=bench_id,
                     started_at="2025-01-01T00:00:00+00:00", environment=ENV)
    # Each bench's runs are its own (as real runs are): unique run ids across benches.
    tag = next(_BENCHES)
    return build_benchmark_data(meta, [
        BenchRun(index=i, record=r.model_copy(update={"run_id": f"{r.run_id}@{tag}"}))
        for i, r in enumerate(runs, start=1)])


def ttft_bench(ttfts: list[float], cost: float = 0.01, label: str = "L") -> BenchmarkData:
    """One step ``a`` per run, TTFT ``ttfts[i]`` in run ``i``."""
    return bench([run(f"{label}-r{i}", [step("a", [attempt(t, cost=cost)])])
                  for i, t in enumerate(ttfts)], label=label)


# --- parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize(("expr", "metric", "op", "value", "relative"), [
    ("ttft_p50>+10%", "ttft_p50", ">", 0.10, True),
    ("pass_rate<-0.05", "pass_rate", "<", -0.05, False),
    (" cost_total > 5 % ", "cost_total", ">", 0.05, True),
    ("makespan<-250", "makespan", "<", -250.0, False),
    ("first_try_pass_rate<-0.1", "first_try_pass_rate", "<", -0.1, False),
    ("cost_per_passed_step>+20%", "cost_per_passed_step", ">", 0.2, True),
])
def test_parse_fail_if(expr: str, metric: str, op: str, value: float, relative: bool) -> None:
    rule = parse_fail_if(expr)
    assert (rule.metric, rule.op, rule.relative) == (metric, op, relative)
    assert rule.threshold == pytest.approx(value)


@pytest.mark.parametrize(("expr", "needle"), [
    ("ttft_p50>>1", "expected METRIC>NUMBER"), ("ttft_p50=1", "expected"),
    ("ttft_p50>ten", "expected"), ("latency>1%", "unknown metric 'latency'"),
    ("success_rate<-0.05", "'success_rate' was removed.*use pass_rate"),
    ("plan_success_rate<-0.05", "removed.*plan_pass_rate"),
])
def test_bad_fail_if_is_config_error(expr: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        parse_fail_if(expr)


def test_new_pass_rate_metrics_are_compared_and_old_names_are_gone() -> None:
    for name in ("pass_rate", "first_try_pass_rate", "plan_pass_rate", "unvalidated_share",
                 "truncation_rate", "repairs_per_passed_step", "validation_time_mean",
                 "cost_per_passed_step"):
        assert name in METRICS
    assert "success_rate" not in METRICS and "plan_success_rate" not in METRICS


# --- designs and estimators -----------------------------------------------------------------


def _sized_steps(tokens: list[int]) -> list[StepRecord]:
    return [step(f"s{i}", [attempt(100.0 + i, tokens_in=t)]) for i, t in enumerate(tokens)]


def test_same_plan_is_paired_and_identical_tokens_give_zero_interval() -> None:
    # The review's "input tokens 737 vs 737 with an interval of [-344, +368]".
    tokens = [120, 2900, 737, 45, 1800]
    a = bench([run(f"a{i}", _sized_steps(tokens)) for i in range(3)])
    b = bench([run(f"b{i}", _sized_steps(tokens)) for i in range(3)])
    data = compare_benches(a, b)
    assert data.design == "paired" and data.design_note is not None
    row = data.row("input_tokens_mean")
    assert row is not None
    e = row.estimate
    assert e.method == "cluster-bootstrap-paired" and e.paired_steps == 5
    assert (e.difference, e.ci_low, e.ci_high, e.significant) == (0.0, 0.0, 0.0, False)
    assert (e.runs_a, e.runs_b) == (3, 3)


def test_different_steps_are_independent_and_use_unpaired_clusters() -> None:
    a = bench([run(f"a{i}", [step("x", [attempt(100.0 + i)])]) for i in range(3)])
    b = bench([run(f"b{i}", [step("y", [attempt(120.0 + i)])]) for i in range(3)])
    data = compare_benches(a, b)
    assert data.design == "independent" and "different steps" in (data.design_note or "")
    row = data.row("ttft_mean")
    assert row is not None and row.estimate.method == "cluster-bootstrap"
    assert row.estimate.difference == pytest.approx(20.0)


def test_known_difference_significance_and_relative_interval() -> None:
    a = ttft_bench([100.0, 110.0, 120.0, 130.0])
    b = ttft_bench([200.0, 210.0, 220.0, 230.0])
    data = compare_benches(a, b)
    row = data.row("ttft_mean")
    assert row is not None and row.unit == "ms" and row.better == "lower"
    e = row.estimate
    assert e.difference == pytest.approx(100.0)
    assert e.relative_difference == pytest.approx(100 / 115)
    assert e.significant is True
    assert e.relative_ci_low is not None and e.relative_ci_high is not None
    assert 0 < e.relative_ci_low < 100 / 115 < e.relative_ci_high
    assert data.row("ttft_p50", "task_type:code_generation") is not None
    assert data.row("ttft_p50", "provider:emu") is not None
    assert data.row("makespan", "provider:emu") is None  # run-level: global only


def test_relative_ci_of_latency_never_below_minus_100_percent() -> None:
    data = compare_benches(ttft_bench([100.0, 900.0, 150.0]), ttft_bench([40.0, 60.0, 700.0]))
    row = data.row("ttft_mean")
    assert row is not None
    e = row.estimate
    assert e.ci_low is not None and e.a_value is not None and e.ci_low / e.a_value < -1
    assert e.relative_ci_low is not None and e.relative_ci_low > -1.0


def test_tiny_change_of_parallel_efficiency_over_three_runs_is_not_significant() -> None:
    a = bench([run(f"a{i}", [step("a", [attempt(1.0)])], efficiency=e)
               for i, e in enumerate([0.801, 0.799, 0.800])])
    b = bench([run(f"b{i}", [step("a", [attempt(1.0)])], efficiency=e)
               for i, e in enumerate([0.800, 0.798, 0.799])])
    row = compare_benches(a, b).row("parallel_efficiency")
    assert row is not None
    assert row.estimate.relative_difference == pytest.approx(-0.00125, abs=1e-4)
    assert row.estimate.significant is False


def test_one_run_per_side_gives_no_ci_for_samples_and_newcombe_for_rates() -> None:
    a = bench([run("a", [step("s1", [attempt(100.0)]), step("s2", [attempt(110.0)])])])
    b = bench([run("b", [step("s1", [attempt(200.0)]),
                         step("s2", [attempt(210.0)], status="failed")], status="failed")])
    data = compare_benches(a, b)
    ttft = data.row("ttft_mean")
    assert ttft is not None and ttft.estimate.significant is None
    assert ttft.estimate.note is not None and "at least 2 runs" in ttft.estimate.note
    rate = data.row("pass_rate")
    assert rate is not None and rate.estimate.method == "newcombe"
    assert rate.estimate.difference == pytest.approx(-0.5)
    assert rate.estimate.note is not None and "independent" in rate.estimate.note


def _pass_rate_runs(prefix: str, statuses: list[list[str]]) -> list[RunRecord]:
    """One run per list; step ``s{j}`` gets status ``statuses[i][j]``."""
    out = []
    for i, row in enumerate(statuses):
        steps = [step(f"s{j}", [] if st == "skipped" else [attempt(100.0)], st)
                 for j, st in enumerate(row)]
        status = "passed" if all(s == "passed" for s in row) else (
            "failed" if any(s in ("failed", "skipped") for s in row) else "unvalidated")
        out.append(run(f"{prefix}{i}", steps, status))
    return out


def test_pass_rate_counts_skipped_leaves_unvalidated_out_and_reports_them() -> None:
    a = bench(_pass_rate_runs("a", [["passed", "passed", "unvalidated", "passed"]] * 3))
    b = bench(_pass_rate_runs("b", [["passed", "failed", "unvalidated", "skipped"],
                                    ["passed", "passed", "unvalidated", "passed"],
                                    ["passed", "failed", "unvalidated", "skipped"]]))
    data = compare_benches(a, b)
    row = data.row("pass_rate")
    assert row is not None and row.unit == "rate" and row.better == "higher"
    e = row.estimate
    assert e.method == "cluster-bootstrap-paired"
    assert e.a_value == pytest.approx(1.0)
    # per step over 3 runs: s0 1, s1 1/3, s3 1/3 -> mean 5/9 (s2 unvalidated everywhere)
    assert e.b_value == pytest.approx(5 / 9)
    assert (e.n_a, e.n_b, e.missing_a, e.missing_b) == (9, 9, 3, 3)
    assert e.relative_ci_low is None  # rates: points, not relative
    unvalidated = data.row("unvalidated_share")
    assert unvalidated is not None and unvalidated.estimate.a_value == pytest.approx(0.25)
    plan = data.row("plan_pass_rate")
    assert plan is not None and plan.estimate.method == "newcombe"
    assert plan.estimate.a_value == 0.0  # an unvalidated step makes no run "passed"
    assert plan.estimate.b_value == 0.0


def test_plan_pass_rate_is_newcombe_over_runs() -> None:
    a = bench(_pass_rate_runs("a", [["passed"]] * 4))
    b = bench(_pass_rate_runs("b", [["passed"], ["failed"], ["failed"], ["failed"]]))
    row = compare_benches(a, b).row("plan_pass_rate")
    assert row is not None
    e = row.estimate
    assert (e.a_value, e.b_value, e.n_a, e.n_b, e.runs_a) == (1.0, 0.25, 4, 4, 4)
    assert e.method == "newcombe"


def test_first_try_truncation_repairs_validation_and_cost_per_passed_step() -> None:
    def runs(prefix: str) -> list[RunRecord]:
        out = []
        for i in range(2):
            s1 = step("s1", [attempt(100.0, truncated=True),
                             attempt(90.0, kind="repair", cost=0.02)],
                      first_try="failed", validation_ms=10.0)
            s2 = step("s2", [attempt(100.0)], validation_ms=30.0)
            s3 = step("s3", [attempt(100.0, ok=False), attempt(100.0, kind="repair")],
                      "failed", first_try="failed", validation_ms=None)
            out.append(run(f"{prefix}{i}", [s1, s2, s3], "failed"))
        return out

    data = compare_benches(bench(runs("a")), bench(runs("b")))
    expected = {
        "first_try_pass_rate": 1 / 3,  # only s2 passed on its first answered generation
        # paired, so every step weighs the same: s1 1/2 of its answered attempts cut, s2 0,
        # s3 0 (pooled it would be 1/4)
        "truncation_rate": 1 / 6,
        "repairs_per_passed_step": 2 / 2,  # 2 repairs per run, 2 passed steps per run
        "validation_time_mean": 20.0,  # (10 + 30) / 2, s3 not measured
        "cost_per_passed_step": (0.03 + 0.01 + 0.02) / 2,
    }
    for metric, value in expected.items():
        row = data.row(metric)
        assert row is not None, metric
        assert row.estimate.a_value == pytest.approx(value), metric
        assert row.estimate.difference == pytest.approx(0.0), metric
    ratio = data.row("cost_per_passed_step")
    assert ratio is not None and ratio.estimate.method == "cluster-bootstrap"  # never paired


# --- --fail-if ------------------------------------------------------------------------------


def _rules(*exprs: str) -> list[FailRule]:
    return [parse_fail_if(e) for e in exprs]


def test_fail_if_significant_mode_needs_a_significant_change() -> None:
    # +20 % on average but very noisy over 3 runs: beyond +10 %, not significant.
    noisy = compare_benches(ttft_bench([100.0, 300.0, 200.0]), ttft_bench([380.0, 90.0, 250.0]))
    sig, point = (evaluate_rules(noisy, _rules("ttft_mean>+10%"), mode)[0]
                  for mode in ("significant", "point"))
    assert sig.beyond_threshold is True and sig.significant is False
    assert not sig.triggered and sig.mode == "significant" and "not significant" in sig.detail
    assert point.triggered and point.mode == "point" and "mode point" in point.detail
    # a clear +20 %: both modes fire
    clear = compare_benches(ttft_bench([100.0, 101.0, 99.0]), ttft_bench([120.0, 121.0, 119.0]))
    assert evaluate_rules(clear, _rules("ttft_mean>+10%"))[0].triggered
    assert not evaluate_rules(clear, _rules("ttft_mean>+30%"))[0].triggered


def test_fail_if_without_significance_fails_closed_and_missing_data_triggers() -> None:
    one = compare_benches(ttft_bench([100.0]), ttft_bench([150.0]))
    res = evaluate_rules(one, _rules("ttft_mean>+10%", "ttft_mean>+80%"))
    assert res[0].triggered and res[0].significant is None and "fails closed" in res[0].detail
    assert not res[1].triggered  # within the threshold: nothing to fail on
    # nothing measured at all: the gate cannot pass
    missing = compare_benches(ttft_bench([1.0, 1.0]), ttft_bench([1.0, 1.0]))
    res = evaluate_rules(missing, _rules("server_prefill_mean>+10%"))
    assert res[0].triggered and res[0].value is None and "missing data" in res[0].detail


def test_fail_if_on_pass_rate() -> None:
    a = bench(_pass_rate_runs("a", [["passed"] * 10] * 4))
    b = bench(_pass_rate_runs("b", [["failed"] * 5 + ["passed"] * 5] * 4))
    data = compare_benches(a, b)
    res = evaluate_rules(data, _rules("pass_rate<-0.05", "pass_rate<-0.6"))
    assert [r.triggered for r in res] == [True, False]
    assert res[0].value == pytest.approx(-0.5) and res[0].significant is True


def test_relative_rule_from_zero_baseline_triggers_unless_unchanged() -> None:
    zero = ttft_bench([1.0, 1.0], cost=0.0)
    same = evaluate_rules(compare_benches(zero, ttft_bench([1.0, 1.0], cost=0.0)),
                          _rules("cost_total>+5%"))[0]
    assert not same.triggered
    grew = evaluate_rules(compare_benches(zero, ttft_bench([1.0, 1.0], cost=0.5)),
                          _rules("cost_total>+5%"))[0]
    assert grew.triggered and "baseline of 0" in grew.detail


def test_bad_mode_is_config_error() -> None:
    data = compare_benches(ttft_bench([1.0, 2.0]), ttft_bench([1.0, 2.0]))
    with pytest.raises(ConfigError, match="fail-if-mode"):
        evaluate_rules(data, [], "strict")  # type: ignore[arg-type]


def test_comparison_is_deterministic_and_round_trips() -> None:
    a, b = ttft_bench([100.0, 130.0, 90.0]), ttft_bench([120.0, 110.0, 150.0])
    one, two = compare_benches(a, b), compare_benches(a, b)
    assert one == two
    assert ComparisonData.model_validate_json(one.model_dump_json()) == one


# --- output ---------------------------------------------------------------------------------


def test_default_comparison_dir_uses_safe_labels_or_ids() -> None:
    a = ttft_bench([1.0, 2.0], label="gpt/4o mini")
    b = ttft_bench([1.0, 2.0], label="local")
    assert default_comparison_dir(a, b, "x", "y") == Path(
        "bench_results/comparisons/gpt_4o_mini-vs-local")
    c = bench([run("r", [step("a", [attempt(1.0)])])], label=None, bench_id=7)
    assert default_comparison_dir(c, b, "7", "local", root=Path("R")) == Path(
        "R/comparisons/bench7-vs-local")
    same = default_comparison_dir(a, a, "out/one", "out/two")
    assert same.name == "one-vs-two"


def test_terminal_table_is_for_people_and_fits_80_columns() -> None:
    data = compare_benches(ttft_bench([12563.369, 12000.0, 13000.0], label="big"),
                           ttft_bench([1336.78864, 1400.0, 1300.0], label="small"))
    text = compare_cli.render_comparison_table(data)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "12563.3690" not in text and "1336.78864" not in text
    assert "12,521" in text  # ttft_mean of A, thousands separator, no decimals above 1,000
    assert "pass_rate" in text and "100.0%" in text


def _app() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)
    compare_cli.register(app)
    return app


def test_cli_exit_codes_modes_and_default_folder(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_benchmark_data(ttft_bench([100.0, 101.0, 99.0], label="base"), tmp_path / "a")
    write_benchmark_data(ttft_bench([150.0, 151.0, 149.0], label="cand"), tmp_path / "b")
    runner = CliRunner()
    args = ["compare", "a", "b"]
    ok = runner.invoke(_app(), [*args, "--fail-if", "ttft_p50>+60%"])
    assert ok.exit_code == 0, ok.output
    out_dir = tmp_path / "bench_results" / "comparisons" / "base-vs-cand"
    assert (out_dir / "comparison_report.md").is_file()
    assert (out_dir / "comparison_data.json").is_file()
    bad = runner.invoke(_app(), [*args, "--fail-if", "ttft_p50>+10%", "-o", "here"])
    assert bad.exit_code == 1 and "TRIGGERED" in bad.output
    assert (tmp_path / "here" / "comparison_data.json").is_file()
    stored = json.loads((tmp_path / "here" / "comparison_data.json").read_text())
    assert stored["fail_if_mode"] == "significant" and stored["fail_if"][0]["mode"] == \
        "significant"
    wrong = runner.invoke(_app(), [*args, "--fail-if", "ttft_p50~1"])
    assert isinstance(wrong.exception, ConfigError) and wrong.exception.exit_code == 2
    old = runner.invoke(_app(), [*args, "--fail-if", "success_rate<-0.05"])
    assert isinstance(old.exception, ConfigError) and "pass_rate" in str(old.exception)
    mode = runner.invoke(_app(), [*args, "--fail-if-mode", "maybe"])
    assert isinstance(mode.exception, ConfigError)


def test_cli_point_mode_fires_on_a_noisy_change(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_benchmark_data(ttft_bench([100.0, 300.0, 200.0]), tmp_path / "a")
    write_benchmark_data(ttft_bench([380.0, 90.0, 250.0]), tmp_path / "b")
    runner = CliRunner()
    args = ["compare", "a", "b", "-o", "o", "--fail-if", "ttft_mean>+10%"]
    assert runner.invoke(_app(), args).exit_code == 0
    assert runner.invoke(_app(), [*args, "--fail-if-mode", "point"]).exit_code == 1


def test_cli_json_prints_the_comparison_on_stdout(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_benchmark_data(ttft_bench([100.0, 110.0]), tmp_path / "a")
    write_benchmark_data(ttft_bench([120.0, 130.0]), tmp_path / "b")
    result = CliRunner().invoke(_app(), ["compare", "a", "b", "--json", "-o", "o"])
    assert result.exit_code == 0, result.output
    data = ComparisonData.model_validate_json(result.stdout)
    assert data.row("ttft_mean") is not None and data.schema_version == "2"
