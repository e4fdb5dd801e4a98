"""``aetherflow plan check FILE`` and ``aetherflow plan schema``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from aetherflow.plan import load_plan, plan_json_schema, topological_batches

__all__ = ["register"]

plan_app = typer.Typer(help="Check plans and export the plan JSON Schema.", no_args_is_help=True)


@plan_app.command("check")
def check(files: list[Path] = typer.Argument(..., help="Plan files to check.")) -> None:
    """Validate plan files; print a summary or the first problem with its JSON path."""
    for file in files:
        plan = load_plan(file)
        deps = {s.id: list(s.dependencies) for s in plan.steps}
        batches = topological_batches(deps)
        typer.echo(f"{file}: ok ({len(plan.steps)} steps, {len(batches)} batches, "
                   f"max width {max(len(b) for b in batches)})")


@plan_app.command("schema")
def schema() -> None:
    """Print the plan format's JSON Schema (for editors)."""
    typer.echo(json.dumps(plan_json_schema(), indent=2))


def register(app: typer.Typer) -> None:
    """Add the ``plan`` command group to ``app``."""
    app.add_typer(plan_app, name="plan")
