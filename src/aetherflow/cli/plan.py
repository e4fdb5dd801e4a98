"""``aetherflow plan check FILE...``, ``plan upgrade PLAN`` and ``plan schema``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from aetherflow.errors import PlanError, PlanProblem
from aetherflow.plan import PlanCheck, check_plan_file, plan_json_schema, topological_batches
from aetherflow.plan.models import Plan
from aetherflow.plan.upgrade import CriterionUpgrade, upgrade_plan_file

__all__ = ["register"]

plan_app = typer.Typer(help="Check and upgrade plans; export the plan JSON Schema.",
                       no_args_is_help=True)


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {plural or noun + 's'}"


def _shape(plan: Plan) -> dict[str, int]:
    batches = topological_batches({s.id: list(s.dependencies) for s in plan.steps})
    return {"steps": len(plan.steps), "batches": len(batches),
            "max_width": max(len(b) for b in batches)}


def _summary(result: PlanCheck) -> str:
    if result.plan is None:
        parts = [_count(len(result.errors), "error")]
        if result.warnings:
            parts.append(_count(len(result.warnings), "warning"))
        return f"{result.source}: {', '.join(parts)}"
    shape = _shape(result.plan)
    status = f"ok, {_count(len(result.warnings), 'warning')}" if result.warnings else "ok"
    return (f"{result.source}: {status} ({_count(shape['steps'], 'step')}, "
            f"{_count(shape['batches'], 'batch', 'batches')}, max width {shape['max_width']})")


def _problem_json(problem: PlanProblem) -> dict[str, Any]:
    return {"location": problem.location, "path": problem.json_path,
            "step_id": problem.step_id, "message": problem.message}


def _check_json(result: PlanCheck) -> dict[str, Any]:
    shape = _shape(result.plan) if result.plan is not None else {}
    return {"file": result.source, "ok": result.ok, "steps": shape.get("steps"),
            "batches": shape.get("batches"), "max_width": shape.get("max_width"),
            "errors": [_problem_json(p) for p in result.errors],
            "warnings": [_problem_json(p) for p in result.warnings]}


@plan_app.command("check")
def check(
    files: list[Path] = typer.Argument(..., help="Plan files to check."),
    strict: bool = typer.Option(False, "--strict",
                                help="Treat warnings (keys AetherFlow does not use) as errors."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON list, one entry per file."),
) -> None:
    """Check every plan file and report every problem in each; exit 2 if any has errors.

    One summary line per file on stdout; each error and warning as one line on stderr.
    """
    results = [check_plan_file(file, strict=strict) for file in files]
    if as_json:
        typer.echo(json.dumps([_check_json(r) for r in results], indent=2))
    else:
        for result in results:
            typer.echo(_summary(result))
            for problem in result.errors:
                typer.echo(f"error: {result.source}: {problem}", err=True)
            for problem in result.warnings:
                typer.echo(f"warning: {result.source}: {problem}", err=True)
        if len(results) > 1:
            bad = sum(1 for r in results if r.errors)
            warned = sum(1 for r in results if r.ok and r.warnings)
            typer.echo(f"{_count(len(results), 'plan')} checked: {len(results) - bad - warned} "
                       f"ok, {warned} with warnings, {bad} with errors")
    if any(r.errors for r in results):
        raise typer.Exit(2)


def _upgrade_line(item: CriterionUpgrade) -> str:
    if not item.converted:
        return f"  kept       {item.location}: {item.text!r} (no certain rule)"
    checks = [json.dumps(c) for c in item.added]
    checks += [f"{json.dumps(c)} (already in the plan)" for c in item.already]
    return f"  converted  {item.location}: {item.text!r} -> {', '.join(checks)}"


@plan_app.command("upgrade")
def upgrade(
    plan: Path = typer.Argument(..., help="The plan to upgrade (it is not changed)."),
    output: Path | None = typer.Option(None, "-o", "--output",
                                       help="Where to write (default: <stem>.upgraded.json)."),
    force: bool = typer.Option(False, "--force", help="Overwrite OUTPUT if it exists."),
) -> None:
    """Propose structured checks for free-text criteria where a rule is certain.

    Keeps every free-text criterion (the proposals go right after it) and writes the
    result to a new file; lists what was converted and what was not, step by step.
    """
    try:
        target, result = upgrade_plan_file(plan, output, force=force)
    except PlanError as exc:  # one "error:" line per problem, as `plan check` prints them
        for problem in exc.problems:
            typer.echo(f"error: {exc.source}: {problem}", err=True)
        raise typer.Exit(exc.exit_code) from None
    total = _count(len(result.criteria), "free-text criterion", "free-text criteria")
    typer.echo(f"{plan}: {len(result.converted)} of {total} converted; wrote {target}")
    by_step: dict[str, list[CriterionUpgrade]] = {}
    for item in result.criteria:
        by_step.setdefault(item.step_id, []).append(item)
    for step_id, items in by_step.items():
        typer.echo(f"{step_id}:")
        for item in items:
            typer.echo(_upgrade_line(item))


@plan_app.command("schema")
def schema() -> None:
    """Print the plan format's JSON Schema (for editors)."""
    typer.echo(json.dumps(plan_json_schema(), indent=2))


def register(app: typer.Typer) -> None:
    """Add the ``plan`` command group to ``app``."""
    app.add_typer(plan_app, name="plan")
