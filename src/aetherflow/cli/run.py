"""``aetherflow run PLAN``: execute a plan and write its run directory (or ``--resume`` one)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from aetherflow.cli.display import LiveRunDisplay, summary_footer, summary_table
from aetherflow.cli.options import RunFlags, with_run_flags
from aetherflow.errors import ConfigError, RunDirectoryError
from aetherflow.execution import RunOptions
from aetherflow.execution.observer import NullObserver, RunObserver
from aetherflow.execution.rundir import default_run_dir
from aetherflow.execution.runner import resume_run_async, run_plan_async
from aetherflow.metrics.records import RunRecord
from aetherflow.plan import check_plan_file, plan_warnings
from aetherflow.store.history import HistoryStore

__all__ = ["register", "run_command", "run_until_signal"]

T = TypeVar("T")


def run_until_signal(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro``; SIGINT and SIGTERM cancel it the same way (what finished is kept, the
    run is marked interrupted and can be resumed) and raise KeyboardInterrupt."""

    async def main() -> T:
        task = asyncio.ensure_future(coro)
        loop = asyncio.get_running_loop()
        stopped: list[int] = []

        def stop(signum: int) -> None:
            stopped.append(signum)
            task.cancel()

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop, signum)
        try:
            return await task
        except asyncio.CancelledError:
            if stopped:
                raise KeyboardInterrupt from None
            raise
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

    return asyncio.run(main())


@with_run_flags
def run_command(
    plan: Path | None = typer.Argument(None, help="Plan file (JSON).", metavar="PLAN",
                                       show_default=False),
    output: Path | None = typer.Option(None, "--output", "-o", metavar="DIR",
                                       help="Run directory (default runs/<time>-<task_id>)."),
    resume: Path | None = typer.Option(
        None, "--resume", metavar="RUN_DIR",
        help="Continue a crashed or interrupted run with the options it recorded; steps "
             "already in its journal are never requested again."),
    label: str | None = typer.Option(None, "--label", help="Label stored with the run."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No live display."),
    as_json: bool = typer.Option(False, "--json", help="Print run.json to stdout."),
    *, flags: RunFlags,
) -> None:
    """Run PLAN: stream every step, execute its checks, measure it, write run.json.

    Exit 0 when the run passed or is unvalidated (nothing checkable failed), 1 when a step failed or the run was interrupted, 2 for bad input.

    Example: aetherflow run examples/plans/calculator.json --repairs 1
    """  # noqa: E501 - Typer rewraps the help text; a paragraph is one line
    console = Console(stderr=True)
    if (plan is None) == (resume is None):
        raise ConfigError("give a PLAN to run, or --resume RUN_DIR to continue one")
    observer: RunObserver = NullObserver() if quiet or as_json else LiveRunDisplay(console)
    where = resume or output
    with HistoryStore() as store:  # a broken history is reported before anything is spent
        try:
            if resume is not None:
                coro = resume_run_async(resume, overrides=flags.given(), observer=observer,
                                        history=store)
            else:
                assert plan is not None
                checked = check_plan_file(plan).raise_for_errors()
                for problem in plan_warnings(checked):
                    console.print(f"warning: {plan}: {problem}", highlight=False, markup=False)
                where = output or default_run_dir(checked.task_id)
                options = flags.apply(RunOptions(output=where, label=label))
                coro = run_plan_async(plan, options, observer=observer, history=store)
            record, run_dir = run_until_signal(coro)
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]: what finished is kept"
                          + (f" in {where}; continue with: aetherflow run --resume {where}"
                             if where else "; see the run directory printed above"))
            raise typer.Exit(130) from None
        except RunDirectoryError as exc:
            console.print(f"[red]error[/]: {exc}; the run stopped (interrupted) with what "
                          "was completed kept")
            raise typer.Exit(1) from None
    _report(console, record, run_dir, quiet=quiet, as_json=as_json)
    raise typer.Exit(0 if record.status in ("passed", "unvalidated") else 1)


def _report(console: Console, record: RunRecord, run_dir: Path, *, quiet: bool,
            as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(record.model_dump(mode="json"), indent=2) + "\n")
        return
    if not quiet:
        console.print(summary_table(record, console.width))
        for line in summary_footer(record):
            console.print(line)
    console.print(f"run directory: {run_dir}  (run.json, journal.jsonl, step_outputs/, "
                  "workspace/)")


def register(app: typer.Typer) -> None:
    """Add ``run`` to ``app``."""
    app.command("run")(run_command)
