"""``aetherflow report DIR``: re-render every view from the stored JSON alone."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from aetherflow.bench.compare import BenchRef, ComparisonData
from aetherflow.bench.model import BenchmarkData
from aetherflow.bench.runner import BENCH_DATA_FILE, load_benchmark_data
from aetherflow.bench.sources import load_run_dir
from aetherflow.errors import ConfigError
from aetherflow.report import render_terminal, write_bench_reports
from aetherflow.report.comparison import COMPARISON_HTML, write_comparison

__all__ = ["register", "report_command"]


def _load_side(path: Path) -> BenchmarkData | None:
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
    directory: Path = typer.Argument(..., help="A bench directory (benchmark_data.json), a "
                                               "run directory (run.json) or a comparison "
                                               "directory (comparison_data.json)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Do not print terminal tables."),
) -> None:
    """Re-render the Markdown, PNG, HTML and terminal views from the stored JSON."""
    console = Console(stderr=True)
    if (directory / BENCH_DATA_FILE).exists():
        data = load_benchmark_data(directory)
    elif (directory / "run.json").exists():
        data = load_run_dir(directory)
    elif (directory / "comparison_data.json").exists():
        cmp = ComparisonData.model_validate_json(
            (directory / "comparison_data.json").read_text(encoding="utf-8"))
        a, b = _side_data(cmp.a, directory), _side_data(cmp.b, directory)
        md = write_comparison(cmp, directory, a, b)
        raw = "" if a is not None and b is not None else (
            " (bench data of A/B not found: no distribution charts)")
        console.print(f"wrote {md} and {COMPARISON_HTML}{raw}")
        return
    else:
        raise ConfigError(f"{directory}: no benchmark_data.json, run.json or "
                          "comparison_data.json")
    files = write_bench_reports(data, directory)
    if not quiet:
        console.print(render_terminal(data))
    console.print("wrote " + ", ".join(f.name for f in files))


def register(app: typer.Typer) -> None:
    """Add ``report`` to ``app``."""
    app.command("report")(report_command)
