"""``aetherflow run PLAN``: execute a plan and write its run directory (or ``--resume`` one).

Light at import: the execution engine, the plan loader and rich load when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from aetherflow.cli.common import (
    exit_interrupted,
    human_console,
    print_json,
    print_where,
    run_until_signal,
    terminate_as_interrupt,
)
from aetherflow.cli.help import Command
from aetherflow.cli.options import RunFlags, with_run_flags
from aetherflow.errors import ConfigError

if TYPE_CHECKING:
    from rich.console import Console

    from aetherflow.execution.observer import RunObserver
    from aetherflow.execution.runner import RunOptions
    from aetherflow.results.run import RunRecord

__all__ = ["register", "run_command", "run_until_signal"]


@with_run_flags
def run_command(
    plan: Path | None = typer.Argument(None, help="Plan file (JSON).", metavar="PLAN",
                                       show_default=False),
    output: Path | None = typer.Option(None, "--output", "-o", metavar="DIR",
                                       help="Run directory (default runs/<time>-<task_id>)."),
    resume: Path | None = typer.Option(
        None, "--resume", metavar="DIR",
        help="Continue a crashed or interrupted run with the options it recorded; steps "
             "already in its journal are never requested again."),
    apply: bool = typer.Option(
        False, "--apply", rich_help_panel="Project options",
        help="With --project: copy the run's changes back into the project when every "
             "step passed or is unvalidated (review them first with aetherflow diff)."),
    label: str | None = typer.Option(None, "--label", metavar="TEXT",
                                     help="Label stored with the run."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No live display."),
    as_json: bool = typer.Option(False, "--json",
                                 help="Print run.json on stdout (the rest goes to stderr)."),
    *, flags: RunFlags,
) -> None:
    """Run a plan once: stream every step, execute its checks, measure it, write run.json.

    Exit 0 when the run passed or is unvalidated (nothing checkable failed), 1 when a step
    failed, 2 for bad input, 130 when interrupted (SIGINT or SIGTERM; continue with
    --resume).

    Example: aetherflow run examples/plans/calculator.json --repairs 1
    """
    from aetherflow.api import run_plan_async
    from aetherflow.errors import RunDirectoryError
    from aetherflow.execution.observer import NullObserver

    console = human_console()
    if (plan is None) == (resume is None):
        raise ConfigError("give a PLAN to run, or --resume DIR to continue one")
    observer: RunObserver = NullObserver() if quiet else _live(console)
    where = resume or output
    with terminate_as_interrupt():
        try:
            if resume is not None:
                overrides = {**flags.given(), **({"apply": True} if apply else {})}
                coro = run_plan_async(resume=resume, observer=observer, **overrides)
            else:
                assert plan is not None
                where, options = _new_run(console, plan, output, label, apply, flags)
                coro = run_plan_async(plan, options, observer=observer)
            result = run_until_signal(coro)
            record, run_dir = result.record, result.run_dir
        except KeyboardInterrupt:
            resume_with = f"aetherflow run --resume {where}" if where else None
            raise exit_interrupted(console, "run", where, resume_with) from None
        except RunDirectoryError as exc:
            console.print(f"[red]error[/]: {exc}; the run stopped (interrupted) with what "
                          "was completed kept", highlight=False)
            raise typer.Exit(1) from None
    _report(console, record, run_dir, quiet=quiet, as_json=as_json)
    raise typer.Exit(0 if record.status in ("passed", "unvalidated") else 1)


def _live(console: Console) -> RunObserver:
    from aetherflow.cli.display import LiveRunDisplay

    return LiveRunDisplay(console)


def _new_run(console: Console, plan: Path, output: Path | None, label: str | None,
             apply: bool, flags: RunFlags) -> tuple[Path, RunOptions]:
    """Check the plan (warnings printed); where the run goes and its options."""
    from aetherflow.execution.rundir import default_run_dir
    from aetherflow.execution.runner import RunOptions
    from aetherflow.plan import check_plan_file, plan_warnings

    checked = check_plan_file(plan).raise_for_errors()
    for problem in plan_warnings(checked):
        console.print(f"warning: {plan}: {problem}", highlight=False, markup=False)
    where = output or default_run_dir(checked.task_id)
    return where, flags.apply(RunOptions(output=where, label=label, apply=apply))


def _report(console: Console, record: RunRecord, run_dir: Path, *, quiet: bool,
            as_json: bool) -> None:
    if not quiet:
        from aetherflow.cli.display import summary_footer, summary_table

        console.print(summary_table(record, console.width))
        for line in summary_footer(record):
            console.print(line, highlight=False)
    _report_apply(console, record, run_dir, quiet=quiet)
    print_where(console, "run directory:", run_dir)
    console.print("  (run.json, journal.jsonl, step_outputs/, workspace/)", highlight=False)
    if as_json:
        print_json(record.model_dump(mode="json"))


def _report_apply(console: Console, record: RunRecord, run_dir: Path, *, quiet: bool) -> None:
    """What --apply did: the diff it wrote into the project and the changes no executed
    check verified, or why it wrote nothing."""
    outcome = record.project_apply
    if outcome is None:
        return
    if not outcome.applied:
        console.print(f"--apply: {outcome.note}", highlight=False, markup=False)
        return
    if not quiet and outcome.diff_file:
        console.print((run_dir / outcome.diff_file).read_text(encoding="utf-8"),
                      highlight=False, markup=False)
    console.print(f"--apply: wrote {len(outcome.files)} file(s) into {record.config.project} "
                  f"(diff: {run_dir / (outcome.diff_file or '')})", highlight=False,
                  markup=False)
    if outcome.unverified:
        console.print("not verified by any executed check: " + ", ".join(outcome.unverified),
                      highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    """Add ``run`` to ``app``."""
    app.command("run", cls=Command)(run_command)
