"""`aetherflow plan check` and `plan schema`, run as a real subprocess (`python -m aetherflow`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plans"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "AETHERFLOW_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "aetherflow", *args],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )


def test_check_good_plan() -> None:
    plan = EXAMPLES / "calculator.json"
    result = _run("plan", "check", str(plan))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{plan}: ok (2 steps, 2 batches, max width 1)"
    assert result.stderr == ""


def test_check_several_good_plans() -> None:
    plans = sorted(str(p) for p in EXAMPLES.glob("*.json"))
    result = _run("plan", "check", *plans)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(plans) and all(": ok (" in line for line in lines)


BAD_PLANS: list[tuple[str, str, str]] = [
    (  # malformed JSON
        '{"task_id": "t", "steps": [\n  {"id": "a" "description": "x"}\n]}',
        "line 2, column 14",
        "invalid JSON: Expecting ',' delimiter",
    ),
    (  # bad structured criterion
        json.dumps({"task_id": "t", "steps": [
            {"id": "a", "description": "x", "validation_criteria": [{"check": "contains"}]}]}),
        "$.steps[0].validation_criteria[0].text",
        "required field is missing",
    ),
    (  # cycle
        json.dumps({"task_id": "t", "steps": [
            {"id": "a", "description": "x", "dependencies": ["b"]},
            {"id": "b", "description": "y", "dependencies": ["a"]}]}),
        "$.steps",
        "dependency cycle: a -> b -> a",
    ),
]


@pytest.mark.parametrize(("content", "location", "message"), BAD_PLANS,
                         ids=["malformed-json", "bad-criterion", "cycle"])
def test_check_bad_plan_prints_one_error_line(
    tmp_path: Path, content: str, location: str, message: str
) -> None:
    plan = tmp_path / "bad.json"
    plan.write_text(content, encoding="utf-8")
    result = _run("plan", "check", str(plan))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines == [f"error: {plan}: {location}: {message}"], result.stderr
    assert "Traceback" not in result.stderr


def test_check_missing_file(tmp_path: Path) -> None:
    result = _run("plan", "check", str(tmp_path / "absent.json"))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"error: {tmp_path / 'absent.json'}: file: no such file"]


def test_schema_is_json_schema() -> None:
    result = _run("plan", "schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object"
    assert "steps" in schema["properties"]
    assert "task_id" in schema["required"]


def test_module_entry_point_under_cli_package() -> None:
    result = subprocess.run([sys.executable, "-m", "aetherflow.cli", "--version"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0
    assert result.stdout.startswith("aetherflow ")
