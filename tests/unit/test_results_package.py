"""The results package: every result is a versioned model, every view re-renders from it,
and the bench code and the report code do not import each other."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import typer
from test_report_model import make_data, make_run, make_step
from typer.testing import CliRunner

from aetherflow.bench.focused import run_focused
from aetherflow.bench.prompt_cache import run_prompt_cache
from aetherflow.bench.runner import BenchSpec, write_benchmark_data
from aetherflow.bench.suite import SuiteEntry, suite_data
from aetherflow.cli import report as report_cli
from aetherflow.errors import CorruptResultError, ResultNotFoundError
from aetherflow.report.focused import write_focused_reports
from aetherflow.report.suite import write_suite_reports
from aetherflow.results.bench import BenchmarkData
from aetherflow.results.comparison import ComparisonData
from aetherflow.results.focused import FocusedData
from aetherflow.results.load import load_result
from aetherflow.results.run import RunRecord
from aetherflow.results.suite import SuiteData

SRC = Path(__file__).resolve().parents[2] / "src" / "aetherflow"


def _bench(ttfts: list[float], makespan: float = 1000.0, task_id: str = "t") -> BenchmarkData:
    runs = [make_run(f"r{i}", [make_step("a", [t], cost=0.01)], makespan=makespan + i)
            for i, t in enumerate(ttfts)]
    data = make_data(runs)
    return data.model_copy(update={"meta": data.meta.model_copy(update={"task_id": task_id})})


def _writing_executor(spec: BenchSpec) -> BenchmarkData:
    """A bench without a model: sequential sides are slower; written where a bench goes."""
    sequential = spec.overlay.get("concurrency") == "1"
    data = _bench([100.0, 110.0], makespan=2000.0 if sequential else 900.0)
    write_benchmark_data(data, spec.output)
    return data


def _app() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)
    report_cli.register(app)
    return app


def test_focused_result_round_trips_and_report_re_renders_it(tmp_path: Path) -> None:
    run = run_focused("parallel", Path("plan.json"), tmp_path, 2, {}, _writing_executor)
    files = write_focused_reports(run.data, tmp_path, run.benches)
    assert {f.name for f in files} == {"focused_data.json", "comparison_report.md",
                                       "comparison_report.html", "focused_report.md"}
    loaded = load_result(tmp_path)
    assert isinstance(loaded, FocusedData) and loaded == run.data
    assert loaded.pairs[0].directory == "."  # relative: the directory can move
    report = (tmp_path / "focused_report.md").read_text(encoding="utf-8")
    # known truth: mean makespans 2000.5 and 900.5 ms -> speedup 2000.5 / 900.5 = 2.22
    assert "- speedup (mean makespan A / B): 2.22" in report
    assert "| parallel | makespan |" in report
    moved = tmp_path.rename(tmp_path.parent / "moved")
    for f in ("focused_report.md", "comparison_report.md", "comparison_report.html"):
        (moved / f).unlink()
    res = CliRunner().invoke(_app(), ["report", str(moved), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["kind"] == "focused"
    assert (moved / "focused_report.md").read_text(encoding="utf-8") == report
    page = (moved / "comparison_report.html").read_text(encoding="utf-8")
    assert "Makespan per measured run" in page  # A/ and B/ found again: the raw charts


def test_prompt_cache_result_is_a_focused_result_with_a_finding_per_pair(
        tmp_path: Path) -> None:
    run = run_prompt_cache(Path("p.json"), tmp_path, 2, {}, _writing_executor,
                           providers=("local",), emulated=())
    assert run.data.benchmark == "prompt-cache" and [p.directory for p in run.data.pairs] \
        == ["local"]
    write_focused_reports(run.data, tmp_path, run.benches)
    assert (tmp_path / "local" / "comparison_data.json").is_file()
    text = (tmp_path / "prompt_cache_report.md").read_text(encoding="utf-8")
    assert text.startswith("# Focused benchmark: prompt cache") and "- **local**" in text
    assert isinstance(load_result(tmp_path / "focused_data.json"), FocusedData)


def test_suite_result_round_trips_and_report_re_renders_it(tmp_path: Path) -> None:
    entries = [SuiteEntry(plan="p.json", variant=v, output=str(tmp_path / "t" / v),
                          data=_bench(ttfts)) for v, ttfts in
               (("seq", [100.0, 110.0]), ("par", [150.0, 160.0]))]
    data = suite_data(entries, tmp_path)
    assert [b.output for b in data.benches] == ["t/seq", "t/par"]
    assert [(c.base, c.variant) for c in data.comparisons] == [("seq", "par")]
    ttft = data.comparisons[0].comparison.row("ttft_p50")
    assert ttft is not None and ttft.estimate.difference == pytest.approx(50.0)
    write_suite_reports(data, tmp_path)
    md = (tmp_path / "comparison_report.md").read_text(encoding="utf-8")
    assert isinstance(load_result(tmp_path), SuiteData)
    (tmp_path / "comparison_report.md").unlink()
    res = CliRunner().invoke(_app(), ["report", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "comparison_report.md").read_text(encoding="utf-8") == md


def test_load_result_reads_every_kind_and_says_corrupt_or_missing(tmp_path: Path) -> None:
    bench = _bench([100.0, 110.0])
    write_benchmark_data(bench, tmp_path / "b")
    assert isinstance(load_result(tmp_path / "b"), BenchmarkData)
    run = bench.runs[0].record
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "run.json").write_text(run.model_dump_json(), encoding="utf-8")
    assert load_result(tmp_path / "r") == run and isinstance(run, RunRecord)
    from aetherflow.bench.compare import compare_benches

    renamed = tmp_path / "saved.json"  # found by its kind, whatever the file is called
    renamed.write_text(compare_benches(bench, bench).model_dump_json(), encoding="utf-8")
    assert isinstance(load_result(renamed), ComparisonData)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "suite_data.json").write_text('{"kind": "suite"}', encoding="utf-8")
    with pytest.raises(CorruptResultError, match=r"suite_data.json: corrupt \(benches"):
        load_result(tmp_path / "bad")
    (tmp_path / "bad" / "suite_data.json").write_text("{", encoding="utf-8")
    with pytest.raises(CorruptResultError, match="not JSON"):
        load_result(tmp_path / "bad")
    with pytest.raises(ResultNotFoundError, match="holds no AetherFlow result"):
        load_result(tmp_path / "r" / "..")
    with pytest.raises(ResultNotFoundError, match="not found"):
        load_result(tmp_path / "nowhere")


def _imports(package: str) -> set[tuple[str, str]]:
    """``(module file, imported module)`` for every import in a subpackage, lazy ones
    included."""
    found: set[tuple[str, str]] = set()
    for file in (SRC / package).rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add((file.name, node.module))
            elif isinstance(node, ast.Import):
                found.update((file.name, a.name) for a in node.names)
    return found


@pytest.mark.parametrize(("package", "forbidden"), [
    ("bench", "aetherflow.report"), ("report", "aetherflow.bench"),
    ("results", "aetherflow.report"),
])
def test_benchmark_code_and_report_code_do_not_import_each_other(package: str,
                                                                 forbidden: str) -> None:
    bad = sorted(f"{f}: {m}" for f, m in _imports(package)
                 if m == forbidden or m.startswith(forbidden + "."))
    assert bad == []
