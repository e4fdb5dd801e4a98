"""``aetherflow bench PLAN``: repeat a plan, then write the report files.

``bench`` is a command group whose default command is ``run``: ``aetherflow bench PLAN``
is ``aetherflow bench run PLAN`` (a first argument that is not a subcommand name is taken
as the plan), so focused benchmarks can live beside it as ``bench parallel PLAN`` and
``bench speculative PLAN`` without a separate top-level name.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from typer.core import TyperGroup

from aetherflow.bench import BenchmarkData, BenchSpec, parse_overlay, run_bench_async
from aetherflow.bench.focused import run_focused
from aetherflow.bench.prompt_cache import DEFAULT_EMULATED, run_prompt_cache
from aetherflow.bench.slm_local import run_slm_local
from aetherflow.execution.rundir import default_run_dir
from aetherflow.execution.runner import RunOptions
from aetherflow.metrics.records import RunRecord, StepRecord
from aetherflow.plan.loader import load_plan
from aetherflow.plan.models import Plan
from aetherflow.report import render_terminal, write_bench_reports

__all__ = ["BenchProgress", "DefaultRunGroup", "bench_app", "register"]


class DefaultRunGroup(TyperGroup):
    """A group that runs ``run`` when the first argument is not a subcommand."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Prepend ``run`` unless the first argument names a subcommand or asks for help."""
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


bench_app = typer.Typer(cls=DefaultRunGroup, no_args_is_help=True,
                        help="Benchmark a plan: `bench PLAN` (= `bench run PLAN`), or a "
                             "focused benchmark (`bench parallel`, `bench speculative`, "
                             "`bench prompt-cache`, `bench slm-local`).")


class BenchProgress:
    """Rich progress bars over repeats and over the steps of the current repeat."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
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
        """Name the running step."""
        self.progress.update(self._steps, description=f"steps ({step_id} #{attempt})")

    def on_token(self, step_id: str, text: str) -> None:
        """Ignore tokens (the bar tracks steps)."""

    def on_step_end(self, record: StepRecord) -> None:
        """Advance the step bar."""
        self.progress.advance(self._steps)

    def on_run_end(self, run: RunRecord) -> None:
        """Advance the repeat bar."""
        self.progress.advance(self._repeats)


def _spec(plan: Path, repeat: int, warmup: int, provider: str, model: str | None,
          sets: list[str], label: str | None, output: Path | None,
          config: Path | None) -> BenchSpec:
    overlay = parse_overlay(sets)
    out = output or default_run_dir(load_plan(plan).task_id, root=Path("bench_results"))
    options = RunOptions(provider=provider, model=model, config_path=config)
    return BenchSpec(plan=plan, output=out, repeats=repeat, warmup=warmup, options=options,
                     overlay=overlay, label=label)


def execute(spec: BenchSpec, quiet: bool, console: Console) -> BenchmarkData:
    """Run the bench with (or without) progress bars, then write every report file."""
    if quiet:
        data = asyncio.run(run_bench_async(spec))
    else:
        with BenchProgress(console) as progress:
            data = asyncio.run(run_bench_async(spec, observer=progress))
    write_bench_reports(data, spec.output)
    return data


_SET_HELP = ("Overlay KEY=VALUE (repeatable): concurrency, provider, model, max_tokens, "
             "temperature, base_url, max_attempts, step_timeout_s, speculative=on|off, "
             "cache=on|off.")


@bench_app.command("run")
def bench_run(
    plan: Path = typer.Argument(..., help="Plan file (JSON)."),
    repeat: int = typer.Option(3, "--repeat", "-n", help="Measured runs."),
    warmup: int = typer.Option(0, "--warmup", help="Warm-up runs (kept, not in statistics)."),
    provider: str = typer.Option("local", "--provider", "-p"),
    model: str | None = typer.Option(None, "--model", "-m"),
    sets: list[str] = typer.Option([], "--set", help=_SET_HELP),
    label: str | None = typer.Option(None, "--label", help="Label stored with every run."),
    output: Path | None = typer.Option(None, "--output", "-o",
                                       help="Bench directory (default bench_results/...)."),
    config: Path | None = typer.Option(None, "--config", help="aetherflow.toml to use."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or tables."),
) -> None:
    """Run PLAN N times and write benchmark_data.json and the reports (md, png, html)."""
    console = Console(stderr=True)
    spec = _spec(plan, repeat, warmup, provider, model, sets, label, output, config)
    data = execute(spec, quiet, console)
    if not quiet:
        console.print(render_terminal(data))
    console.print(f"bench directory: {spec.output}  (benchmark_data.json, benchmark_report.md, "
                  "benchmark_report.html, *.png, runs/)")


def _focused(kind: str) -> Any:
    def command(
        plan: Path = typer.Argument(..., help="Plan file (JSON)."),
        repeat: int = typer.Option(3, "--repeat", "-n", help="Measured runs per variant."),
        sets: list[str] = typer.Option([], "--set", help=_SET_HELP),
        output: Path | None = typer.Option(None, "--output", "-o"),
        quiet: bool = typer.Option(False, "--quiet", "-q"),
    ) -> None:
        console = Console(stderr=True)
        report = run_focused(kind, plan, _focused_dir(kind, plan, output), repeat,
                             parse_overlay(sets), lambda spec: execute(spec, quiet, console))
        _show(console, kind, report)

    command.__doc__ = f"Focused benchmark: {kind} (two variants of PLAN, compared with CIs)."
    return command


def _focused_dir(kind: str, plan: Path, output: Path | None) -> Path:
    return output or default_run_dir(f"{kind}-{load_plan(plan).task_id}",
                                     root=Path("bench_results"))


def _show(console: Console, kind: str, report: Path) -> None:
    """Print a focused benchmark's headline report and where it is."""
    console.print(report.read_text(encoding="utf-8"), markup=False)
    console.print(f"{kind} benchmark: {report}")


def prompt_cache_command(
    plan: Path = typer.Argument(..., help="Plan whose steps share a long prefix, e.g. "
                                          "examples/plans/shared_context.json."),
    repeat: int = typer.Option(3, "--repeat", "-n", help="Measured runs per variant."),
    providers: list[str] = typer.Option(
        ["local"], "--provider", "-p",
        help="Provider run for real (repeatable; default: the embedded local model)."),
    emulate: list[str] = typer.Option(
        list(DEFAULT_EMULATED), "--emulate",
        help="Provider run against the emulator (repeatable; default: openai, anthropic, "
             "deepseek, gemini)."),
    no_emulate: bool = typer.Option(False, "--no-emulate", help="Skip the emulated sides."),
    emulator_profile: Path | None = typer.Option(
        None, "--emulator-profile", help="Emulator profile (default: built-in cloud profile)."),
    sets: list[str] = typer.Option([], "--set", help=_SET_HELP),
    output: Path | None = typer.Option(None, "--output", "-o"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Focused benchmark: prompt caching used vs defeated (TTFT, cached tokens, cost)."""
    console = Console(stderr=True)
    out = _focused_dir("prompt-cache", plan, output)
    report = run_prompt_cache(plan, out, repeat, parse_overlay(sets),
                              lambda spec: execute(spec, quiet, console), providers=providers,
                              emulated=[] if no_emulate else emulate,
                              emulator_profile=emulator_profile)
    _show(console, "prompt-cache", report)


def slm_local_command(
    plan: Path = typer.Argument(..., help="Plan file (JSON), e.g. examples/plans/calculator.json."),
    repeat: int = typer.Option(3, "--repeat", "-n", help="Measured runs per side."),
    remote: str = typer.Option("openai", "--remote", help="The provider to compare against."),
    model: str | None = typer.Option(None, "--model", "-m", help="Remote model."),
    emulated: bool | None = typer.Option(
        None, "--emulated/--real",
        help="Remote side on the emulator, or for real (default: real if its key is set)."),
    emulator_profile: Path | None = typer.Option(
        None, "--emulator-profile", help="Emulator profile (default: built-in cloud profile)."),
    sets: list[str] = typer.Option([], "--set", help=_SET_HELP),
    config: Path | None = typer.Option(None, "--config", help="aetherflow.toml to use."),
    output: Path | None = typer.Option(None, "--output", "-o"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Focused benchmark: the embedded small model vs a remote (or emulated) provider."""
    console = Console(stderr=True)
    out = _focused_dir("slm-local", plan, output)
    report = run_slm_local(plan, out, repeat, parse_overlay(sets),
                           lambda spec: execute(spec, quiet, console), remote=remote,
                           emulated=emulated, model=model, emulator_profile=emulator_profile,
                           config_path=config)
    _show(console, "slm-local", report)


def register(app: typer.Typer) -> None:
    """Add the ``bench`` group: ``bench PLAN`` and the focused benchmarks."""
    registered = {c.name for c in bench_app.registered_commands}
    for kind in ("parallel", "speculative"):
        if kind not in registered:
            bench_app.command(kind)(_focused(kind))
    if "prompt-cache" not in registered:
        bench_app.command("prompt-cache")(prompt_cache_command)
        bench_app.command("slm-local")(slm_local_command)
    app.add_typer(bench_app, name="bench")
