"""``aetherflow run PLAN``: execute a plan and write its run directory."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console

from aetherflow.cli.display import LiveRunDisplay, summary_table
from aetherflow.execution import RunOptions, run_plan
from aetherflow.execution.observer import NullObserver, RunObserver
from aetherflow.store.history import HistoryError, HistoryStore

__all__ = ["register", "run_command"]


def run_command(
    plan: Path = typer.Argument(..., help="Plan file (JSON)."),
    provider: str = typer.Option("local", "--provider", "-p",
                                 help="Default provider (steps may pin their own)."),
    model: str | None = typer.Option(None, "--model", "-m", help="Model name for the provider."),
    base_url: str | None = typer.Option(None, "--base-url", help="Override the provider URL."),
    fallback: list[str] = typer.Option(
        [], "--fallback", help="Provider to fall over to after transient failures (repeatable)."),
    concurrency: int = typer.Option(2, "--concurrency", "-c", help="Steps in flight at once."),
    max_tokens: int = typer.Option(512, "--max-tokens", help="Output token cap per request."),
    temperature: float = typer.Option(0.2, "--temperature"),
    step_timeout: float = typer.Option(300.0, "--step-timeout", help="Seconds per step."),
    max_attempts: int = typer.Option(3, "--max-attempts", help="Attempts per step."),
    output: Path | None = typer.Option(None, "--output", "-o",
                                       help="Run directory (default runs/<time>-<task_id>)."),
    config: Path | None = typer.Option(None, "--config", help="aetherflow.toml to use."),
    emulator: str | None = typer.Option(
        None, "--emulator", help="Run every provider against the provider emulator at this URL "
        "(see `aetherflow emulate`); no key needed, the run is labelled emulated."),
    label: str | None = typer.Option(None, "--label", help="Label stored with the run."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No live display."),
    as_json: bool = typer.Option(False, "--json", help="Print run.json to stdout."),
) -> None:
    """Run PLAN: stream every step, measure it, write run.json.

    Exit code 0 when every step succeeded, 1 when some failed, 2 for bad input.
    """
    options = RunOptions(
        provider=provider, model=model, base_url=base_url, concurrency=concurrency,
        max_tokens=max_tokens, temperature=temperature, step_timeout_s=step_timeout,
        max_attempts=max_attempts, output=output, label=label, config_path=config,
        emulator_url=emulator, fallbacks=tuple(fallback),
    )
    console = Console(stderr=True)
    observer: RunObserver = NullObserver() if quiet or as_json else LiveRunDisplay(console)
    with HistoryStore() as store:  # a broken history is reported before anything is spent
        try:
            record, run_dir = run_plan(plan, options, observer=observer)
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]: completed steps are kept in the run "
                          "directory")
            raise typer.Exit(130) from None
        try:
            history_id = store.save_run(record, run_dir, label=label)
        except HistoryError as exc:
            raise HistoryError(exc.path, f"{exc.problem} (the run itself is complete and "
                                         f"kept in {run_dir})") from exc
    if as_json:
        sys.stdout.write(json.dumps(record.model_dump(mode="json"), indent=2) + "\n")
    else:
        if not quiet:
            console.print(summary_table(record))
        console.print(f"run directory: {run_dir}  (run.json, step_outputs/, workspace/); "
                      f"history id {history_id}")
    raise typer.Exit(0 if record.status in ("passed", "unvalidated") else 1)


def register(app: typer.Typer) -> None:
    """Add ``run`` to ``app``."""
    app.command("run")(run_command)
