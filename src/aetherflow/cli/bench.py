"""``aetherflow bench PLAN``: repeat a plan, then write the report files.

``bench`` is a command group whose default command is ``run``: ``aetherflow bench PLAN``
is ``aetherflow bench run PLAN`` (a first argument that is not a subcommand name is taken
as the plan), so the focused benchmarks (:mod:`aetherflow.cli.focused`) live beside it as
``bench parallel PLAN`` and so on without a separate top-level name.

Light at import: the bench engine, the reports and rich load when a command runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from aetherflow.cli.common import (
    exit_interrupted,
    human_console,
    print_json,
    print_where,
    run_until_signal,
    terminate_as_interrupt,
)
from aetherflow.cli.help import Command, Group, new_app
from aetherflow.cli.options import RunFlags, with_bench_flags
from aetherflow.errors import ConfigError

if TYPE_CHECKING:
    from rich.console import Console

    from aetherflow.bench.runner import BenchSpec
    from aetherflow.plan.models import Plan
    from aetherflow.results.bench import BenchmarkData
    from aetherflow.results.run import RunRecord, StepRecord

__all__ = ["BenchExecutor", "BenchProgress", "DefaultRunGroup", "bench_app", "bench_run",
           "bench_summary", "make_executor", "register", "reject_seed"]

#: Runs one bench and writes its reports; ``resume`` continues the bench in
#: ``spec.output`` with the spec it recorded.
BenchExecutor = Callable[..., "BenchmarkData"]

SET_HELP = ("Change a setting for the bench, KEY=VALUE (repeatable); keys: concurrency, "
            "provider, model, max_tokens, temperature, base_url, max_attempts, "
            "step_timeout_s, repairs, workflow, review_provider, review_model, sandbox, "
            "check_memory_mb, max_cost_usd, speculative=on|off, cache=on|off. An option "
            "given both ways is an error.")
#: Longest step id shown in the progress bar's description (it must fit 80 columns).
_STEP_ID_WIDTH = 24


class DefaultRunGroup(Group):
    """A group that runs ``run`` when the first argument is not a subcommand."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Prepend ``run`` unless the first argument names a subcommand or asks for help."""
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


bench_app = new_app(
    "Benchmark a plan: bench PLAN (the same as bench run PLAN) repeats it and writes the "
    "reports; bench parallel, speculative, workflow, prompt-cache and slm-local are focused "
    "benchmarks, each two variants compared with confidence intervals.\n\n"
    "Example: aetherflow bench examples/plans/calculator.json --repeat 3",
    cls=DefaultRunGroup, no_args_is_help=True)


class BenchProgress:
    """Rich progress bars over repeats and over the steps of the current repeat."""

    def __init__(self, console: Console) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(bar_width=None),
                                 MofNCompleteColumn(), TimeElapsedColumn(), console=console)
        self._repeats = self.progress.add_task("repeats", total=None)
        self._steps = self.progress.add_task("steps", total=None)

    def __enter__(self) -> BenchProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def on_repeat_start(self, index: int, total: int, warmup: bool) -> None:
        """Show which repeat is running."""
        kind = "warm-up" if warmup else "measured"
        self.progress.update(self._repeats, total=total, completed=index - 1,
                             description=f"repeat {index}/{total} ({kind})")

    def on_run_start(self, plan: Plan, run: RunRecord) -> None:
        """Reset the step bar."""
        self.progress.reset(self._steps, total=len(plan.steps), description="steps")

    def on_step_start(self, step_id: str, attempt: int, provider: str) -> None:
        """Name the running step (a long id is shortened, so the bars fit 80 columns)."""
        shown = step_id if len(step_id) <= _STEP_ID_WIDTH else \
            step_id[:_STEP_ID_WIDTH - 1] + "…"
        self.progress.update(self._steps, description=f"steps ({shown} #{attempt})")

    def on_token(self, step_id: str, text: str) -> None:
        """Ignore tokens (the bar tracks steps)."""

    def on_step_end(self, record: StepRecord) -> None:
        """Advance the step bar."""
        self.progress.advance(self._steps)

    def on_run_end(self, run: RunRecord) -> None:
        """Advance the repeat bar."""
        self.progress.advance(self._repeats)


def _run_bench(spec: BenchSpec, quiet: bool, console: Console, resume: bool) -> BenchmarkData:
    """:func:`aetherflow.api.bench_spec_async` (reports written) under the signal handler,
    with progress bars unless ``quiet``."""
    from aetherflow.api import bench_spec_async

    if quiet:
        return run_until_signal(bench_spec_async(spec, resume=resume)).data
    with BenchProgress(console) as progress:
        return run_until_signal(bench_spec_async(spec, resume=resume, observer=progress)).data


def make_executor(console: Console, quiet: bool,
                  prepare: Callable[[BenchSpec], BenchSpec] | None = None) -> BenchExecutor:
    """An executor for the bench engine: ``execute(spec, resume=False)`` runs the bench
    (with progress bars unless ``quiet``; SIGINT/SIGTERM stop it as an interrupt), then
    writes every report file. ``prepare`` adjusts each new spec first (e.g. applies the
    shared options); a resumed bench runs with the spec it recorded."""

    def execute(spec: BenchSpec, resume: bool = False) -> BenchmarkData:
        if not resume and prepare is not None:
            spec = prepare(spec)
        return _run_bench(spec, quiet, console, resume)

    return execute


def reject_seed(flags: RunFlags) -> None:
    """The bench family gives every repeat its own seed: ``--seed`` is an error there."""
    flags.reject(["seed"], "a bench gives every repeat its own seed (1, 2, ...), so "
                           "repeats are independent draws; --seed is for run")


def bench_summary(data: BenchmarkData, directory: Path) -> dict[str, Any]:
    """The ``--json`` summary of a bench: where it is, its setup and its global figures
    (every run's record stays in benchmark_data.json)."""
    from aetherflow.bench.runner import BENCH_DATA_FILE
    from aetherflow.report import HTML_REPORT, MD_REPORT

    meta = data.meta.model_dump(mode="json", exclude={"environment"})
    runs = [{"index": r.index, "warmup": r.warmup, "run_dir": r.run_dir,
             "status": r.record.status, "makespan_ms": r.record.makespan_ms}
            for r in data.runs]
    return {"kind": "bench", "directory": str(directory),
            "benchmark_data": str(directory / BENCH_DATA_FILE),
            "reports": [str(directory / MD_REPORT), str(directory / HTML_REPORT)],
            "meta": meta, "runs": runs,
            "global": data.aggregates.global_figures.model_dump(mode="json"),
            "latency": data.aggregates.latency_all.model_dump(mode="json")}


def _check_resume(plan: Path | None, given: dict[str, Any], flags: RunFlags) -> None:
    named = [name for name, value in given.items() if value not in (None, [], False)]
    if plan is not None:
        named.insert(0, "PLAN")
    named += flags.given_options()
    if named:
        raise ConfigError(f"--resume continues the bench with the spec it recorded: drop "
                          f"{', '.join(named)}")


def _new_spec(plan: Path, repeat: int | None, warmup: int | None, sets: list[str],
              label: str | None, output: Path | None, flags: RunFlags) -> BenchSpec:
    from aetherflow.bench.overlay import parse_overlay
    from aetherflow.bench.runner import BenchSpec
    from aetherflow.execution.rundir import default_run_dir
    from aetherflow.execution.runner import RunOptions
    from aetherflow.plan.loader import load_plan

    reject_seed(flags)
    overlay = parse_overlay(sets)
    flags.overlay_conflicts(overlay)
    out = output or default_run_dir(load_plan(plan).task_id, root=Path("bench_results"))
    return BenchSpec(plan=plan, output=out, repeats=3 if repeat is None else repeat,
                     warmup=warmup or 0, options=flags.apply(RunOptions()), overlay=overlay,
                     label=label, fresh_server=flags.fresh_server)


@bench_app.command("run", cls=Command)
@with_bench_flags
def bench_run(
    plan: Path | None = typer.Argument(None, help="Plan file (JSON).", show_default=False),
    repeat: int | None = typer.Option(None, "--repeat", "-n", metavar="N",
                                      help="Measured runs. \\[default: 3]"),
    warmup: int | None = typer.Option(None, "--warmup", metavar="N",
                                      help="Warm-up runs (kept, not in the statistics). "
                                           "\\[default: 0]"),
    sets: list[str] = typer.Option([], "--set", metavar="KEY=VALUE", help=SET_HELP),
    label: str | None = typer.Option(None, "--label", metavar="TEXT",
                                     help="Label stored with every run."),
    output: Path | None = typer.Option(None, "--output", "-o", metavar="DIR",
                                       help="Bench directory (default "
                                            "bench_results/<time>-<task_id>)."),
    resume: Path | None = typer.Option(
        None, "--resume", metavar="DIR",
        help="Continue an interrupted bench with the spec it recorded: finished runs are "
             "kept, broken ones resumed, missing ones run."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or tables."),
    as_json: bool = typer.Option(False, "--json",
                                 help="Print a summary as JSON on stdout (the rest goes to "
                                      "stderr)."),
    *, flags: RunFlags,
) -> None:
    """Run a plan N times and write benchmark_data.json and the reports (Markdown with PNG
    charts, HTML).

    Exit 0 once the reports are written (failed steps are data), 2 for bad input, 130
    when interrupted (SIGINT or SIGTERM; continue with --resume DIR).

    Example: aetherflow bench examples/plans/calculator.json -n 5 --warmup 1
    """
    console = human_console()
    if resume is not None:
        _check_resume(plan, {"--repeat": repeat, "--warmup": warmup, "--set": sets,
                             "--label": label, "--output": output}, flags)
        from aetherflow.bench.runner import load_bench_spec

        spec = load_bench_spec(resume)[0]
    elif plan is None:
        raise ConfigError("give a PLAN to bench, or --resume DIR to continue a bench")
    else:
        spec = _new_spec(plan, repeat, warmup, sets, label, output, flags)
    with terminate_as_interrupt():
        try:
            data = make_executor(console, quiet)(spec, resume=resume is not None)
        except KeyboardInterrupt:
            raise exit_interrupted(console, "bench", spec.output,
                                   f"aetherflow bench --resume {spec.output}") from None
    if not quiet:
        from aetherflow.report import render_terminal

        console.print(render_terminal(data))
    print_where(console, "bench directory:", spec.output)
    console.print("  (benchmark_report.html and .md, benchmark_data.json, *.png, runs/)",
                  highlight=False)
    if as_json:
        print_json(bench_summary(data, spec.output))


def register(app: typer.Typer) -> None:
    """Add the ``bench`` group: ``bench PLAN`` and the focused benchmarks."""
    from aetherflow.cli import focused

    focused.register(bench_app)
    app.add_typer(bench_app, name="bench")
