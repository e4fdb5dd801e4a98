"""``plan upgrade``: each rule, table-driven, with the sentences it must leave alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aetherflow.errors import ConfigError, PlanError
from aetherflow.plan import parse_plan
from aetherflow.plan.upgrade import (
    default_upgrade_path,
    propose_checks,
    upgrade_plan,
    upgrade_plan_file,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "original_plans"

SYNTAX = [{"check": "python_syntax"}]
RUFF = [{"check": "ruff"}]


def _exists(name: str) -> list[dict[str, str]]:
    return [{"check": "command", "run": f"test -f {name}"}]


def _contains(*texts: str) -> list[dict[str, str]]:
    return [{"check": "contains", "text": t} for t in texts]


CONVERTED: list[tuple[str, str | None, list[dict[str, str]]]] = [
    # file created
    ("File calc.py created", None, _exists("calc.py")),
    ("file calc.py is created.", None, _exists("calc.py")),
    ("calc.py created", None, _exists("calc.py")),
    ("creates calc.py", None, _exists("calc.py")),
    ("Create `src/app/main.py`", None, _exists("src/app/main.py")),
    ("Writes the file 'docs/api.md'", None, _exists("docs/api.md")),
    ("test file tests/test_x.py is created", None, _exists("tests/test_x.py")),
    ("The file out.json exists", None, _exists("out.json")),
    ("report.md should exist", None, _exists("report.md")),
    ("calc.py file has been generated", None, _exists("calc.py")),
    ("File my-app/run.sh created", None, _exists("my-app/run.sh")),
    # must contain
    ("must contain `def add(`", None, _contains("def add(")),
    ("Must contain 'Decimal'", None, _contains("Decimal")),
    ('Output contains "Hello, World!"', None, _contains("Hello, World!")),
    ("includes a function named `parse`", None, _contains("parse")),
    ("includes a function named parse", None, _contains("parse")),
    ("Defines class `Calculator`", None, _contains("Calculator")),
    ("The module should define a class called Inventory", None, _contains("Inventory")),
    ("Defines functions `register` and `login`", None, _contains("register", "login")),
    ("must contain `a`, `b` and `c`", None, _contains("a", "b", "c")),
    ("Mentions `/register`", None, _contains("/register")),
    ("`__all__` is defined", None, _contains("__all__")),
    ("The code uses `dataclasses`", None, _contains("dataclasses")),
    # valid syntax: naming Python is enough; generic wording needs a Python step
    ("valid Python syntax", None, SYNTAX),
    ("Code is valid Python", "markdown", SYNTAX),
    ("Syntactically valid Python 3 code", None, SYNTAX),
    ("No Python syntax errors", None, SYNTAX),
    ("Code compiles", "python", SYNTAX),
    ("The code compiles without errors.", "Python", SYNTAX),
    ("compiles successfully", "python", SYNTAX),
    ("code parses", "python", SYNTAX),
    ("No syntax errors", "python", SYNTAX),
    ("Code is syntactically correct", "python", SYNTAX),
    # lint: naming ruff is enough; generic wording needs a Python step
    ("passes ruff", None, RUFF),
    ("Code passes ruff check", None, RUFF),
    ("ruff clean", None, RUFF),
    ("ruff check passes", None, RUFF),
    ("No ruff errors", None, RUFF),
    ("lint clean", "python", RUFF),
    ("Code is lint-clean", "python", RUFF),
    ("passes linting", "python", RUFF),
    ("no lint errors", "python", RUFF),
]


@pytest.mark.parametrize(("text", "language", "expected"), CONVERTED,
                         ids=[c[0] for c in CONVERTED])
def test_rule_converts(text: str, language: str | None, expected: list[dict[str, str]]) -> None:
    proposal = propose_checks(text, language)
    assert proposal is not None, text
    assert proposal[1] == expected


NOT_CONVERTED: list[tuple[str, str | None]] = [
    # a sentence that merely mentions a file
    ("The function in calc.py handles errors", "python"),
    ("calc.py has docstrings", "python"),
    ("Creates calc.py with add and subtract", "python"),
    ("Updates README.md", None),
    ("File calc.py is not created", None),
    ("No file out.json is created", None),
    ("Test files created", None),  # no file name
    ("File ../outside.py created", None),  # escapes the workspace
    ("calc.py or calc2.py created", None),
    # negations and weak modals must never become a contains check
    ("does not contain `print(`", None),
    ("must not contain `eval(`", None),
    ("contains no `TODO`", None),
    ("may contain `debug`", None),
    ("contains `a` or `b`", None),
    ("contains tests for `add`", None),
    ("must contain def add(", None),  # unquoted code: where it ends is a guess
    ("Uses `requests` library", None),
    # generic wording outside a Python step (or with no language)
    ("Code compiles", None),
    ("Code compiles", "rust"),
    ("No syntax errors", "javascript"),
    ("lint clean", "typescript"),
    ("lint clean", None),
    # other tools / other claims
    ("Valid JavaScript syntax", None),
    ("passes flake8", "python"),
    ("passes pylint", "python"),
    ("mypy clean", "python"),
    ("PEP 8 compliant", "python"),
    ("Code compiles and functions have docstrings", "python"),
    ("Tests pass", "python"),
    ("Functions have docstrings", "python"),
    ("", None),
]


@pytest.mark.parametrize(("text", "language"), NOT_CONVERTED, ids=[c[0] or "<empty>"
                                                                   for c in NOT_CONVERTED])
def test_rule_leaves_alone(text: str, language: str | None) -> None:
    assert propose_checks(text, language) is None


@pytest.mark.parametrize("text", ["File `my file.py` created", "creates a$b.py",
                                  "creates -rf.py", "File /etc/passwd.txt created",
                                  "creates `x.py; rm -r .`"])
def test_file_names_outside_the_safe_set_are_not_converted(text: str) -> None:
    assert propose_checks(text) is None


def _plan() -> dict[str, Any]:
    return {
        "task_id": "t",
        "version": "1",
        "steps": [
            {"id": "a", "description": "d",
             "validation_criteria": ["Code compiles", "Functions have docstrings",
                                     "must contain `def add(`", {"check": "python_syntax"}],
             "context": {"language": "python", "surgical_mode": True}},
            {"id": "b", "description": "e", "dependencies": ["a"],
             "validation_criteria": ["Tests pass"]},
            {"id": "c", "description": "f", "dependencies": ["a"]},
        ],
    }


def test_upgrade_keeps_every_criterion_and_inserts_after_it() -> None:
    data = _plan()
    result = upgrade_plan(data)
    assert data == _plan(), "the input is not changed"
    assert result.data["steps"][0]["validation_criteria"] == [
        "Code compiles",
        "Functions have docstrings",
        "must contain `def add(`", {"check": "contains", "text": "def add("},
        {"check": "python_syntax"},
    ]
    assert result.data["steps"][1]["validation_criteria"] == ["Tests pass"]
    assert "validation_criteria" not in result.data["steps"][2]
    assert result.data["version"] == "1" and result.data["steps"][0]["context"]["surgical_mode"]
    parse_plan(result.data)


def test_upgrade_reports_each_free_text_criterion_with_its_path() -> None:
    result = upgrade_plan(_plan())
    rows = [(c.location, c.step_id, c.rule, c.added, c.already) for c in result.criteria]
    assert rows == [
        ("$.steps[0] (a).validation_criteria[0]", "a", "valid syntax", [], SYNTAX),
        ("$.steps[0] (a).validation_criteria[1]", "a", None, [], []),
        ("$.steps[0] (a).validation_criteria[2]", "a", "must contain", _contains("def add("),
         []),
        ("$.steps[1] (b).validation_criteria[0]", "b", None, [], []),
    ]
    assert [c.text for c in result.unconverted] == ["Functions have docstrings", "Tests pass"]
    assert len(result.converted) == 2


def test_upgrade_is_idempotent() -> None:
    once = upgrade_plan(_plan()).data
    twice = upgrade_plan(once)
    assert twice.data == once
    assert all(not c.added for c in twice.criteria)


def test_upgrade_refuses_a_plan_that_does_not_load() -> None:
    data = _plan()
    data["steps"][1]["dependencies"] = ["ghost"]
    with pytest.raises(PlanError, match="ghost"):
        upgrade_plan(data)


def test_upgrade_file_writes_next_to_the_plan(tmp_path: Path) -> None:
    plan = tmp_path / "orig.json"
    plan.write_text(json.dumps(_plan()), encoding="utf-8")
    before = plan.read_bytes()
    target, result = upgrade_plan_file(plan)
    assert target == tmp_path / "orig.upgraded.json" == default_upgrade_path(plan)
    assert json.loads(target.read_text(encoding="utf-8")) == result.data
    assert plan.read_bytes() == before
    with pytest.raises(ConfigError, match="already exists; pass --force"):
        upgrade_plan_file(plan)
    upgrade_plan_file(plan, force=True)
    with pytest.raises(ConfigError, match="refusing to overwrite the input plan"):
        upgrade_plan_file(plan, plan, force=True)


def test_upgrade_file_reports_a_bad_plan(tmp_path: Path) -> None:
    plan = tmp_path / "bad.json"
    plan.write_text("{", encoding="utf-8")
    with pytest.raises(PlanError):
        upgrade_plan_file(plan)
    assert not (tmp_path / "bad.upgraded.json").exists()


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_every_original_fixture_upgrades_to_a_loading_plan(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    result = upgrade_plan(data, str(path))
    parse_plan(result.data)
    free_text = [c for s in data["steps"] for c in s.get("validation_criteria", [])
                 if isinstance(c, str)]
    assert [c.text for c in result.criteria] == free_text
    kept = [c for s in result.data["steps"] for c in s.get("validation_criteria", [])
            if isinstance(c, str)]
    assert kept == free_text, "no free-text criterion is dropped or reworded"
