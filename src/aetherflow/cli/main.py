"""The ``aetherflow`` command: one Typer app, one module per command."""

from __future__ import annotations

import os
import sys

import typer

from aetherflow import __version__
from aetherflow.errors import AetherFlowError, PlanError

__all__ = ["app", "main"]

app = typer.Typer(
    name="aetherflow",
    help="Run LLM code-generation plans and benchmark providers with measured numbers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"aetherflow {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Show the version and exit."),
) -> None:
    """AetherFlow command line."""


def _register_commands() -> None:
    from aetherflow.cli import (
        bench,
        compare,
        emulate,
        history,
        plan,
        providers,
        report,
        run,
        suite,
    )

    for module in (plan, run, bench, suite, compare, history, report, providers, emulate):
        module.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning AetherFlow errors into one line and an exit code.

    Set ``AETHERFLOW_DEBUG=1`` to get the traceback instead.
    """
    _register_commands()
    try:
        app(args=argv, standalone_mode=True)
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
