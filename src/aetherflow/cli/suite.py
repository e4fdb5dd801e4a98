"""``aetherflow suite PLAN... [--variants FILE]``: a bench per plan × variant, compared.

``suite --resume DIR`` continues an interrupted suite. The work is
:func:`aetherflow.api.run_suite` (with this command's progress bars); light at import: the
bench engine and the reports load when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from aetherflow.cli.bench import make_executor, reject_seed
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

    from aetherflow.bench.suite import Variant
    from aetherflow.execution.runner import RunOptions
    from aetherflow.results.suite import SuiteData

__all__ = ["load_variants", "register", "suite_command", "suite_summary"]


def load_variants(path: Path | None) -> list[Variant]:
    """:func:`aetherflow.bench.suite.load_variants`."""
    from aetherflow.bench import suite

    return suite.load_variants(path)


def suite_summary(data: SuiteData, out: Path) -> dict[str, Any]:
    """The ``--json`` summary of a suite: its reports and each bench's global figures."""
    from aetherflow.report.comparison import COMPARISON_HTML, COMPARISON_MD
    from aetherflow.results.suite import SUITE_DATA_FILE

    benches = [{"plan": e.plan, "variant": e.variant, "directory": str(out / e.output),
                "task_id": e.meta.task_id,
                "global": e.aggregates.global_figures.model_dump(mode="json")}
               for e in data.benches]
    return {"kind": "suite", "directory": str(out), "report": str(out / COMPARISON_MD),
            "html": str(out / COMPARISON_HTML), "data": str(out / SUITE_DATA_FILE),
            "benches": benches}


def _check_resume(plans: list[Path], given: dict[str, Any], flags: RunFlags) -> None:
    named = (["PLAN"] if plans else []) + [n for n, v in given.items() if v is not None]
    named += flags.given_options()
    if named:
        raise ConfigError(f"--resume continues the suite with the spec it recorded: drop "
                          f"{', '.join(named)}")


def _announce(console: Console, quiet: bool) -> Any:
    """Wraps the executor so each bench says which one it is before it starts."""
    count = [0]

    def before(spec: Any, resume: bool) -> None:
        count[0] += 1
        if not quiet:
            verb = "resuming" if resume else "bench"
            print_where(console, f"{verb} {count[0]}: {spec.label} ->", spec.output)

    return before


@with_bench_flags
def suite_command(
    plans: list[Path] = typer.Argument(None, metavar="PLAN...", help="Plan files (JSON).",
                                       show_default=False),
    variants: Path | None = typer.Option(
        None, "--variants", metavar="FILE",
        help="JSON or TOML list of variants, each {name, set: {KEY: VALUE}} with the --set "
             "keys (default: one variant, default)."),
    repeat: int | None = typer.Option(None, "--repeat", "-n", metavar="N",
                                      help="Measured runs per bench. \\[default: 3]"),
    output: Path | None = typer.Option(None, "--output", "-o", metavar="DIR",
                                       help="Suite directory (default "
                                            "bench_results/<time>-suite)."),
    resume: Path | None = typer.Option(
        None, "--resume", metavar="DIR",
        help="Continue an interrupted suite with the spec it recorded: finished benches "
             "are reused, an interrupted one resumed, the rest run."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    as_json: bool = typer.Option(False, "--json",
                                 help="Print a summary as JSON on stdout."),
    *, flags: RunFlags,
) -> None:
    """Bench every plan under every variant, then write one comparison report over all of
    them (comparison_report.md and .html).

    Exit 0 once the reports are written, 2 for bad input, 130 when interrupted (SIGINT or
    SIGTERM; continue with --resume DIR).

    Example: aetherflow suite examples/plans/*.json --variants variants.toml -n 3
    """
    from aetherflow.api import run_suite

    console = human_console()
    plans = plans or []
    if resume is not None:
        _check_resume(plans, {"--variants": variants, "--repeat": repeat,
                              "--output": output}, flags)
        out = resume
    elif not plans:
        raise ConfigError("give the PLAN files of the suite, or --resume DIR to continue one")
    else:
        reject_seed(flags)
        chosen = load_variants(variants)
        for v in chosen:
            flags.overlay_conflicts(v.overlay())
        out = output or _default_dir()
    announce = _announce(console, quiet)
    bench = make_executor(console, quiet)

    def execute(spec: Any, resume_bench: bool) -> Any:
        announce(spec, resume_bench)
        return bench(spec, resume=resume_bench)

    with terminate_as_interrupt():
        try:
            result = (run_suite(resume=out, execute=execute) if resume is not None else
                      run_suite(plans, chosen, _options(flags), output=out,
                                repeats=3 if repeat is None else repeat,
                                fresh_server=flags.fresh_server, execute=execute))
        except KeyboardInterrupt:
            raise exit_interrupted(console, "suite", out,
                                   f"aetherflow suite --resume {out}") from None
    print_where(console, "suite directory:", out)
    console.print(f"  ({len(result.data.benches)} benches; comparison_report.md and .html, "
                  "suite_data.json)", highlight=False)
    if as_json:
        print_json(suite_summary(result.data, out))


def _default_dir() -> Path:
    from aetherflow.execution.rundir import default_run_dir

    return default_run_dir("suite", root=Path("bench_results"))


def _options(flags: RunFlags) -> RunOptions:
    from aetherflow.execution.runner import RunOptions

    return flags.apply(RunOptions())  # type: ignore[no-any-return]


def register(app: typer.Typer) -> None:
    """Add ``suite`` to ``app``."""
    app.command("suite", cls=Command)(suite_command)
