"""The focused benchmarks: ``bench parallel|speculative|workflow|prompt-cache|slm-local``.

Each takes the shared options (:mod:`aetherflow.cli.options`) and applies them to both
sides; a setting a benchmark fixes by design (the concurrency of ``parallel``'s sides, the
local provider of ``speculative``, the workflow of ``workflow``'s sides, the providers of
``prompt-cache`` and ``slm-local``'s sides) is refused with one line when given as an option.

The terminal shows each pair's headline metrics as a plain table that fits 80 columns;
``focused_report.md`` (or ``prompt_cache_report.md``, ``slm_local_report.md``) and
``comparison_report.*`` hold everything. Light at import, like every command module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from aetherflow.cli.bench import SET_HELP, make_executor, reject_seed
from aetherflow.cli.common import (
    exit_interrupted,
    human_console,
    print_json,
    print_where,
    terminate_as_interrupt,
)
from aetherflow.cli.help import Command
from aetherflow.cli.options import RunFlags, with_bench_flags
from aetherflow.errors import ConfigError

if TYPE_CHECKING:
    from rich.console import Console

    from aetherflow.bench.pairs import FocusedRun
    from aetherflow.bench.runner import BenchSpec
    from aetherflow.results.focused import FocusedData

__all__ = ["DEFAULT_EMULATED", "TERMINAL_METRICS", "focused_summary", "headline_text",
           "register", "shared_options_applier"]

#: ``bench prompt-cache``'s emulated sides by default (``bench.prompt_cache``'s
#: ``DEFAULT_EMULATED``; a unit test keeps them equal).
DEFAULT_EMULATED = ("openai", "anthropic", "deepseek", "gemini")

#: The rows each focused benchmark shows in the terminal (every metric is in the reports).
TERMINAL_METRICS: dict[str, tuple[str, ...]] = {
    "parallel": ("makespan", "makespan_p50", "parallel_efficiency", "step_time_p50",
                 "queue_latency_mean", "pass_rate"),
    "speculative": ("tpot_mean", "tpot_p50", "ttr_mean", "output_tokens_mean", "pass_rate"),
    "workflow": ("pass_rate", "first_try_pass_rate", "plan_pass_rate", "cost_total",
                 "cost_per_passed_step", "makespan", "step_time_p50",
                 "repairs_per_passed_step"),
    "prompt-cache": ("ttft_p50", "ttft_mean", "cached_input_share", "cached_tokens_mean",
                     "input_tokens_mean", "cost_total", "ttr_mean", "pass_rate"),
    "slm-local": ("pass_rate", "first_try_pass_rate", "ttft_p50", "ttr_mean", "tpot_mean",
                  "makespan", "output_tokens_mean", "cost_total"),
}

_DOCS = {
    "parallel": ("Sequential against parallel: A runs at concurrency 1, B at --set "
                 "concurrency=N (default 4); makespan, speedup and parallel efficiency.",
                 "aetherflow bench parallel examples/plans/parallel_diamond.json"),
    "speculative": ("llama.cpp prompt-lookup decoding off (A) against on (B) on the embedded "
                    "model; TPOT and TTR, per task type in the report.",
                    "aetherflow bench speculative examples/plans/calculator.json"),
    "workflow": ("The proto workflow (generate, check, repair) against prod (a review pass "
                 "before the checks): pass rates, cost and time.",
                 "aetherflow bench workflow examples/plans/calculator.json -n 3"),
}


def _focused_dir(kind: str, plan: Path, output: Path | None) -> Path:
    from aetherflow.execution.rundir import default_run_dir
    from aetherflow.plan.loader import load_plan

    return output or default_run_dir(f"{kind}-{load_plan(plan).task_id}",
                                     root=Path("bench_results"))


def _overlay(sets: list[str], flags: RunFlags) -> dict[str, str]:
    from aetherflow.bench.overlay import parse_overlay

    reject_seed(flags)
    overlay = parse_overlay(sets)
    flags.overlay_conflicts(overlay)
    return overlay


def shared_options_applier(flags: RunFlags, skip: Sequence[str] = (),
             real_only: Sequence[str] = ()) -> Callable[[BenchSpec], BenchSpec]:
    """Apply the shared options to every side (``skip``: never; ``real_only``: only to a
    side that is not on the emulator) and ``--fresh-server``."""

    def prepare(spec: BenchSpec) -> BenchSpec:
        emulated = spec.options.emulator_url is not None
        left = [*skip, *(real_only if emulated else ())]
        return replace(spec, options=flags.apply(spec.options, skip=left),
                       fresh_server=spec.fresh_server or flags.fresh_server)

    return prepare


def _reject_for(kind: str, flags: RunFlags) -> None:
    if kind == "parallel":
        flags.reject(["concurrency"], "bench parallel runs A at concurrency 1 and B at "
                                      "--set concurrency=N (default 4)")
    elif kind == "workflow":
        flags.reject(["workflow"], "bench workflow runs A with proto and B with prod")
    elif kind == "speculative":
        if flags.values.get("provider") not in (None, "local"):
            raise ConfigError("--provider: bench speculative needs the local provider "
                              "(llama.cpp prompt-lookup decoding)")
        flags.reject(["emulator", "base_url"], "bench speculative needs the embedded "
                                               "llama.cpp server (its server flags change)")


def _run(console: Console, what: str, out: Path,
         work: Callable[[], FocusedRun]) -> FocusedData:
    """Run a focused benchmark and write its reports; its result."""
    from aetherflow.report.focused import write_focused_reports

    with terminate_as_interrupt():
        try:
            run = work()
            write_focused_reports(run.data, out, run.benches)
            return run.data
        except KeyboardInterrupt:
            raise exit_interrupted(console, what, out, None) from None


def headline_text(data: FocusedData) -> str:
    """Every pair's headline metrics as plain text that fits 80 columns."""
    from aetherflow.cli.tables import LEGEND, comparison_table

    parts = []
    for pair in data.pairs:
        cmp = pair.comparison
        title = "" if pair.directory == "." else pair.directory
        heading = f"{data.benchmark}{': ' + title if title else ''}: B against baseline A " \
                  f"({100 * cmp.confidence:g}% CIs)"
        parts.append(comparison_table(cmp, TERMINAL_METRICS[data.benchmark], legend=False,
                                      title=heading))
    return "\n\n".join([*parts, "\n".join(LEGEND)])


def focused_summary(data: FocusedData, out: Path) -> dict[str, Any]:
    """The ``--json`` summary of a focused benchmark: where its reports are and every
    pair's global comparison rows."""
    from aetherflow.results.focused import FOCUSED_DATA_FILE

    pairs = [{"title": p.title, "directory": str(out / p.directory),
              "a": p.comparison.a.model_dump(mode="json"),
              "b": p.comparison.b.model_dump(mode="json"),
              "rows": [r.model_dump(mode="json") for r in p.comparison.rows
                       if r.scope == "global"]}
             for p in data.pairs]
    return {"kind": data.benchmark, "directory": str(out),
            "report": str(out / data.report_file), "data": str(out / FOCUSED_DATA_FILE),
            "pairs": pairs}


def _show(console: Console, data: FocusedData, out: Path, *, quiet: bool,
          as_json: bool) -> None:
    if not quiet:
        console.print(headline_text(data), markup=False, highlight=False)
    print_where(console, f"bench {data.benchmark}:", out / data.report_file)
    if as_json:
        print_json(focused_summary(data, out))


def _pair_command(kind: str) -> Callable[..., None]:
    @with_bench_flags
    def command(
        plan: Path = typer.Argument(..., help="Plan file (JSON)."),
        repeat: int = typer.Option(3, "--repeat", "-n", metavar="N",
                                   help="Measured runs per variant."),
        sets: list[str] = typer.Option([], "--set", metavar="KEY=VALUE", help=SET_HELP),
        output: Path | None = typer.Option(None, "--output", "-o", metavar="DIR",
                                           help="Directory for both benches and the "
                                                "reports (default bench_results/...)."),
        quiet: bool = typer.Option(False, "--quiet", "-q",
                                   help="No progress bars or tables."),
        as_json: bool = typer.Option(False, "--json",
                                     help="Print a summary as JSON on stdout."),
        *, flags: RunFlags,
    ) -> None:
        from aetherflow.bench.focused import run_focused

        overlay = _overlay(sets, flags)
        _reject_for(kind, flags)
        console = human_console()
        out = _focused_dir(kind, plan, output)
        execute = make_executor(console, quiet, shared_options_applier(flags))
        data = _run(console, f"bench {kind}", out,
             lambda: run_focused(kind, plan, out, repeat, overlay, execute))
        _show(console, data, out, quiet=quiet, as_json=as_json)

    purpose, example = _DOCS[kind]
    command.__doc__ = f"{purpose}\n\nExample: {example}"
    return command


@with_bench_flags
def prompt_cache_command(
    plan: Path = typer.Argument(..., help="Plan whose steps share a long prefix, e.g. "
                                          "examples/plans/shared_context.json."),
    repeat: int = typer.Option(3, "--repeat", "-n", metavar="N",
                               help="Measured runs per variant."),
    emulate: list[str] | None = typer.Option(
        None, "--emulate", metavar="NAME",
        help="Provider run against the emulator (repeatable; default: "
             + ", ".join(DEFAULT_EMULATED) + ")."),
    no_emulate: bool = typer.Option(False, "--no-emulate", help="Skip the emulated sides."),
    emulator_profile: Path | None = typer.Option(
        None, "--emulator-profile", metavar="FILE",
        help="Emulator profile (default: the built-in cloud profile)."),
    sets: list[str] = typer.Option([], "--set", metavar="KEY=VALUE", help=SET_HELP),
    output: Path | None = typer.Option(None, "--output", "-o", metavar="DIR",
                                       help="Directory for every pair and the reports."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or tables."),
    as_json: bool = typer.Option(False, "--json", help="Print a summary as JSON on stdout."),
    *, flags: RunFlags,
) -> None:
    """Prompt caching defeated (A) against used (B): TTFT, cached tokens and cost, for real
    on --provider (default: the embedded model) and with each cloud provider's caching
    conventions on the emulator. Every repeat starts a fresh server.

    Example: aetherflow bench prompt-cache examples/plans/shared_context.json
    """
    from aetherflow.bench.prompt_cache import DEFAULT_EMULATED as LIBRARY_DEFAULT
    from aetherflow.bench.prompt_cache import run_prompt_cache

    overlay = _overlay(sets, flags)
    flags.reject(["emulator"], "bench prompt-cache starts its own emulator for the emulated "
                               "sides (--emulate, --emulator-profile)")
    console = human_console()
    out = _focused_dir("prompt-cache", plan, output)
    execute = make_executor(console, quiet, shared_options_applier(flags, skip=["provider"],
                                                     real_only=["model", "base_url"]))
    emulated = [] if no_emulate else list(emulate or LIBRARY_DEFAULT)
    providers = [flags.values.get("provider") or "local"]
    data = _run(console, "bench prompt-cache", out, lambda: run_prompt_cache(
        plan, out, repeat, overlay, execute, providers=providers, emulated=emulated,
        emulator_profile=emulator_profile))
    _show(console, data, out, quiet=quiet, as_json=as_json)


@with_bench_flags
def slm_local_command(
    plan: Path = typer.Argument(..., help="Plan file (JSON)."),
    repeat: int = typer.Option(3, "--repeat", "-n", metavar="N",
                               help="Measured runs per side."),
    remote: str = typer.Option("openai", "--remote", metavar="NAME",
                               help="The provider to compare against."),
    remote_model: str | None = typer.Option(None, "--remote-model", metavar="MODEL",
                                            help="The remote provider's model."),
    emulated: bool | None = typer.Option(
        None, "--emulated/--real",
        help="Remote side on the emulator, or for real (default: real when its key is "
             "set)."),
    emulator_profile: Path | None = typer.Option(
        None, "--emulator-profile", metavar="FILE",
        help="Emulator profile (default: the built-in cloud profile)."),
    sets: list[str] = typer.Option([], "--set", metavar="KEY=VALUE", help=SET_HELP),
    output: Path | None = typer.Option(None, "--output", "-o", metavar="DIR",
                                       help="Directory for both benches and the reports."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or tables."),
    as_json: bool = typer.Option(False, "--json", help="Print a summary as JSON on stdout."),
    *, flags: RunFlags,
) -> None:
    """The embedded small model (A) against a remote provider (B), emulated when its key is
    not set: pass rates, latency and cost.

    Example: aetherflow bench slm-local examples/plans/calculator.json --remote deepseek
    """
    from aetherflow.bench.slm_local import run_slm_local

    overlay = _overlay(sets, flags)
    flags.reject(["provider", "model"], "bench slm-local runs the embedded model against "
                                        "--remote (and --remote-model)")
    flags.reject(["base_url", "emulator"], "bench slm-local chooses where each side runs "
                                           "(--emulated/--real, --emulator-profile)")
    console = human_console()
    out = _focused_dir("slm-local", plan, output)
    execute = make_executor(console, quiet, shared_options_applier(flags))
    data = _run(console, "bench slm-local", out, lambda: run_slm_local(
        plan, out, repeat, overlay, execute, remote=remote, emulated=emulated,
        model=remote_model, emulator_profile=emulator_profile,
        config_path=flags.values.get("config")))
    _show(console, data, out, quiet=quiet, as_json=as_json)


def register(bench_app: typer.Typer) -> None:
    """Add the focused benchmarks to the ``bench`` group (once)."""
    registered = {c.name for c in bench_app.registered_commands}
    for kind in ("parallel", "speculative", "workflow"):
        if kind not in registered:
            bench_app.command(kind, cls=Command)(_pair_command(kind))
    if "prompt-cache" not in registered:
        bench_app.command("prompt-cache", cls=Command)(prompt_cache_command)
    if "slm-local" not in registered:
        bench_app.command("slm-local", cls=Command)(slm_local_command)
