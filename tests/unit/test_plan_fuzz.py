"""Fuzzed loader: any JSON value loads as a plan or is a PlanError with problems, nothing else."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aetherflow.errors import PlanError
from aetherflow.plan import Plan, check_plan, check_plan_file, parse_plan, plan_warnings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plans"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "original_plans"
SEEDS = [json.loads(p.read_text(encoding="utf-8"))
         for p in sorted(EXAMPLES.glob("*.json")) + sorted(FIXTURES.glob("*.json"))]

KEYS = st.sampled_from([
    "id", "description", "type", "dependencies", "steps", "context", "check", "text", "files",
    "patch", "marker", "position", "timeout_s", "dependancies", "validation_criteria",
    "input_file", "surgical_mode", "metadata", "task_id", "tests", "run", "",
]) | st.text(max_size=12)
SCALARS = (st.none() | st.booleans() | st.integers(min_value=-10**6, max_value=10**6)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20)
           | st.sampled_from(["code_generation", "patch", "python_syntax", "contains", "a", "b"]))
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=25,
)

FAST = settings(max_examples=250, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _outcome(data: Any) -> Plan | None:
    """Load ``data``; fail the test on anything but a plan or a PlanError with problems."""
    try:
        plan = parse_plan(data, "fuzz")
    except PlanError as exc:
        assert exc.problems, "a PlanError always carries at least one problem"
        assert all(p.location and p.message for p in exc.problems)
        assert str(exc).count("\n") == len(exc.problems) - 1
        return None
    plan_warnings(plan)
    return plan


@FAST
@given(JSON)
def test_any_json_value_is_a_plan_or_a_plan_error(data: Any) -> None:
    _outcome(data)
    check = check_plan(data, strict=True)
    assert (check.plan is None) == bool(check.errors)


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(KEYS, JSON, max_size=6))
def test_any_json_object_is_a_plan_or_a_plan_error(data: dict[str, Any]) -> None:
    _outcome(data)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``value`` (dict keys and list indices)."""
    out = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            out += _paths(child, (*prefix, i))
    return out


@st.composite
def mutated_plans(draw: st.DrawFn) -> Any:
    """A shipped plan with a few keys renamed or deleted and values replaced by random JSON."""
    data = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = data
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        action = draw(st.sampled_from(["replace", "delete", "rename"]))
        if action == "replace" or isinstance(parent, list):
            if action == "delete" and isinstance(parent, list):
                del parent[last]
            else:
                parent[last] = draw(JSON)
        elif action == "delete":
            del parent[last]
        else:
            parent[draw(KEYS)] = parent.pop(last)
    return data


@FAST
@given(mutated_plans())
def test_mutated_examples_are_a_plan_or_a_plan_error(data: Any) -> None:
    _outcome(data)


@settings(max_examples=60, deadline=None)
@given(mutated_plans())
def test_check_plan_file_never_raises(tmp_path_factory: Any, data: Any) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "plan.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    check = check_plan_file(path)
    assert (check.plan is None) == bool(check.errors)
    if check.plan is not None:
        assert plan_warnings(check.plan) == check.warnings


def test_every_seed_loads() -> None:
    assert len(SEEDS) >= 12
    for seed in SEEDS:
        assert _outcome(seed) is not None
