"""The ``aetherflow`` command: one Typer app, one module per command.

Start-up is a feature: every command module registers cheaply (it imports typer and the
light :mod:`aetherflow.cli.options`/:mod:`aetherflow.cli.help`/:mod:`aetherflow.cli.common`
only) and imports what its command needs when that command runs, so ``plan check`` and
``--help`` never pay for the bench engine, the reports (matplotlib, plotly), aiohttp or
the emulator. ``benchmarks/cli_startup.py`` measures it.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import typer

from aetherflow.cli.help import Group
from aetherflow.errors import AetherFlowError, PlanError

__all__ = ["COMMAND_ORDER", "app", "main"]

#: The order commands are listed in ``aetherflow --help`` (others follow, by name).
COMMAND_ORDER = ("run", "bench", "suite", "compare", "diff", "report", "history", "plan",
                 "providers", "emulate")


class RootGroup(Group):
    """The top-level group: commands listed in :data:`COMMAND_ORDER`."""

    def list_commands(self, ctx: Any) -> list[str]:
        """Command names, most used first."""
        names = list(self.commands)
        rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
        return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))


app = typer.Typer(
    name="aetherflow",
    cls=RootGroup,
    help="Run LLM code-generation plans and benchmark providers with measured numbers.\n\n"
         "Every command has its own --help with an example. Exit codes: 0 success, 1 a step "
         "failed (run) or a --fail-if rule triggered (compare), 2 bad input or "
         "configuration, 130 interrupted.\n\n"
         "Example: aetherflow run examples/plans/calculator.json",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from aetherflow import __version__

        typer.echo(f"aetherflow {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Show the version and exit."),
) -> None:
    """AetherFlow command line."""


def _register_commands() -> None:
    """Add every command module to :data:`app` (once)."""
    if getattr(app, "_aetherflow_registered", False):
        return
    app._aetherflow_registered = True  # type: ignore[attr-defined]
    from aetherflow.cli import (
        bench,
        compare,
        diff,
        emulate,
        history,
        plan,
        providers,
        report,
        run,
        suite,
    )

    for module in (plan, run, bench, suite, compare, diff, history, report, providers,
                   emulate):
        module.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning AetherFlow errors into one line and an exit code.

    Set ``AETHERFLOW_DEBUG=1`` to get the traceback instead.
    """
    _register_commands()
    try:
        app(args=argv, prog_name="aetherflow", standalone_mode=True)
    except AetherFlowError as exc:
        if os.environ.get("AETHERFLOW_DEBUG") == "1":
            raise
        lines = str(exc).splitlines() or [type(exc).__name__]
        if isinstance(exc, PlanError):  # one problem per line: each is an error
            lines = [f"error: {line}" for line in lines]
        else:  # a message, then its details (e.g. the candidates of an ambiguous name)
            lines[0] = f"error: {lines[0]}"
        for line in lines:
            typer.echo(line, err=True)
        sys.exit(exc.exit_code)
