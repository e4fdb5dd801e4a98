"""``aetherflow report DIR``: re-render every view from the stored JSON alone.

Light at import: the report views (matplotlib, plotly) load when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from aetherflow.cli.common import human_console, print_json
from aetherflow.cli.help import Command
from aetherflow.errors import ConfigError

if TYPE_CHECKING:
    from rich.console import Console

    from aetherflow.results.bench import BenchmarkData
    from aetherflow.results.comparison import BenchRef

__all__ = ["register", "report_command"]

BENCH_DATA_FILE = "benchmark_data.json"


def _load_side(path: Path) -> BenchmarkData | None:
    from aetherflow.bench.runner import load_benchmark_data
    from aetherflow.bench.sources import load_run_dir

    try:
        if (path / BENCH_DATA_FILE).is_file() or (path.is_file() and path.suffix == ".json"):
            return load_benchmark_data(path)
        if (path / "run.json").is_file():
            return load_run_dir(path)
    except (ConfigError, OSError):
        return None
    return None


def _side_data(ref: BenchRef, directory: Path) -> BenchmarkData | None:
    """The bench a comparison side was made from, when its source path still holds it.

    Tried as given, relative to the comparison directory, and as a sibling of it by name
    (``bench parallel`` keeps ``A/`` and ``B/`` there). Labels and history ids are not
    looked up again: they may name a newer bench now. A bench whose task, label, provider
    or run count differ from the stored side is not used.
    """
    source = Path(ref.source)
    for candidate in (source, directory / source, directory / source.name):
        data = _load_side(candidate)
        if data is not None and (data.meta.task_id, data.meta.label, data.meta.provider,
                                 len(data.measured_runs())) == (ref.task_id, ref.label,
                                                                ref.provider, ref.runs):
            return data
    return None


def report_command(
    directory: Path = typer.Argument(..., metavar="DIR",
                                     help="A run (run.json), bench (benchmark_data.json), "
                                          "comparison (comparison_data.json), suite "
                                          "(suite_data.json) or focused benchmark "
                                          "(focused_data.json) directory."),
    output: Path | None = typer.Option(None, "--output", "-o", metavar="DIR",
                                       help="Write the views here instead of into DIR."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Do not print terminal tables."),
    as_json: bool = typer.Option(False, "--json",
                                 help="Print the files written as JSON on stdout."),
) -> None:
    """Re-render the Markdown, PNG, HTML and terminal views from the stored JSON alone.

    Example: aetherflow report bench_results/20250101-120000-calculator
    """
    from aetherflow.bench.runner import load_benchmark_data
    from aetherflow.bench.sources import load_run_dir
    from aetherflow.report import render_terminal, write_bench_reports

    console = human_console()
    out = output or directory
    special = {"focused_data.json": _focused, "suite_data.json": _suite}
    for name, render in special.items():
        if (directory / name).exists():
            kind, files = render(directory, out)
            console.print(f"wrote into {out}: " + ", ".join(
                f.relative_to(out).as_posix() for f in files), highlight=False)
            if as_json:
                print_json({"kind": kind, "directory": str(out),
                            "files": [str(f) for f in files]})
            return
    if (directory / BENCH_DATA_FILE).exists():
        kind, data = "bench", load_benchmark_data(directory)
    elif (directory / "run.json").exists():
        kind, data = "run", load_run_dir(directory)
    elif (directory / "comparison_data.json").exists():
        files = _comparison(console, directory, out)
        if as_json:
            print_json({"kind": "comparison", "directory": str(out),
                        "files": [str(f) for f in files]})
        return
    else:
        raise ConfigError(f"{directory}: no run.json, benchmark_data.json, "
                          "comparison_data.json, suite_data.json or focused_data.json")
    files = write_bench_reports(data, out)
    if not quiet:
        console.print(render_terminal(data))
    console.print(f"wrote into {out}: " + ", ".join(f.name for f in files), highlight=False)
    if as_json:
        print_json({"kind": kind, "directory": str(out), "files": [str(f) for f in files]})


def _comparison(console: Console, directory: Path, out: Path) -> list[Path]:
    """Re-render a comparison directory's views (with distribution charts when the
    benches of A and B are still where it says)."""
    from aetherflow.report.comparison import COMPARISON_HTML, write_comparison
    from aetherflow.results.comparison import ComparisonData

    cmp = ComparisonData.model_validate_json(
        (directory / "comparison_data.json").read_text(encoding="utf-8"))
    a, b = _side_data(cmp.a, directory), _side_data(cmp.b, directory)
    md = write_comparison(cmp, out, a, b)
    raw = "" if a is not None and b is not None else (
        " (bench data of A/B not found: no distribution charts)")
    console.print(f"wrote {md} and {COMPARISON_HTML}{raw}", highlight=False)
    return [md, out / COMPARISON_HTML]


def _focused(directory: Path, out: Path) -> tuple[str, list[Path]]:
    """Re-render a focused benchmark (each pair's comparison with its benches' charts when
    ``A/`` and ``B/`` are still there)."""
    from aetherflow.report.focused import write_focused_reports
    from aetherflow.results.focused import FocusedData
    from aetherflow.results.load import load_result

    data = load_result(directory / "focused_data.json")
    assert isinstance(data, FocusedData)
    benches = {p.directory: (_load_side(directory / p.directory / "A"),
                             _load_side(directory / p.directory / "B")) for p in data.pairs}
    return "focused", write_focused_reports(data, out, benches)


def _suite(directory: Path, out: Path) -> tuple[str, list[Path]]:
    """Re-render a suite's comparison report from ``suite_data.json``."""
    from aetherflow.report.suite import write_suite_reports
    from aetherflow.results.load import load_result
    from aetherflow.results.suite import SuiteData

    data = load_result(directory / "suite_data.json")
    assert isinstance(data, SuiteData)
    return "suite", write_suite_reports(data, out)


def register(app: typer.Typer) -> None:
    """Add ``report`` to ``app``."""
    app.command("report", cls=Command)(report_command)
