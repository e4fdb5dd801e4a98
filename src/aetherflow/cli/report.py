"""``aetherflow report DIR``: re-render every view from the stored JSON alone."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from aetherflow.bench.compare import ComparisonData
from aetherflow.bench.runner import BENCH_DATA_FILE, load_benchmark_data
from aetherflow.bench.sources import load_run_dir
from aetherflow.errors import ConfigError
from aetherflow.report import render_terminal, write_bench_reports
from aetherflow.report.comparison import write_comparison

__all__ = ["register", "report_command"]


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
        console.print(f"wrote {write_comparison(cmp, directory)}")
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
