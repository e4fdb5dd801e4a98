"""Load and check plan files, reporting every problem at once with its JSON path.

``check_plan_file`` returns a :class:`PlanCheck` (the plan, its errors and its warnings);
``load_plan`` returns the plan or raises one :class:`PlanError` that carries all errors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from aetherflow.errors import PlanError, PlanProblem
from aetherflow.plan.dag import find_cycle
from aetherflow.plan.keys import Finding, Locator, near_miss, scan_unknown_keys
from aetherflow.plan.models import Plan, StepType, StructuredCriterion

__all__ = [
    "PlanCheck",
    "check_plan",
    "check_plan_file",
    "load_plan",
    "parse_plan",
    "plan_json_schema",
]

_CHECK_MODELS = {
    get_args(kind.model_fields["check"].annotation)[0]: kind
    for kind in get_args(get_args(StructuredCriterion)[0])
}
_CHECK_KINDS = ", ".join(repr(kind) for kind in _CHECK_MODELS)
_STEP_TYPES = ", ".join(repr(t.value) for t in StepType)
_STRICT_NOTE = " (an error with --strict)"
_MISSING = "required field is missing"


@dataclass(frozen=True)
class PlanCheck:
    """The outcome of checking one plan: the plan if it loads, every error, every warning.

    ``plan`` is ``None`` whenever ``errors`` is not empty. ``source`` names the plan
    (its path, or what the caller passed) in :meth:`raise_for_errors`.
    """

    source: str
    plan: Plan | None
    errors: list[PlanProblem] = field(default_factory=list)
    warnings: list[PlanProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the plan loaded (it may still have warnings)."""
        return self.plan is not None and not self.errors

    def raise_for_errors(self) -> Plan:
        """Return the plan, or raise a :class:`PlanError` carrying every error."""
        if self.plan is None or self.errors:
            raise PlanError(self.source, problems=self.errors or [
                PlanProblem("$", "the plan did not load")])
        return self.plan


# --- pydantic errors -> findings ---------------------------------------------------------------


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


def _json_type(value: Any) -> str:
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return {int: "integer", float: "number", str: "string"}.get(type(value), type(value).__name__)


def _echo(value: Any) -> str:
    """A short rendering of a wrong value: ``'refactor'``, ``1.5``, ``true``, ``a list``."""
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    if isinstance(value, bool | int | float) or value is None:
        text = json.dumps(value)
        return text if len(text) <= 40 else text[:37] + "..."
    kind = _json_type(value)
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _criterion_keys(criterion: Any) -> tuple[str, ...]:
    """The keys a criterion object may have, ``check`` first and ``timeout_s`` last."""
    tag = criterion.get("check") if isinstance(criterion, Mapping) else None
    kind = _CHECK_MODELS.get(tag) if isinstance(tag, str) else None
    models = [kind] if kind is not None else list(_CHECK_MODELS.values())
    names = {name for model in models for name in model.model_fields}
    return tuple(sorted(names, key=lambda n: (n != "check", n == "timeout_s", n)))


def _criterion_message(err: ErrorDetails, loc: tuple[int | str, ...], parent: Any) -> str | None:
    """The message for an error only a criterion object has, else ``None``."""
    kind, value, ctx = err["type"], err["input"], err.get("ctx") or {}
    if kind == "extra_forbidden":  # only criteria objects are strict
        key = str(loc[-1])
        known = _criterion_keys(parent)
        if match := near_miss(key, known):
            return f"unknown key {key!r} (did you mean {match!r}?)"
        check = parent.get("check") if isinstance(parent, Mapping) else None
        takes = ", ".join(k for k in known if k != "check")
        return f"unknown key {key!r} (a {check!r} check takes: {takes})"
    if kind == "union_tag_invalid":
        tag = value.get("check") if isinstance(value, Mapping) else ctx.get("tag")
        if not isinstance(tag, str):
            return f"'check' is one of {_CHECK_KINDS}, got {_echo(tag)}"
        did = f"; did you mean {hint!r}?" if (hint := near_miss(tag, _CHECK_MODELS)) else ""
        return f"unknown check {tag!r} (expected one of {ctx.get('expected_tags')}{did})"
    if kind == "union_tag_not_found":
        misspelt = [k for k in value if isinstance(k, str) and near_miss(k, ["check"])]
        did = f"; {misspelt[0]!r} looks like a misspelling of it" if misspelt else ""
        return f"criterion object has no 'check' key{did} (expected one of {_CHECK_KINDS})"
    if kind == "model_attributes_type" and _at_criterion(list(loc)):
        return ("a validation criterion is a string or an object with a 'check' key, "
                f"got {_echo(value)}")
    return None


def _step_type_message(value: Any) -> str:
    if not isinstance(value, str):
        return f"a step type is one of {_STEP_TYPES}, got {_echo(value)}"
    hint = near_miss(value, [t.value for t in StepType], cutoff=0.6)
    did = f"; did you mean {hint!r}?" if hint else ""
    return f"unknown step type {value!r} (expected one of {_STEP_TYPES}{did})"


def _message(err: ErrorDetails, loc: tuple[int | str, ...], parent: Any) -> str:
    """A readable message for one pydantic error; ``parent`` is the object holding it."""
    kind, value = err["type"], err["input"]
    if kind == "missing":
        return _MISSING
    if (message := _criterion_message(err, loc, parent)) is not None:
        return message
    if kind == "enum" and loc[-1] == "type":
        return _step_type_message(value)
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a JSON object, got {_echo(value)}"
    scalar = isinstance(value, str | bool | int | float) or value is None
    return f"{err['msg']}, got {_echo(value)}" if scalar or kind.endswith("_type") else err["msg"]


def _value_at(data: Any, loc: tuple[int | str, ...]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _model_findings(data: Mapping[str, Any], exc: ValidationError) -> list[Finding]:
    found: list[Finding] = []
    for err in exc.errors():
        if _is_str_branch(err):  # the "str" branch of a criterion: always noise next to the other
            continue
        loc = _clean_loc(tuple(err["loc"]))
        parent = _value_at(data, loc[:-1])
        resembles = (near_miss(str(loc[-1]), _criterion_keys(parent))
                     if err["type"] == "extra_forbidden" else None)
        found.append(Finding(loc, _message(err, loc, parent), resembles=resembles))
    return found


# --- graph -------------------------------------------------------------------------------------


def _graph_findings(data: Mapping[str, Any]) -> list[Finding]:
    """Duplicate ids, unknown and self dependencies and a cycle, read from the raw data.

    Works on whatever steps are well-formed enough, so these are reported next to field
    errors instead of after they are fixed.
    """
    raw_steps = data.get("steps")
    steps = [s if isinstance(s, Mapping) else {} for s in
             (raw_steps if isinstance(raw_steps, list) else [])]
    found: list[Finding] = []
    first: dict[str, int] = {}
    for i, step in enumerate(steps):
        step_id = step.get("id")
        if not isinstance(step_id, str):
            continue
        if step_id in first:
            found.append(Finding(("steps", i, "id"), f"duplicate step id {step_id!r} "
                                 f"(first used at $.steps[{first[step_id]}])"))
        else:
            first[step_id] = i
    graph: dict[str, list[str]] = {}
    for i, step in enumerate(steps):
        step_id = step.get("id")
        name = repr(step_id) if isinstance(step_id, str) else "this step"
        raw_deps = step.get("dependencies")
        deps = [d for d in raw_deps if isinstance(d, str)] if isinstance(raw_deps, list) else []
        if isinstance(step_id, str) and first.get(step_id) == i:
            graph[step_id] = deps
        for j, dep in enumerate(raw_deps if isinstance(raw_deps, list) else []):
            if not isinstance(dep, str):
                continue
            if dep not in first:
                found.append(Finding(("steps", i, "dependencies", j),
                                     f"step {name} depends on unknown step {dep!r}"))
            elif dep == step_id:
                found.append(Finding(("steps", i, "dependencies", j),
                                     f"step {name} depends on itself"))
    graph = {n: [d for d in deps if d != n] for n, deps in graph.items()}
    if cycle := find_cycle(graph):
        found.append(Finding(("steps",), "dependency cycle: " + " -> ".join(cycle)))
    return found


# --- public API --------------------------------------------------------------------------------


def check_plan(data: Any, source: str = "<plan>", *, strict: bool = False) -> PlanCheck:
    """Check already-decoded JSON as a plan and return every error and warning.

    Errors: wrong, missing or misspelt fields (each with its JSON path and step id), duplicate
    step ids, unknown and self dependencies, a cycle. Warnings: keys the plan keeps but
    AetherFlow does not use. With ``strict`` the warnings are errors too.
    """
    if not isinstance(data, Mapping):
        problem = PlanProblem("$", f"a plan is a JSON object, got {_echo(data)}")
        return PlanCheck(source, None, [problem], [])
    found = scan_unknown_keys(data)
    plan: Plan | None = None
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        found += _model_findings(data, exc)
    # "descripton" present and "description" missing: the misspelling is the one problem.
    misspelt = {(*f.loc[:-1], f.resembles) for f in found if f.resembles}
    found = [f for f in found if not (f.message == _MISSING and f.loc in misspelt)]
    found += _graph_findings(data)
    if strict:
        found = [Finding(f.loc, f.message + _STRICT_NOTE) if f.severity == "warning" else f
                 for f in found]
    locator = Locator(data)
    found.sort(key=lambda f: locator.order(f.loc))
    errors = [locator.problem(f) for f in found if f.severity == "error"]
    warnings = [locator.problem(f) for f in found if f.severity == "warning"]
    return PlanCheck(source, None if errors else plan, errors, warnings)


def parse_plan(data: Any, source: str = "<plan>") -> Plan:
    """Validate already-decoded JSON as a plan and check its graph.

    Raises :class:`PlanError` carrying every problem found (warnings are ignored).
    """
    return check_plan(data, source).raise_for_errors()


def _read(path: Path, source: str) -> tuple[Any, PlanProblem | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, PlanProblem("file", "no such file")
    except (OSError, UnicodeDecodeError) as exc:
        return None, PlanProblem("file", f"cannot read: {exc}")
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, PlanProblem(f"line {exc.lineno}, column {exc.colno}",
                                 f"invalid JSON: {exc.msg}")
    except (ValueError, RecursionError) as exc:  # an integer too long, nesting too deep
        return None, PlanProblem("file", f"invalid JSON: {exc}")


def check_plan_file(path: str | Path, *, strict: bool = False) -> PlanCheck:
    """Read, decode and check a plan file; never raises for a bad plan.

    A file that cannot be read or decoded is one error at location ``file`` or
    ``line L, column C``.
    """
    source = str(path)
    data, problem = _read(Path(path), source)
    if problem is not None:
        return PlanCheck(source, None, [problem], [])
    return check_plan(data, source, strict=strict)


def load_plan(path: str | Path) -> Plan:
    """Read, decode and validate a plan file.

    Raises :class:`PlanError` carrying every problem; warnings are ignored (see
    :func:`check_plan_file` and :func:`~aetherflow.plan.plan_warnings`).
    """
    return check_plan_file(path).raise_for_errors()


def plan_json_schema() -> dict[str, Any]:
    """The JSON Schema of the plan format, for editors and external validators.

    Objects that keep unknown keys (plan, step, context, patch) allow additional
    properties; criteria objects do not.
    """
    schema = Plan.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "AetherFlow plan"
    return schema
