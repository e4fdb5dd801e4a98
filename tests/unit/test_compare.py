"""compare: differences with CIs, --fail-if parsing and evaluation, CLI exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from test_report_model import make_data, make_run, make_step
from typer.testing import CliRunner

from aetherflow.bench.compare import compare_benches, evaluate_rules, parse_fail_if
from aetherflow.bench.runner import write_benchmark_data
from aetherflow.cli import compare as compare_cli
from aetherflow.errors import ConfigError


def _bench(ttfts: list[float], failed: int = 0, cost: float = 0.01):  # type: ignore[no-untyped-def]
    runs = [make_run(f"r{i}", [make_step("a", [t], cost=cost,
                                         status="failed" if i < failed else "succeeded")],
                     status="failed" if i < failed else "succeeded")
            for i, t in enumerate(ttfts)]
    return make_data(runs)


@pytest.mark.parametrize(("expr", "metric", "op", "value", "relative"), [
    ("ttft_p50>+10%", "ttft_p50", ">", 0.10, True),
    ("success_rate<-0.05", "success_rate", "<", -0.05, False),
    (" cost_total > 5 % ", "cost_total", ">", 0.05, True),
    ("makespan<-250", "makespan", "<", -250.0, False),
])
def test_parse_fail_if(expr: str, metric: str, op: str, value: float, relative: bool) -> None:
    rule = parse_fail_if(expr)
    assert (rule.metric, rule.op, rule.relative) == (metric, op, relative)
    assert rule.threshold == pytest.approx(value)


@pytest.mark.parametrize(("expr", "needle"), [
    ("ttft_p50>>1", "expected METRIC>NUMBER"), ("ttft_p50=1", "expected"),
    ("ttft_p50>ten", "expected"), ("latency>1%", "unknown metric 'latency'"),
])
def test_bad_fail_if_is_config_error(expr: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        parse_fail_if(expr)


def test_known_difference_and_significance() -> None:
    a = _bench([100.0, 110.0, 120.0, 130.0])
    b = _bench([200.0, 210.0, 220.0, 230.0])
    data = compare_benches(a, b)
    row = data.row("ttft_mean")
    assert row is not None
    assert row.estimate.difference == pytest.approx(100.0)
    assert row.estimate.relative_difference == pytest.approx(100 / 115)
    assert row.estimate.significant is True
    assert data.row("ttft_p50", "task_type:code_generation") is not None
    assert data.row("ttft_p50", "provider:emu") is not None
    rate = data.row("success_rate")
    assert rate is not None and rate.estimate.difference == 0 and not rate.estimate.significant


def test_fail_if_evaluation() -> None:
    data = compare_benches(_bench([100.0, 100.0, 100.0]), _bench([120.0, 120.0, 120.0], 1))
    rules = [parse_fail_if(e) for e in ("ttft_p50>+10%", "ttft_p50>+30%",
                                        "success_rate<-0.05", "cost_total>+5%")]
    hits = [r.triggered for r in evaluate_rules(data, rules)]
    assert hits == [True, False, True, False]


def test_relative_rule_from_zero_baseline_triggers_unless_unchanged() -> None:
    zero = _bench([1.0, 1.0], cost=0.0)
    data = compare_benches(zero, _bench([1.0, 1.0], cost=0.0))
    same = evaluate_rules(data, [parse_fail_if("cost_total>+5%")])[0]
    assert not same.triggered
    data = compare_benches(zero, _bench([1.0, 1.0], cost=0.5))
    grew = evaluate_rules(data, [parse_fail_if("cost_total>+5%")])[0]
    assert grew.triggered and "baseline of 0" in grew.detail


def _app() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)
    compare_cli.register(app)
    return app


def test_cli_exit_codes(tmp_path: Path) -> None:
    write_benchmark_data(_bench([100.0, 100.0, 100.0]), tmp_path / "a")
    write_benchmark_data(_bench([150.0, 150.0, 150.0]), tmp_path / "b")
    runner = CliRunner()
    args = ["compare", str(tmp_path / "a"), str(tmp_path / "b"), "-o", str(tmp_path)]
    ok = runner.invoke(_app(), [*args, "--fail-if", "ttft_p50>+60%"])
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(_app(), [*args, "--fail-if", "ttft_p50>+10%"])
    assert bad.exit_code == 1 and "TRIGGERED" in bad.output
    assert (tmp_path / "comparison_report.md").is_file()
    assert (tmp_path / "comparison_data.json").is_file()
    wrong = runner.invoke(_app(), [*args, "--fail-if", "ttft_p50~1"])
    assert isinstance(wrong.exception, ConfigError) and wrong.exception.exit_code == 2


def test_comparison_markdown_lists_scopes(tmp_path: Path) -> None:
    from aetherflow.report.comparison import render_comparison_markdown

    data = compare_benches(_bench([1.0, 2.0]), _bench([3.0, 4.0]))
    md = render_comparison_markdown(data)
    assert "## global" in md and "## task_type:code_generation" in md
    assert "| ttft_mean | 1.5 | 3.5 | 2 |" in md
