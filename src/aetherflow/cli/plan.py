"""``aetherflow plan check FILE...``, ``plan upgrade PLAN`` and ``plan schema``.

Light at import: the plan models load when a command runs.
"""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from aetherflow.cli.help import Command, new_app
from aetherflow.errors import PlanError, PlanProblem

if TYPE_CHECKING:
    from aetherflow.plan import PlanCheck
    from aetherflow.plan.models import Plan
    from aetherflow.plan.upgrade import CriterionUpgrade

__all__ = ["plan_app", "register"]

plan_app = new_app("Check and upgrade plans; export the plan format's JSON Schema.\n\n"
                   "Example: aetherflow plan check examples/plans/*.json",
                   no_args_is_help=True)


def _problem(line: str) -> None:
    """One problem on stderr: one line when piped (for grep, editors and CI annotations),
    wrapped to the terminal's width (continuation lines indented) on a terminal."""
    if sys.stderr.isatty():
        width = shutil.get_terminal_size().columns
        line = "\n".join(textwrap.wrap(line, width, subsequent_indent="  ",
                                       break_long_words=False, break_on_hyphens=False))
    typer.echo(line, err=True)


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {plural or noun + 's'}"


def _shape(plan: Plan) -> dict[str, int]:
    from aetherflow.plan import topological_batches

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


@plan_app.command("check", cls=Command)
def check(
    files: list[Path] = typer.Argument(..., metavar="FILE...", help="Plan files to check."),
    strict: bool = typer.Option(False, "--strict",
                                help="Treat warnings (keys AetherFlow does not use) as errors."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON list, one entry per file."),
) -> None:
    """Check every plan file and report every problem in each.

    One summary line per file on stdout; each error and warning as one line on stderr,
    with its JSON path and step id. Exit 0 when every plan is valid, 2 when one has
    errors.

    Example: aetherflow plan check examples/plans/calculator.json
    """
    from aetherflow.plan import check_plan_file

    results = [check_plan_file(file, strict=strict) for file in files]
    if as_json:
        typer.echo(json.dumps([_check_json(r) for r in results], indent=2))
    else:
        for result in results:
            typer.echo(_summary(result))
            for problem in result.errors:
                _problem(f"error: {result.source}: {problem}")
            for problem in result.warnings:
                _problem(f"warning: {result.source}: {problem}")
        if len(results) > 1:
            bad = sum(1 for r in results if r.errors)
            warned = sum(1 for r in results if r.ok and r.warnings)
            typer.echo(f"{_count(len(results), 'plan')} checked: {len(results) - bad - warned} "
                       f"ok, {warned} with warnings, {bad} with errors")
    if any(r.errors for r in results):
        raise typer.Exit(2)


def _upgrade_json(item: CriterionUpgrade) -> dict[str, Any]:
    return {"location": item.location, "step_id": item.step_id, "text": item.text,
            "rule": item.rule, "converted": item.converted, "added": item.added,
            "already": item.already}


def _upgrade_line(item: CriterionUpgrade) -> str:
    if not item.converted:
        return f"  kept       {item.location}: {item.text!r} (no certain rule)"
    checks = [json.dumps(c) for c in item.added]
    checks += [f"{json.dumps(c)} (already in the plan)" for c in item.already]
    return f"  converted  {item.location}: {item.text!r} -> {', '.join(checks)}"


@plan_app.command("upgrade", cls=Command)
def upgrade(
    plan: Path = typer.Argument(..., help="The plan to upgrade (it is not changed)."),
    output: Path | None = typer.Option(None, "-o", "--output", metavar="FILE",
                                       help="Where to write (default: <stem>.upgraded.json)."),
    force: bool = typer.Option(False, "--force", help="Overwrite the output file if it "
                                                      "exists."),
    as_json: bool = typer.Option(False, "--json",
                                 help="Print what was converted as JSON on stdout."),
) -> None:
    """Propose structured checks for free-text criteria where a rule is certain.

    Keeps every free-text criterion (the proposals go right after it) and writes the
    result to a new file; lists what was converted and what was not, step by step.

    Example: aetherflow plan upgrade old_plan.json -o new_plan.json
    """
    from aetherflow.plan.upgrade import upgrade_plan_file

    try:
        target, result = upgrade_plan_file(plan, output, force=force)
    except PlanError as exc:  # one "error:" line per problem, as `plan check` prints them
        for problem in exc.problems:
            _problem(f"error: {exc.source}: {problem}")
        raise typer.Exit(exc.exit_code) from None
    total = _count(len(result.criteria), "free-text criterion", "free-text criteria")
    if as_json:
        typer.echo(json.dumps({"plan": str(plan), "output": str(target),
                               "criteria": [_upgrade_json(c) for c in result.criteria]},
                              indent=2))
        return
    typer.echo(f"{plan}: {len(result.converted)} of {total} converted; wrote {target}")
    by_step: dict[str, list[CriterionUpgrade]] = {}
    for item in result.criteria:
        by_step.setdefault(item.step_id, []).append(item)
    for step_id, items in by_step.items():
        typer.echo(f"{step_id}:")
        for item in items:
            typer.echo(_upgrade_line(item))


@plan_app.command("schema", cls=Command)
def schema() -> None:
    """Print the plan format's JSON Schema (for editors).

    Example: aetherflow plan schema > plan.schema.json
    """
    from aetherflow.plan import plan_json_schema

    typer.echo(json.dumps(plan_json_schema(), indent=2))


def register(app: typer.Typer) -> None:
    """Add the ``plan`` command group to ``app``."""
    app.add_typer(plan_app, name="plan")
