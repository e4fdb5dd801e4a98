"""``aetherflow suite PLAN... [--variants FILE]``: a bench per plan × variant, compared."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from aetherflow.bench.suite import load_variants, render_suite_markdown, run_suite
from aetherflow.cli.bench import execute
from aetherflow.execution.rundir import default_run_dir
from aetherflow.report.comparison import COMPARISON_HTML, COMPARISON_MD
from aetherflow.report.comparison_html import render_suite_html

__all__ = ["register", "suite_command"]


def suite_command(
    plans: list[Path] = typer.Argument(..., help="Plan files (JSON)."),
    variants: Path | None = typer.Option(None, "--variants",
                                         help="JSON/TOML list of {name, set: {...}}."),
    repeat: int = typer.Option(3, "--repeat", "-n", help="Measured runs per bench."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Suite directory."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Bench every PLAN under every variant; write comparison_report.md/.html over them all."""
    console = Console(stderr=True)
    chosen = load_variants(variants)
    out = output or default_run_dir("suite", root=Path("bench_results"))
    entries = run_suite(plans, chosen, out, repeat, lambda spec: execute(spec, quiet, console))
    report = out / COMPARISON_MD
    report.write_text(render_suite_markdown(entries), encoding="utf-8")
    (out / COMPARISON_HTML).write_text(render_suite_html(entries), encoding="utf-8")
    console.print(f"suite directory: {out} ({len(entries)} benches; {report.name}, "
                  f"{COMPARISON_HTML})")


def register(app: typer.Typer) -> None:
    """Add ``suite`` to ``app``."""
    app.command("suite")(suite_command)
