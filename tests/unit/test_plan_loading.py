"""Plan loading: every shipped example loads; every bad input is one PlanError with a location."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from aetherflow.errors import InputError, PlanError
from aetherflow.plan import Plan, StepType, load_plan, parse_plan, plan_json_schema
from aetherflow.plan.models import ContainsCriterion, PytestCriterion

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plans"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.json"))

Json = dict[str, Any]


def _good() -> Json:
    """A valid three-step plan (a -> b -> c) that each bad case breaks in one place."""
    return {
        "task_id": "t1",
        "description": "demo",
        "steps": [
            {"id": "a", "description": "first"},
            {"id": "b", "description": "second", "dependencies": ["a"],
             "validation_criteria": ["free text", {"check": "python_syntax"}]},
            {"id": "c", "description": "third", "dependencies": ["b"]},
        ],
        "metadata": {"anything": {"goes": [1, 2]}},
    }


def _write(tmp_path: Path, content: str | Json | list[Any], name: str = "plan.json") -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content, indent=2),
                    encoding="utf-8")
    return path


def _error(tmp_path: Path, content: str | Json | list[Any]) -> PlanError:
    """Load ``content`` from a file and return the single PlanError it must raise."""
    path = _write(tmp_path, content)
    with pytest.raises(PlanError) as info:
        load_plan(path)
    err = info.value
    assert isinstance(err, InputError) and err.exit_code == 2
    text = str(err)
    assert "\n" not in text, "a plan error is one line"
    assert text.startswith(f"{path}: {err.location}: ")
    assert err.__cause__ is None, "no chained pydantic noise"
    assert err.__context__ is None or err.__suppress_context__
    return err


# --- the shipped examples ----------------------------------------------------------------------


def test_there_are_at_least_six_examples() -> None:
    names = {p.stem for p in EXAMPLE_FILES}
    assert {"http_api", "calculator", "parallel_diamond", "refactor_legacy", "code_analysis",
            "provider_client"} <= names


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_example_plan_loads(path: Path) -> None:
    plan = load_plan(path)
    assert plan.task_id == path.stem
    assert plan.metadata.get("benchmark_category")
    assert plan.metadata.get("original_task")
    for step in plan.steps:
        assert 0.0 <= step.complexity <= 1.0
        assert step.estimated_tokens > 0
        assert step.validation_criteria, f"{step.id} has nothing to check"
        structured = [c for c in step.validation_criteria if not isinstance(c, str)]
        assert structured, f"{step.id} has no checkable criterion"
        assert len(step.validation_criteria) - len(structured) <= 1, "at most one free-text"
        if step.type is not StepType.ANALYSIS and step.context.language == "python":
            assert step.context.files, f"{step.id} does not say which file it produces"
        for rel in step.context.input_files:
            assert (path.parent / rel).is_file(), f"{step.id}: missing input {rel}"


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_example_pytest_criteria_are_valid_python(path: Path) -> None:
    for step in load_plan(path).steps:
        for crit in step.validation_criteria:
            if isinstance(crit, PytestCriterion):
                compile(crit.tests, f"{path.stem}:{step.id}", "exec")
                assert "def test_" in crit.tests


def test_calculator_is_small_enough_for_the_tiny_model() -> None:
    plan = load_plan(EXAMPLES / "calculator.json")
    assert 2 <= len(plan.steps) <= 3
    assert all(s.estimated_tokens <= 300 for s in plan.steps)
    first = plan.steps[0]
    assert first.context.files == ["calc.py"]
    assert ContainsCriterion(check="contains", text="def add(") in first.validation_criteria


def test_provider_client_is_a_real_dag_not_a_chain() -> None:
    plan = load_plan(EXAMPLES / "provider_client.json")
    assert len(plan.steps) == 8
    assert sum(1 for s in plan.steps if not s.dependencies) >= 2
    assert any(len(s.dependencies) >= 2 for s in plan.steps)


# --- tolerated input ---------------------------------------------------------------------------


def test_original_format_with_string_criteria_and_metadata_extras(tmp_path: Path) -> None:
    original = {
        "task_id": "legacy_calc",
        "description": "Original AETHERFLOW plan",
        "steps": [
            {
                "id": "step_1",
                "description": "Create calculator",
                "type": "code_generation",
                "complexity": 0.3,
                "estimated_tokens": 500,
                "dependencies": [],
                "validation_criteria": ["Code compiles", "Functions have docstrings"],
                "context": {"language": "python", "framework": None},
            }
        ],
        "metadata": {"created_by": "planner-v1", "priority": "high", "tags": ["demo"],
                     "nested": {"free": {"form": True}}},
    }
    plan = load_plan(_write(tmp_path, original))
    assert plan.steps[0].validation_criteria == ["Code compiles", "Functions have docstrings"]
    assert plan.metadata["nested"] == {"free": {"form": True}}


def test_defaults_are_filled_in() -> None:
    plan = parse_plan({"task_id": "x", "steps": [{"id": "only", "description": "d"}]})
    step = plan.steps[0]
    assert plan.description == "" and plan.metadata == {}
    assert step.type is StepType.CODE_GENERATION
    assert (step.complexity, step.estimated_tokens) == (0.5, 512)
    assert step.dependencies == [] and step.validation_criteria == []
    assert step.context.files == [] and step.context.provider is None


def test_structured_criteria_parse_to_their_models() -> None:
    data = _good()
    data["steps"][1]["validation_criteria"] = [
        {"check": "contains", "text": "def add("},
        {"check": "pytest", "tests": "def test_x():\n    pass\n"},
        {"check": "ruff"},
        {"check": "command", "run": "python -c 'import calc'"},
        "judged by a human",
    ]
    crits = parse_plan(data).steps[1].validation_criteria
    assert [type(c).__name__ for c in crits] == [
        "ContainsCriterion", "PytestCriterion", "RuffCriterion", "CommandCriterion", "str"]


def test_step_lookup() -> None:
    plan = parse_plan(_good())
    assert plan.step("b").dependencies == ["a"]
    with pytest.raises(KeyError):
        plan.step("nope")


# --- one clear error per bad input -------------------------------------------------------------


def _mutated(**changes: Any) -> Json:
    data = _good()
    for dotted, value in changes.items():
        target: Any = data
        *parents, last = dotted.split("__")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is _DELETE:
            del target[last]
        else:
            target[int(last) if last.isdigit() else last] = value
    return data


_DELETE = object()


@pytest.mark.parametrize(
    ("data", "location", "needle"),
    [
        pytest.param(_mutated(steps__0__description=_DELETE), "$.steps[0].description",
                     "required field is missing", id="missing-description"),
        pytest.param(_mutated(task_id=_DELETE), "$.task_id", "required field is missing",
                     id="missing-task-id"),
        pytest.param(_mutated(steps__1__estimated_tokens="lots"), "$.steps[1].estimated_tokens",
                     "integer", id="wrong-type-tokens"),
        pytest.param(_mutated(steps__0__dependencies="a"), "$.steps[0].dependencies",
                     "list", id="wrong-type-dependencies"),
        pytest.param(_mutated(steps__2__context={"files": ["ok.py", 3]}),
                     "$.steps[2].context.files[1]", "string", id="wrong-type-nested"),
        pytest.param(_mutated(steps__1__type="poetry"), "$.steps[1].type", "code_generation",
                     id="bad-step-type"),
        pytest.param(_mutated(steps__0__complexity=1.5), "$.steps[0].complexity", "1",
                     id="complexity-too-high"),
        pytest.param(_mutated(steps__0__complexity=-0.1), "$.steps[0].complexity", "0",
                     id="complexity-negative"),
        pytest.param(_mutated(steps__0__id="has space"), "$.steps[0].id", "pattern",
                     id="bad-step-id"),
        pytest.param(_mutated(owner="me"), "$.owner", "metadata", id="unknown-top-field"),
        pytest.param(_mutated(steps__1__priority=3), "$.steps[1].priority", "metadata",
                     id="unknown-step-field"),
        pytest.param(_mutated(steps__1__context={"language": "python", "model": "x"}),
                     "$.steps[1].context.model", "metadata", id="unknown-context-field"),
        pytest.param(_mutated(steps=[]), "$.steps", "at least 1", id="empty-steps"),
    ],
)
def test_field_errors_have_a_json_path(
    tmp_path: Path, data: Json, location: str, needle: str
) -> None:
    err = _error(tmp_path, data)
    assert err.location == location
    assert needle in err.message


@pytest.mark.parametrize(
    ("criterion", "location", "needle"),
    [
        pytest.param({"check": "contains"}, "$.steps[1].validation_criteria[1].text",
                     "required field is missing", id="contains-without-text"),
        pytest.param({"check": "contains", "text": ""}, "$.steps[1].validation_criteria[1].text",
                     "at least 1 character", id="contains-empty-text"),
        pytest.param({"check": "pytest"}, "$.steps[1].validation_criteria[1].tests",
                     "required field is missing", id="pytest-without-tests"),
        pytest.param({"check": "command", "cmd": "ls", "run": "ls"},
                     "$.steps[1].validation_criteria[1].cmd", "unknown field",
                     id="command-extra-key"),
        pytest.param({"check": "spellcheck"}, "$.steps[1].validation_criteria[1]",
                     "unknown check 'spellcheck'", id="unknown-check-kind"),
        pytest.param({"text": "def add("}, "$.steps[1].validation_criteria[1]",
                     "no 'check' key", id="object-without-check"),
        pytest.param(42, "$.steps[1].validation_criteria[1]", "string or an object",
                     id="criterion-is-a-number"),
    ],
)
def test_bad_criterion_is_reported_at_its_path(
    tmp_path: Path, criterion: Any, location: str, needle: str
) -> None:
    data = _good()
    data["steps"][1]["validation_criteria"][1] = criterion
    err = _error(tmp_path, data)
    assert err.location == location
    assert needle in err.message
    assert "tagged-union" not in str(err) and "valid string" not in str(err)


def test_unknown_check_lists_the_known_kinds(tmp_path: Path) -> None:
    data = _good()
    data["steps"][1]["validation_criteria"] = [{"check": "nope"}]
    message = _error(tmp_path, data).message
    for kind in ("python_syntax", "contains", "pytest", "ruff", "command"):
        assert repr(kind) in message


def test_malformed_json_gives_line_and_column(tmp_path: Path) -> None:
    text = '{\n  "task_id": "t",\n  "steps": [\n    {"id": "a",, "description": "x"}\n  ]\n}\n'
    err = _error(tmp_path, text)
    assert err.location == "line 4, column 16"
    assert "invalid JSON" in err.message


def test_truncated_json(tmp_path: Path) -> None:
    err = _error(tmp_path, '{"task_id": "t", "steps": [')
    assert err.location.startswith("line 1, column ")
    assert "invalid JSON" in err.message


@pytest.mark.parametrize("top", [[_good()], "plan", 3, None], ids=["list", "str", "int", "null"])
def test_non_object_top_level(tmp_path: Path, top: Any) -> None:
    err = _error(tmp_path, json.dumps(top))
    assert err.location == "$"
    assert "JSON object" in err.message and type(top).__name__ in err.message


def test_duplicate_step_id(tmp_path: Path) -> None:
    data = _good()
    data["steps"][2]["id"] = "a"
    data["steps"][2]["dependencies"] = []
    err = _error(tmp_path, data)
    assert err.location == "$.steps[2].id"
    assert "duplicate step id 'a'" in err.message and "$.steps[0]" in err.message


def test_unknown_dependency(tmp_path: Path) -> None:
    data = _good()
    data["steps"][2]["dependencies"] = ["b", "ghost"]
    err = _error(tmp_path, data)
    assert err.location == "$.steps[2].dependencies[1]"
    assert "'c' depends on unknown step 'ghost'" in err.message


def test_self_dependency(tmp_path: Path) -> None:
    data = _good()
    data["steps"][1]["dependencies"] = ["a", "b"]
    err = _error(tmp_path, data)
    assert err.location == "$.steps[1].dependencies[1]"
    assert "'b' depends on itself" in err.message


def test_cycle_is_named(tmp_path: Path) -> None:
    data = _good()
    data["steps"][0]["dependencies"] = ["b"]  # a -> b -> a (c hangs off b)
    err = _error(tmp_path, data)
    assert err.location == "$.steps"
    assert err.message.startswith("dependency cycle: ")
    cycle = err.message.removeprefix("dependency cycle: ")
    assert cycle in ("a -> b -> a", "b -> a -> b")


def test_long_cycle_is_named_in_order(tmp_path: Path) -> None:
    data = _good()
    data["steps"][0]["dependencies"] = ["c"]  # a needs c needs b needs a
    err = _error(tmp_path, data)
    assert err.message == "dependency cycle: a -> c -> b -> a"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert info.value.location == "file"
    assert str(info.value) == f"{path}: file: no such file"


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as info:
        load_plan(tmp_path)
    assert info.value.location == "file" and "cannot read" in info.value.message


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"task_id": "caf\xe9", "steps": []}')
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert info.value.location == "file"


def test_parse_plan_names_its_source() -> None:
    with pytest.raises(PlanError) as info:
        parse_plan({"task_id": "t", "steps": []}, source="inline")
    assert str(info.value).startswith("inline: $.steps: ")


def test_input_is_not_mutated() -> None:
    data = _good()
    before = copy.deepcopy(data)
    parse_plan(data)
    assert data == before


# --- schema ------------------------------------------------------------------------------------


def test_json_schema_describes_the_format() -> None:
    schema = plan_json_schema()
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert {"task_id", "steps", "metadata"} <= set(schema["properties"])
    assert schema["required"] == ["task_id", "steps"]
    text = json.dumps(schema)
    for kind in ("python_syntax", "contains", "pytest", "ruff", "command"):
        assert f'"{kind}"' in text
    assert Plan.model_validate(_good())  # the schema's model accepts the good plan
