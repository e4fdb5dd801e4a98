"""Plan loading: every shipped example loads; a bad plan is one PlanError listing every problem."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

import aetherflow.plan
from aetherflow.errors import InputError, PlanError, PlanProblem
from aetherflow.plan import (
    Plan,
    PlanCheck,
    StepType,
    check_plan,
    check_plan_file,
    load_plan,
    parse_plan,
    plan_json_schema,
    plan_warnings,
)
from aetherflow.plan.keys import near_miss
from aetherflow.plan.models import ContainsCriterion, PatchSpec, PytestCriterion, RuffCriterion

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plans"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.json"))
ORIGINALS = Path(__file__).resolve().parents[1] / "fixtures" / "original_plans"

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


def _errors(tmp_path: Path, content: str | Json | list[Any]) -> PlanError:
    """Load ``content`` from a file and return the PlanError it must raise (one line each)."""
    path = _write(tmp_path, content)
    with pytest.raises(PlanError) as info:
        load_plan(path)
    err = info.value
    assert isinstance(err, InputError) and err.exit_code == 2
    lines = str(err).split("\n")
    assert lines == [f"{path}: {p.location}: {p.message}" for p in err.problems]
    assert (err.location, err.message) == (err.problems[0].location, err.problems[0].message)
    assert err.__cause__ is None, "no chained pydantic noise"
    assert err.__context__ is None or err.__suppress_context__
    return err


def _error(tmp_path: Path, content: str | Json | list[Any]) -> PlanError:
    """Like :func:`_errors` for a plan with exactly one problem."""
    err = _errors(tmp_path, content)
    assert len(err.problems) == 1, str(err)
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
        root = path.parent / plan.metadata.get("project", ".")  # --project plans: its root
        for rel in step.context.input_files:
            assert (root / rel).is_file(), f"{step.id}: missing input {rel}"


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


# --- every problem, one line each ------------------------------------------------------------


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
        pytest.param(_mutated(steps__0__description=_DELETE), "$.steps[0] (a).description",
                     "required field is missing", id="missing-description"),
        pytest.param(_mutated(task_id=_DELETE), "$.task_id", "required field is missing",
                     id="missing-task-id"),
        pytest.param(_mutated(steps__1__estimated_tokens="lots"),
                     "$.steps[1] (b).estimated_tokens", "integer, unable to parse string as an "
                     "integer, got 'lots'", id="wrong-type-tokens"),
        pytest.param(_mutated(steps__0__dependencies="a"), "$.steps[0] (a).dependencies",
                     "list, got 'a'", id="wrong-type-dependencies"),
        pytest.param(_mutated(steps__2__context={"files": ["ok.py", 3]}),
                     "$.steps[2] (c).context.files[1]", "string, got 3", id="wrong-type-nested"),
        pytest.param(_mutated(steps__1__type="poetry"), "$.steps[1] (b).type",
                     "unknown step type 'poetry' (expected one of 'code_generation', "
                     "'refactoring', 'analysis', 'patch')", id="bad-step-type"),
        pytest.param(_mutated(steps__1__type="refactor"), "$.steps[1] (b).type",
                     "unknown step type 'refactor' (expected one of 'code_generation', "
                     "'refactoring', 'analysis', 'patch'; did you mean 'refactoring'?)",
                     id="step-type-near-miss"),
        pytest.param(_mutated(steps__1__type=3), "$.steps[1] (b).type",
                     "a step type is one of 'code_generation', 'refactoring', 'analysis', "
                     "'patch', got 3", id="step-type-not-a-string"),
        pytest.param(_mutated(steps__0__complexity=1.5), "$.steps[0] (a).complexity",
                     "less than or equal to 1, got 1.5", id="complexity-too-high"),
        pytest.param(_mutated(steps__0__complexity=-0.1), "$.steps[0] (a).complexity",
                     "greater than or equal to 0, got -0.1", id="complexity-negative"),
        pytest.param(_mutated(steps__0__description=False), "$.steps[0] (a).description",
                     "valid string, got false", id="json-spelling-of-the-value"),
        pytest.param(_mutated(steps__1__context=[]), "$.steps[1] (b).context",
                     "expected a JSON object, got a list", id="context-not-an-object"),
        pytest.param(_mutated(steps=[]), "$.steps", "at least 1", id="empty-steps"),
        pytest.param(_mutated(steps__1__dependancies=["a"]), "$.steps[1] (b).dependancies",
                     "unknown key 'dependancies' (did you mean 'dependencies'?)",
                     id="near-miss-dependencies"),
        pytest.param(_mutated(steps__1__validation_criterias=[]),
                     "$.steps[1] (b).validation_criterias",
                     "(did you mean 'validation_criteria'?)", id="near-miss-criteria"),
        pytest.param(_mutated(steps__2__context={"input_file": "x.py"}),
                     "$.steps[2] (c).context.input_file", "(did you mean 'input_files'?)",
                     id="near-miss-input-file"),
        pytest.param(_mutated(descripton="x"), "$.descripton",
                     "(did you mean 'description'?)", id="near-miss-top-level"),
        pytest.param(_mutated(taskId="x"), "$.taskId", "(did you mean 'task_id'?)",
                     id="near-miss-ignores-case-and-underscores"),
    ],
)
def test_field_errors_have_a_json_path(
    tmp_path: Path, data: Json, location: str, needle: str
) -> None:
    err = _error(tmp_path, data)
    assert err.location == location
    assert needle in err.message


def test_a_bad_step_id_is_reported_with_what_depends_on_it(tmp_path: Path) -> None:
    err = _errors(tmp_path, _mutated(steps__0__id="has space"))
    assert [(p.location, p.step_id) for p in err.problems] == [
        ("$.steps[0].id", "has space"),  # the annotation is only added for a valid id
        ("$.steps[1] (b).dependencies[0]", "b"),
    ]
    assert "pattern" in err.problems[0].message and "got 'has space'" in err.message
    assert "unknown step 'a'" in err.problems[1].message


def test_a_misspelt_required_key_is_one_problem_not_two(tmp_path: Path) -> None:
    data = _good()
    data["steps"][0]["descripton"] = data["steps"][0].pop("description")
    err = _error(tmp_path, data)  # not also "description: required field is missing"
    assert err.location == "$.steps[0] (a).descripton"
    assert err.message == "unknown key 'descripton' (did you mean 'description'?)"


def test_every_problem_is_reported_in_plan_order(tmp_path: Path) -> None:
    data = _good()
    data["owner"] = "me"  # a warning, not an error
    data["descripton"] = "typo"
    data["steps"][0]["complexity"] = 2
    data["steps"][0]["type"] = "refactor"
    data["steps"][1]["dependencies"] = ["a", "ghost"]
    data["steps"][1]["validation_criteria"] = [{"check": "contains"}, {"check": "lint"}]
    data["steps"][2]["id"] = "a"
    data["steps"][2]["context"] = {"files": "x.py"}
    err = _errors(tmp_path, data)
    assert [str(p) for p in err.problems] == [
        "$.descripton: unknown key 'descripton' (did you mean 'description'?)",
        "$.steps[0] (a).type: unknown step type 'refactor' (expected one of 'code_generation', "
        "'refactoring', 'analysis', 'patch'; did you mean 'refactoring'?)",
        "$.steps[0] (a).complexity: Input should be less than or equal to 1, got 2",
        "$.steps[1] (b).validation_criteria[0].text: required field is missing",
        "$.steps[1] (b).validation_criteria[1]: unknown check 'lint' (expected one of "
        "'python_syntax', 'contains', 'pytest', 'ruff', 'command')",
        "$.steps[1] (b).dependencies[1]: step 'b' depends on unknown step 'ghost'",
        "$.steps[2] (a).context.files: Input should be a valid list, got 'x.py'",
        "$.steps[2] (a).id: duplicate step id 'a' (first used at $.steps[0])",
    ]
    assert [p.step_id for p in err.problems] == [None, "a", "a", "b", "b", "b", "a", "a"]


def test_graph_problems_are_reported_next_to_field_errors(tmp_path: Path) -> None:
    data = _good()
    data["steps"][0]["dependencies"] = ["b"]
    data["steps"][2]["estimated_tokens"] = 0
    err = _errors(tmp_path, data)
    assert [p.location for p in err.problems] == ["$.steps[2] (c).estimated_tokens", "$.steps"]
    assert err.problems[1].message == "dependency cycle: a -> b -> a"


@pytest.mark.parametrize(
    ("criterion", "location", "needle"),
    [
        pytest.param({"check": "contains"}, "$.steps[1] (b).validation_criteria[1].text",
                     "required field is missing", id="contains-without-text"),
        pytest.param({"check": "contains", "text": ""},
                     "$.steps[1] (b).validation_criteria[1].text",
                     "at least 1 character", id="contains-empty-text"),
        pytest.param({"check": "pytest"}, "$.steps[1] (b).validation_criteria[1].tests",
                     "required field is missing", id="pytest-without-tests"),
        pytest.param({"check": "command", "cmd": "ls", "run": "ls"},
                     "$.steps[1] (b).validation_criteria[1].cmd",
                     "unknown key 'cmd' (a 'command' check takes: run, timeout_s)",
                     id="command-extra-key"),
        pytest.param({"check": "ruff", "timeout": 5},
                     "$.steps[1] (b).validation_criteria[1].timeout",
                     "unknown key 'timeout' (did you mean 'timeout_s'?)",
                     id="criterion-key-near-miss"),
        pytest.param({"check": "contains", "txt": "x"},
                     "$.steps[1] (b).validation_criteria[1].txt",
                     "unknown key 'txt' (did you mean 'text'?)",
                     id="criterion-near-miss-replaces-missing"),
        pytest.param({"check": "ruff", "timeout_s": 0},
                     "$.steps[1] (b).validation_criteria[1].timeout_s",
                     "greater than 0, got 0", id="timeout-zero"),
        pytest.param({"check": "ruff", "timeout_s": "soon"},
                     "$.steps[1] (b).validation_criteria[1].timeout_s",
                     "got 'soon'", id="timeout-not-a-number"),
        pytest.param({"check": "spellcheck"}, "$.steps[1] (b).validation_criteria[1]",
                     "unknown check 'spellcheck'", id="unknown-check-kind"),
        pytest.param({"check": "pyton_syntax"}, "$.steps[1] (b).validation_criteria[1]",
                     "did you mean 'python_syntax'?", id="check-kind-near-miss"),
        pytest.param({"check": None}, "$.steps[1] (b).validation_criteria[1]",
                     "'check' is one of 'python_syntax', 'contains', 'pytest', 'ruff', "
                     "'command', got null", id="check-is-not-a-string"),
        pytest.param({"text": "def add("}, "$.steps[1] (b).validation_criteria[1]",
                     "no 'check' key", id="object-without-check"),
        pytest.param({"chek": "ruff"}, "$.steps[1] (b).validation_criteria[1]",
                     "'chek' looks like a misspelling of it", id="check-key-misspelt"),
        pytest.param(42, "$.steps[1] (b).validation_criteria[1]",
                     "a string or an object with a 'check' key, got 42",
                     id="criterion-is-a-number"),
        pytest.param([], "$.steps[1] (b).validation_criteria[1]",
                     "a string or an object with a 'check' key, got a list",
                     id="criterion-is-a-list"),
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


def test_json_nested_too_deep_is_a_plan_error(tmp_path: Path) -> None:
    err = _error(tmp_path, "[" * 100_000 + "]" * 100_000)
    assert err.location == "file" and "invalid JSON" in err.message


@pytest.mark.parametrize(("top", "kind"), [([_good()], "a list"), ("plan", "'plan'"), (3, "3"),
                                           (None, "null")], ids=["list", "str", "int", "null"])
def test_non_object_top_level(tmp_path: Path, top: Any, kind: str) -> None:
    err = _error(tmp_path, json.dumps(top))
    assert err.location == "$"
    assert err.message == f"a plan is a JSON object, got {kind}"


def test_duplicate_step_id(tmp_path: Path) -> None:
    data = _good()
    data["steps"][2]["id"] = "a"
    data["steps"][2]["dependencies"] = []
    err = _error(tmp_path, data)
    assert err.location == "$.steps[2] (a).id"
    assert "duplicate step id 'a'" in err.message and "$.steps[0]" in err.message


def test_unknown_dependency(tmp_path: Path) -> None:
    data = _good()
    data["steps"][2]["dependencies"] = ["b", "ghost"]
    err = _error(tmp_path, data)
    assert err.location == "$.steps[2] (c).dependencies[1]"
    assert err.problems[0].json_path == "$.steps[2].dependencies[1]"
    assert err.problems[0].step_id == "c"
    assert "'c' depends on unknown step 'ghost'" in err.message


def test_self_dependency(tmp_path: Path) -> None:
    data = _good()
    data["steps"][1]["dependencies"] = ["a", "b"]
    err = _error(tmp_path, data)  # a self-dependency is not also reported as a cycle
    assert err.location == "$.steps[1] (b).dependencies[1]"
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
    data["steps"][0]["context"] = {"surgical_mode": True, "patch": {"position": "after",
                                                                   "marker": "# end", "x": 1}}
    before = copy.deepcopy(data)
    parse_plan(data)
    check_plan(data, strict=True)
    assert data == before


# --- plans written for the original AETHERFLOW -------------------------------------------------

#: Each fixture and the JSON paths of the warnings it must raise (no errors).
ORIGINAL_WARNINGS: dict[str, list[str]] = {
    "analysis_report": ["$.created_at", "$.steps[0].context.analysis_depth",
                        "$.steps[0].context.focus_areas", "$.steps[1].context.output_format"],
    "api_endpoints": ["$.version", "$.author", "$.steps[0].priority",
                      "$.steps[0].estimated_duration", "$.steps[1].priority"],
    "bugfix_replace": ["$.version", "$.steps[0].rollback_on_failure", "$.steps[0].context.backup",
                       "$.steps[0].context.patch.file"],
    "parallel_modules": ["$.created_at", "$.updated_at", "$.steps[0].context.parallel_group",
                         "$.steps[1].context.parallel_group", "$.steps[2].context.parallel_group"],
    "refactor_service": ["$.project_root", "$.created_at", "$.steps[0].context.refactoring_type",
                         "$.steps[0].context.preserve_behavior",
                         "$.steps[1].context.refactoring_type"],
    "surgical_patch": ["$.version", "$.created_at", "$.steps[0].context.surgical_mode",
                       "$.steps[0].context.insertion_point", "$.steps[1].context.surgical_mode",
                       "$.steps[1].context.patch.occurrence"],
}


def test_every_original_fixture_has_expected_warnings() -> None:
    assert sorted(p.stem for p in ORIGINALS.glob("*.json")) == sorted(ORIGINAL_WARNINGS)


@pytest.mark.parametrize("name", sorted(ORIGINAL_WARNINGS))
def test_original_plan_loads_with_the_right_warnings(name: str) -> None:
    path = ORIGINALS / f"{name}.json"
    check = check_plan_file(path)
    assert check.errors == [] and check.plan is not None
    assert [w.json_path for w in check.warnings] == ORIGINAL_WARNINGS[name]
    assert all(w.message.startswith("kept but not used by AetherFlow") for w in check.warnings)
    for warning in check.warnings:
        if warning.json_path.startswith("$.steps["):
            assert warning.step_id and f"({warning.step_id})" in warning.location
    assert plan_warnings(load_plan(path)) == check.warnings
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert all(isinstance(c, str) for s in raw["steps"] for c in s["validation_criteria"]), \
        "the originals carry free-text criteria only"


def test_original_patch_and_files_are_modelled() -> None:
    plan = load_plan(ORIGINALS / "surgical_patch.json")
    first, second = plan.steps
    assert first.context.patch == PatchSpec(position="before", marker="class HttpClient:")
    assert second.context.patch is not None and second.context.patch.position == "after"
    assert second.context.patch.model_extra == {"occurrence": 1}
    assert first.context.files == ["src/client/http_client.py"]
    replace = load_plan(ORIGINALS / "bugfix_replace.json").steps[0].context.patch
    assert replace is not None and replace.position == "replace"
    refactor = load_plan(ORIGINALS / "refactor_service.json")
    assert refactor.steps[0].type is StepType.REFACTORING
    assert refactor.steps[0].context.input_files == ["shop/orders/service.py",
                                                     "shop/orders/models.py"]
    assert not (ORIGINALS / "shop").exists(), "input files relative to a project root load"


# --- the PlanError type ------------------------------------------------------------------------


def test_plan_error_still_takes_one_problem_positionally() -> None:
    err = PlanError("plan.json", "$.steps[0].context.input_files[0]", "not found")
    assert str(err) == "plan.json: $.steps[0].context.input_files[0]: not found"
    assert err.problems == [PlanProblem("$.steps[0].context.input_files[0]", "not found")]
    assert (err.source, err.location, err.message) == (
        "plan.json", "$.steps[0].context.input_files[0]", "not found")


def test_plan_error_with_several_problems() -> None:
    problems = [PlanProblem("$.steps[0] (a).type", "bad", "a"), PlanProblem("$.steps", "cycle")]
    err = PlanError("p.json", problems=problems)
    assert str(err) == "p.json: $.steps[0] (a).type: bad\np.json: $.steps: cycle"
    assert (err.location, err.message) == ("$.steps[0] (a).type", "bad")
    assert problems[0].json_path == "$.steps[0].type" and str(problems[1]) == "$.steps: cycle"


# --- the original format: unknown keys kept, warned about -------------------------------------


def _original() -> Json:
    """A plan shaped like the ones written for the original AETHERFLOW."""
    return {
        "task_id": "orig", "version": "2.1", "created_at": "2024-05-01T10:00:00Z",
        "project_root": "/home/dev/shop",
        "steps": [
            {"id": "step_1", "description": "Add a discount", "type": "patch",
             "estimated_duration": 30,
             "validation_criteria": ["Code compiles"],
             "context": {"language": "python", "files": ["shop/cart.py"],
                         "input_files": ["shop/cart.py"], "surgical_mode": True,
                         "insertion_point": "after total()",
                         "patch": {"position": "after", "marker": "# DISCOUNTS",
                                   "preserve_indentation": True}}},
        ],
    }


def test_original_plan_keeps_its_unknown_keys() -> None:
    plan = parse_plan(_original())
    step = plan.steps[0]
    assert plan.model_extra == {"version": "2.1", "created_at": "2024-05-01T10:00:00Z",
                                "project_root": "/home/dev/shop"}
    assert step.model_extra == {"estimated_duration": 30}
    assert step.context.model_extra == {"surgical_mode": True, "insertion_point": "after total()"}
    assert step.context.patch == PatchSpec.model_validate(
        {"position": "after", "marker": "# DISCOUNTS", "preserve_indentation": True})
    assert step.context.patch is not None
    assert step.context.patch.model_extra == {"preserve_indentation": True}
    assert step.context.files == ["shop/cart.py"] and step.type is StepType.PATCH
    assert plan.model_dump(mode="json")["steps"][0]["context"]["surgical_mode"] is True


def test_each_unused_key_is_one_warning_with_its_path() -> None:
    check = check_plan(_original(), "orig.json")
    assert check.ok and check.errors == []
    assert [str(w) for w in check.warnings] == [
        "$.version: kept but not used by AetherFlow",
        "$.created_at: kept but not used by AetherFlow",
        "$.project_root: kept but not used by AetherFlow; give the project to "
        "`aetherflow run --project DIR` instead",
        "$.steps[0] (step_1).estimated_duration: kept but not used by AetherFlow",
        "$.steps[0] (step_1).context.surgical_mode: kept but not used by AetherFlow",
        "$.steps[0] (step_1).context.insertion_point: kept but not used by AetherFlow",
        "$.steps[0] (step_1).context.patch.preserve_indentation: kept but not used by AetherFlow",
    ]
    assert {w.step_id for w in check.warnings} == {None, "step_1"}


def test_plan_warnings_of_a_loaded_plan_match_the_check() -> None:
    check = check_plan(_original())
    assert check.plan is not None
    assert plan_warnings(check.plan) == check.warnings
    assert plan_warnings(parse_plan(_good())) == []


def test_metadata_takes_any_key_without_a_warning() -> None:
    data = _good()
    data["steps"][0]["metadata"] = {"dependancies": 1, "anything": [1]}
    assert check_plan(data).warnings == []


def test_strict_turns_warnings_into_errors(tmp_path: Path) -> None:
    path = _write(tmp_path, _original())
    check = check_plan_file(path, strict=True)
    assert check.plan is None and not check.ok and check.warnings == []
    assert len(check.errors) == 7
    assert check.errors[0] == PlanProblem(
        "$.version", "kept but not used by AetherFlow (an error with --strict)")
    with pytest.raises(PlanError) as info:
        check.raise_for_errors()
    assert str(info.value).count("\n") == 6
    assert load_plan(path).task_id == "orig"  # load_plan ignores warnings


def test_warnings_are_reported_next_to_errors() -> None:
    data = _original()
    data["steps"][0]["complexity"] = 3
    check = check_plan(data)
    assert check.plan is None and len(check.errors) == 1 and len(check.warnings) == 7


@pytest.mark.parametrize(
    ("patch", "location", "needle"),
    [
        pytest.param({"position": "middle", "marker": "#"},
                     "$.steps[0] (step_1).context.patch.position",
                     "'before', 'after' or 'replace', got 'middle'", id="bad-position"),
        pytest.param({"position": "after"}, "$.steps[0] (step_1).context.patch.marker",
                     "required field is missing", id="no-marker"),
        pytest.param({"position": "after", "marker": ""},
                     "$.steps[0] (step_1).context.patch.marker", "at least 1 character",
                     id="empty-marker"),
        pytest.param({"positon": "after", "marker": "#"},
                     "$.steps[0] (step_1).context.patch.positon", "did you mean 'position'?",
                     id="near-miss-position"),
        pytest.param("after # END", "$.steps[0] (step_1).context.patch",
                     "expected a JSON object, got 'after # END'", id="patch-not-an-object"),
    ],
)
def test_bad_patch(tmp_path: Path, patch: Any, location: str, needle: str) -> None:
    data = _original()
    data["steps"][0]["context"]["patch"] = patch
    err = _error(tmp_path, data)
    assert err.location == location and needle in err.message


def test_timeout_s_on_every_check_kind() -> None:
    data = _good()
    data["steps"][1]["validation_criteria"] = [
        {"check": kind, **extra, "timeout_s": 2.5} for kind, extra in [
            ("python_syntax", {}), ("contains", {"text": "x"}), ("pytest", {"tests": "t"}),
            ("ruff", {}), ("command", {"run": "true"})]]
    crits = parse_plan(data).steps[1].validation_criteria
    assert [getattr(c, "timeout_s", None) for c in crits] == [2.5] * 5
    assert RuffCriterion(check="ruff").timeout_s is None


@pytest.mark.parametrize(
    ("key", "known", "expected"),
    [
        ("dependancies", ["dependencies", "description"], "dependencies"),
        ("validation_criterias", ["validation_criteria"], "validation_criteria"),
        ("descripton", ["description"], "description"),
        ("input_file", ["input_files", "files"], "input_files"),
        ("Task-ID", ["task_id"], "task_id"),
        ("estimated_time", ["estimated_tokens"], None),
        ("output_files", ["input_files", "files"], None),
        ("surgical_mode", ["language", "framework", "files", "input_files", "provider"], None),
        ("insertion_point", ["language", "framework", "files", "input_files", "provider"], None),
        ("created_at", ["task_id", "description", "steps", "metadata"], None),
        ("___", ["task_id"], None),
    ],
)
def test_near_miss_both_sides(key: str, known: list[str], expected: str | None) -> None:
    assert near_miss(key, known) == expected


def test_public_api_is_exported() -> None:
    for name in ("load_plan", "check_plan_file", "check_plan", "parse_plan", "plan_warnings",
                 "PlanCheck", "PlanProblem", "PatchSpec"):
        assert name in aetherflow.plan.__all__ and hasattr(aetherflow.plan, name)
    assert PlanCheck.__dataclass_fields__.keys() >= {"plan", "errors", "warnings"}


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


def test_json_schema_says_which_objects_keep_unknown_keys() -> None:
    schema = plan_json_schema()
    defs = schema["$defs"]
    assert schema["additionalProperties"] is True
    for kept in ("Step", "StepContext", "PatchSpec"):
        assert defs[kept]["additionalProperties"] is True, kept
    for strict in ("PythonSyntaxCriterion", "ContainsCriterion", "PytestCriterion",
                   "RuffCriterion", "CommandCriterion"):
        assert defs[strict]["additionalProperties"] is False, strict
        timeout = defs[strict]["properties"]["timeout_s"]["anyOf"][0]
        assert timeout == {"type": "number", "exclusiveMinimum": 0}
    assert defs["PatchSpec"]["properties"]["position"]["enum"] == ["before", "after", "replace"]
    assert defs["PatchSpec"]["required"] == ["position", "marker"]
    json.loads(json.dumps(schema))  # plain JSON all the way down
