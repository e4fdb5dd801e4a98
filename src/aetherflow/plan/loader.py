"""Load and check plan files: every problem becomes one :class:`PlanError` with a location."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from aetherflow.errors import PlanError
from aetherflow.plan.dag import find_cycle
from aetherflow.plan.models import Plan, StructuredCriterion

__all__ = ["load_plan", "parse_plan", "plan_json_schema"]

_CHECK_KINDS = ", ".join(
    repr(get_args(kind.model_fields["check"].annotation)[0])
    for kind in get_args(get_args(StructuredCriterion)[0])
)


def _json_path(loc: tuple[int | str, ...]) -> str:
    path = "$"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _at_criterion(out: list[int | str]) -> bool:
    return len(out) >= 2 and out[-2] == "validation_criteria" and isinstance(out[-1], int)


def _clean_loc(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Drop pydantic's union-branch markers after a criterion index.

    A criterion is ``str | tagged-union``, so pydantic reports e.g.
    ``(..., "validation_criteria", 1, "tagged-union[...]", "contains", "text")`` or
    ``(..., "validation_criteria", 1, "str")``; both become
    ``(..., "validation_criteria", 1[, "text"])``.
    """
    out: list[int | str] = []
    skip_tag = False
    for part in loc:
        if skip_tag:  # the discriminator value ("contains", ...) that follows "tagged-union[...]"
            skip_tag = False
            continue
        if _at_criterion(out) and isinstance(part, str):
            if part == "str":
                continue
            if part.startswith("tagged-union["):
                skip_tag = True
                continue
        out.append(part)
    return tuple(out)


def _is_str_branch(err: ErrorDetails) -> bool:
    loc = tuple(err["loc"])
    return len(loc) >= 3 and loc[-1] == "str" and loc[-3] == "validation_criteria"


def _first_error(exc: ValidationError) -> tuple[str, str]:
    errors = exc.errors()
    # For an object criterion, the "str" branch's "Input should be a valid string" is noise.
    err = next(
        (e for e in errors if not (_is_str_branch(e) and isinstance(e["input"], dict))),
        errors[0],
    )
    loc = _clean_loc(tuple(err["loc"]))
    msg = err["msg"]
    ctx = err.get("ctx") or {}
    if err["type"] == "extra_forbidden":
        msg = "unknown field (custom keys belong under 'metadata')"
    elif err["type"] == "missing":
        msg = "required field is missing"
    elif err["type"] == "union_tag_invalid":
        msg = f"unknown check {ctx.get('tag')!r} (expected one of {ctx.get('expected_tags')})"
    elif err["type"] == "union_tag_not_found":
        msg = f"criterion object has no 'check' key (expected one of {_CHECK_KINDS})"
    elif _is_str_branch(err):
        msg = ("a validation criterion is a string or an object with a 'check' key, "
               f"got {type(err['input']).__name__}")
    return _json_path(loc), msg


def parse_plan(data: Any, source: str = "<plan>") -> Plan:
    """Validate already-decoded JSON as a plan and check its graph.

    Raises :class:`PlanError` for the first problem found: a wrong or missing field
    (with its JSON path), a duplicate step id, an unknown dependency, or a cycle.
    """
    if not isinstance(data, dict):
        raise PlanError(source, "$", f"a plan is a JSON object, got {type(data).__name__}")
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        where, msg = _first_error(exc)
        raise PlanError(source, where, msg) from None
    seen: dict[str, int] = {}
    for i, step in enumerate(plan.steps):
        if step.id in seen:
            raise PlanError(
                source, f"$.steps[{i}].id",
                f"duplicate step id {step.id!r} (first used at $.steps[{seen[step.id]}])",
            )
        seen[step.id] = i
    for i, step in enumerate(plan.steps):
        for j, dep in enumerate(step.dependencies):
            if dep not in seen:
                raise PlanError(source, f"$.steps[{i}].dependencies[{j}]",
                                f"step {step.id!r} depends on unknown step {dep!r}")
            if dep == step.id:
                raise PlanError(source, f"$.steps[{i}].dependencies[{j}]",
                                f"step {step.id!r} depends on itself")
    cycle = find_cycle({s.id: list(s.dependencies) for s in plan.steps})
    if cycle:
        raise PlanError(source, "$.steps", "dependency cycle: " + " -> ".join(cycle))
    return plan


def load_plan(path: str | Path) -> Plan:
    """Read, decode and validate a plan file. Raises :class:`PlanError` on any problem."""
    p = Path(path)
    source = str(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError(source, "file", "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(source, "file", f"cannot read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanError(source, f"line {exc.lineno}, column {exc.colno}",
                        f"invalid JSON: {exc.msg}") from None
    return parse_plan(data, source)


def plan_json_schema() -> dict[str, Any]:
    """The JSON Schema of the plan format, for editors and external validators."""
    schema = Plan.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "AetherFlow plan"
    return schema
