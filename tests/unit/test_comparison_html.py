"""comparison_report.html: self-contained page, one div per chart, n/a where no CI/raw data."""

from __future__ import annotations

from pathlib import Path

import plotly.io as pio
import pytest
import typer
from report_builders import assert_self_contained, local_bench
from test_report_model import make_data, make_run, make_step
from typer.testing import CliRunner

from aetherflow.bench.compare import compare_benches, evaluate_rules, parse_fail_if
from aetherflow.bench.focused import run_focused
from aetherflow.bench.runner import BenchSpec, write_benchmark_data
from aetherflow.bench.suite import SuiteEntry, Variant, suite_data
from aetherflow.cli import compare as compare_cli
from aetherflow.cli import report as report_cli
from aetherflow.cli import suite as suite_cli
from aetherflow.report.comparison import COMPARISON_HTML, write_comparison
from aetherflow.report.comparison_html import (
    _panels_figure,
    _side_counts,
    render_comparison_html,
    render_suite_html,
)
from aetherflow.report.focused import write_focused_reports
from aetherflow.report.series import CHART_ROWS
from aetherflow.results.bench import BenchmarkData


def _bench(ttfts: list[float], *, cost: float | None = 0.01, failed: int = 0,
           task_id: str = "t", makespan: float = 1000.0) -> BenchmarkData:
    runs = [make_run(f"r{i}", [make_step("a", [t], cost=cost,
                                         status="failed" if i < failed else "passed")],
                     makespan=makespan + i, status="failed" if i < failed else "passed")
            for i, t in enumerate(ttfts)]
    data = make_data(runs)
    return data.model_copy(update={"meta": data.meta.model_copy(update={"task_id": task_id})})


def _js(text: str) -> str:
    """``text`` as plotly encodes it inside the page's figure JSON."""
    return str(pio.json.to_json_plotly(text))[1:-1]


def _row(*cells: str) -> str:
    """Adjacent table cells as ``html_table`` writes them (short/numeric cells classed)."""
    def cell(text: str) -> str:
        if text == "n/a":
            return "<td class='num na'>n/a</td>"
        numeric = text.replace(",", "").replace(".", "").isdigit()
        return f"<td class='{'num' if numeric else 'short'}'>{text}</td>"

    return "".join(cell(c) for c in cells)


def _assert_self_contained(page: str, charts: int) -> None:
    assert_self_contained(page, charts)


def test_comparison_page_with_raw_data_has_five_charts_and_the_tables() -> None:
    a = _bench([100.0, 100.0, 100.0])
    b = _bench([150.0, 150.0, 150.0], failed=1)
    data = compare_benches(a, b, "dir-a", "dir-b")
    data.fail_if = evaluate_rules(data, [parse_fail_if("ttft_p50>+10%"),
                                         parse_fail_if("ttft_p50>+90%")])
    page = render_comparison_html(data, a, b)
    _assert_self_contained(page, 5)
    # relative chart: +50 % with its CI converted to % of A, significant
    assert _js("+50.0%  CI [+50.0, +50.0]  ★") in page
    assert _js("ttft_mean ★") in page  # significant panel marked
    assert _js("n/a (baseline A is 0)") in page  # network overhead is 0 on A
    # step statuses per side, stacked, with n: B's failed run is its own part
    assert _js("Step statuses, A and B") in page
    assert _js("pass rate 100.0% (n = 3)") in page and _js("pass rate 66.7% (n = 3)") in page
    # distributions per side and provider with n per box and a legend of the marks
    assert _js("A · emu (n=3)") in page and _js("B · emu (n=3)") in page
    assert _js("whiskers: the furthest value within 1.5 × the box height") in page
    assert _js("Makespan per measured run, A vs B (ms; dotted: mean)") in page
    assert "comparison_data.json holds no raw samples" not in page
    # the Markdown's tables: sides, every scope, --fail-if outcomes
    assert _row("dir-a") in page and _row("dir-b") in page
    for scope in ("global", "provider:emu", "task_type:code_generation"):
        assert f"<h3>{scope}</h3>" in page
    assert _row("ttft_mean", "100", "150", "50") in page
    assert "<span class='triggered'>TRIGGERED</span>" in page
    assert "<span class='ok'>ok</span>" in page


def test_comparison_page_without_raw_data_says_na() -> None:
    data = compare_benches(_bench([100.0, 120.0]), _bench([130.0, 150.0]))
    page = render_comparison_html(data)
    _assert_self_contained(page, 2)
    assert ("n/a: step statuses, TTFT/TTR distributions and makespan per run need both "
            "benches") in page


def test_missing_cis_are_marked_na() -> None:
    a, b = _bench([100.0]), _bench([150.0])  # one run each: no bootstrap CI
    data = compare_benches(a, b)
    assert data.row("ttft_mean") is not None
    assert data.row("ttft_mean").estimate.ci_low is None  # type: ignore[union-attr]
    page = render_comparison_html(data, a, b)
    _assert_self_contained(page, 5)
    assert _js("+50.0%  CI n/a") in page
    assert _js("ttft_mean (CI n/a)") in page
    assert '"name":"' + _js("CI n/a") + '"' in page  # the bars without an interval
    assert _js("significant (CI excludes 0) ★") not in page


def test_metric_not_measured_is_na_not_zero() -> None:
    a, b = _bench([100.0, 110.0], cost=None), _bench([100.0, 110.0], cost=None)
    data = compare_benches(a, b)
    page = render_comparison_html(data, a, b)
    assert _js("cost_total (n/a)") in page
    assert _js("n/a (not measured on A and B)") in page  # the relative chart's value column
    assert _js("n/a: not measured on A and B") in page  # the cost_total panel


def test_write_comparison_writes_the_html(tmp_path: Path) -> None:
    a, b = _bench([100.0, 110.0]), _bench([120.0, 130.0])
    md = write_comparison(compare_benches(a, b), tmp_path / "cmp", a, b)
    assert md == tmp_path / "cmp" / "comparison_report.md" and md.is_file()
    assert (tmp_path / "cmp" / "comparison_data.json").is_file()
    page = (tmp_path / "cmp" / COMPARISON_HTML).read_text(encoding="utf-8")
    _assert_self_contained(page, 5)


def _app(*modules: object) -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)
    for module in modules:
        module.register(app)  # type: ignore[attr-defined]
    return app


def test_compare_and_report_cli_write_the_html(tmp_path: Path) -> None:
    write_benchmark_data(_bench([100.0, 100.0, 100.0]), tmp_path / "a")
    write_benchmark_data(_bench([150.0, 150.0, 150.0]), tmp_path / "b")
    out = tmp_path / "out"
    app = _app(compare_cli, report_cli)
    res = CliRunner().invoke(app, ["compare", str(tmp_path / "a"), str(tmp_path / "b"),
                                   "-o", str(out)])
    assert res.exit_code == 0, res.output
    _assert_self_contained((out / COMPARISON_HTML).read_text(encoding="utf-8"), 5)
    # `report` re-renders it, finding A and B again through their source paths
    (out / COMPARISON_HTML).unlink()
    res = CliRunner().invoke(app, ["report", str(out)])
    assert res.exit_code == 0, res.output
    _assert_self_contained((out / COMPARISON_HTML).read_text(encoding="utf-8"), 5)
    # without the bench directories: the global charts only, and it says why
    (tmp_path / "a" / "benchmark_data.json").unlink()
    res = CliRunner().invoke(app, ["report", str(out)])
    assert res.exit_code == 0, res.output
    page = (out / COMPARISON_HTML).read_text(encoding="utf-8")
    _assert_self_contained(page, 2)
    assert "need both benches' data" in page


def _entries() -> list[SuiteEntry]:
    def entry(task: str, variant: str, data: BenchmarkData) -> SuiteEntry:
        return SuiteEntry(plan=f"{task}.json", variant=variant, output=f"o/{task}/{variant}",
                          data=data)

    return [entry("p1", "seq", _bench([100.0, 110.0], task_id="p1")),
            entry("p1", "par", _bench([150.0, 160.0], task_id="p1", failed=1, makespan=500)),
            entry("p2", "seq", _bench([90.0, 95.0], task_id="p2", cost=None)),
            entry("p2", "par", _bench([80.0, 85.0], task_id="p2"))]


def test_suite_page_charts_and_table() -> None:
    page = render_suite_html(suite_data(_entries(), Path("o")))
    _assert_self_contained(page, 4)
    for title in ("Step statuses per plan · variant", "Makespan mean (ms)",
                  "TTFT p50 (ms, all attempts)", "Cost total (USD)"):
        assert _js(title) in page
    assert _js("p1 · seq") in page and _js("p2 · par") in page
    assert _js("pass rate 50.0% (n = 2)") in page  # p1 · par: one of its two runs failed
    assert '"text":"' + _js("n/a") + '"' in page  # p2 · seq has an unpriced attempt
    assert "<th>plan</th><th>variant</th>" in page and _row("p2", "seq") in page
    assert _row("n/a") in page  # its cost cell
    assert "Totals (failed plans included): 7 of 8 plan runs passed" in page
    assert "<h3>p1: par vs seq</h3>" in page and "<h3>p2: par vs seq</h3>" in page


def test_suite_page_all_missing_is_annotated() -> None:
    entries = [e for e in _entries() if e.data.meta.task_id == "p2" and e.variant == "seq"]
    page = render_suite_html(suite_data(entries, Path("o")))
    _assert_self_contained(page, 4)
    assert _js("n/a: not measured in any bench") in page


def test_suite_cli_writes_md_and_html(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(suite_cli, "load_variants", lambda _p: [Variant(name="seq")])
    monkeypatch.setattr("aetherflow.bench.suite.run_suite", lambda *_a: _entries())
    res = CliRunner().invoke(_app(suite_cli), ["suite", "plan.json", "-o", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "comparison_report.md").read_text(encoding="utf-8").startswith(
        "# Suite comparison")
    _assert_self_contained((tmp_path / COMPARISON_HTML).read_text(encoding="utf-8"), 4)


def test_focused_bench_writes_the_html_with_both_benches(tmp_path: Path) -> None:
    def execute(spec: BenchSpec) -> BenchmarkData:
        sequential = spec.overlay.get("concurrency") == "1"
        return _bench([100.0, 110.0], makespan=2000.0 if sequential else 900.0)

    run = run_focused("parallel", Path("plan.json"), tmp_path, 2, {}, execute)
    write_focused_reports(run.data, tmp_path, run.benches)
    page = (tmp_path / COMPARISON_HTML).read_text(encoding="utf-8")
    _assert_self_contained(page, 5)
    assert _js("Makespan per measured run, A vs B (ms; dotted: mean)") in page


def test_relative_axis_is_clipped_when_one_change_dwarfs_the_rest() -> None:
    page = render_comparison_html(compare_benches(_bench([100.0, 110.0]),
                                                  _bench([2000.0, 2100.0])))
    assert _js("axis clipped at ±300%") in page  # TTFT +1,800 % would squash the others
    calm = render_comparison_html(compare_benches(_bench([100.0, 110.0]),
                                                  _bench([120.0, 130.0])))
    assert _js("axis clipped") not in calm


def test_zero_on_both_sides_is_said_not_drawn_and_axes_start_at_zero() -> None:
    a, b = local_bench(), local_bench()  # the local model against itself: $0 both sides
    page = render_comparison_html(compare_benches(a, b), a, b)
    _assert_self_contained(page, 5)
    assert _js("no charge on either side ($0)") in page  # the cost panels
    assert _js("0 on both sides") in page  # cached tokens: 0 and 0, not an empty panel
    rows = [r for r in compare_benches(a, b).rows if r.scope == "global"]
    fig = _panels_figure(rows)
    cost = next(i for i, r in enumerate(rows) if r.metric == "cost_total")
    axis = fig.layout[f"yaxis{cost + 1 if cost else ''}"]
    assert axis.visible is False  # no axis drawn around nothing
    ttft = next(i for i, r in enumerate(rows) if r.metric == "ttft_p50")
    assert fig.layout[f"yaxis{ttft + 1 if ttft else ''}"].rangemode == "tozero"


def test_suite_of_free_benches_says_no_charge() -> None:
    entries = [SuiteEntry(plan="fmt.json", variant=v, output=f"o/{v}", data=local_bench())
               for v in ("seq", "par")]
    page = render_suite_html(suite_data(entries, Path("o")))
    _assert_self_contained(page, 4)
    assert _js("local model: no charge in any bench") in page
    mixed = render_suite_html(suite_data([*_entries()[:2], *entries], Path("o")))
    assert _js("$0 (no charge)") in mixed  # a free bench next to priced ones: said on its bar


def test_per_step_statuses_of_thousands_of_steps_keep_the_worst_and_say_the_rest() -> None:
    """A and B of 1,000 steps each: the A/B rows of the steps that failed most on either
    side are drawn, and the note gives each side's others; every step is still counted."""
    def side(bad: set[int]) -> BenchmarkData:
        return make_data([make_run("r", [make_step(f"s{i:04d}", [10.0],
                                                   status="failed" if i in bad else "passed")
                                         for i in range(1000)], status="failed")])
    a, b = side({5, 500}), side({7})
    rows, note = _side_counts(a.aggregates.per_step, b.aggregates.per_step)
    assert len(rows) == CHART_ROWS
    keys = [r.key for r in rows]
    assert {"A · s0005", "B · s0005", "A · s0500", "B · s0007"} <= set(keys)
    others = 1000 - CHART_ROWS // 2
    assert note == (f"A: {others:,} others not drawn: {others:,} passed; "
                    f"B: {others:,} others not drawn: {others:,} passed")
