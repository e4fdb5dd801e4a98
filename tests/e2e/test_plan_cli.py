"""`aetherflow plan check`, `plan upgrade` and `plan schema`, as a real subprocess."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plans"
ORIGINALS = Path(__file__).resolve().parents[1] / "fixtures" / "original_plans"


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
    assert len(lines) == len(plans) + 1 and all(": ok (" in line for line in lines[:-1])
    n = len(plans)
    assert lines[-1] == f"{n} plans checked: {n} ok, 0 with warnings, 0 with errors"
    assert result.stderr == ""


BAD_PLANS: list[tuple[str, str, str]] = [
    (  # malformed JSON
        '{"task_id": "t", "steps": [\n  {"id": "a" "description": "x"}\n]}',
        "line 2, column 14",
        "invalid JSON: Expecting ',' delimiter",
    ),
    (  # bad structured criterion
        json.dumps({"task_id": "t", "steps": [
            {"id": "a", "description": "x", "validation_criteria": [{"check": "contains"}]}]}),
        "$.steps[0] (a).validation_criteria[0].text",
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
    assert result.stdout == f"{plan}: 1 error\n"
    lines = result.stderr.splitlines()
    assert lines == [f"error: {plan}: {location}: {message}"], result.stderr
    assert "Traceback" not in result.stderr


def test_check_missing_file(tmp_path: Path) -> None:
    result = _run("plan", "check", str(tmp_path / "absent.json"))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"error: {tmp_path / 'absent.json'}: file: no such file"]


def _many_problems(tmp_path: Path) -> Path:
    plan = tmp_path / "many.json"
    plan.write_text(json.dumps({"task_id": "t", "created_at": "today", "steps": [
        {"id": "step_1", "description": "x", "type": "refactor", "dependancies": []},
        {"id": "step_2", "description": "y", "dependencies": ["step_9"],
         "context": {"surgical_mode": True}}]}), encoding="utf-8")
    return plan


def test_check_reports_every_problem_of_every_file(tmp_path: Path) -> None:
    bad = _many_problems(tmp_path)
    good = EXAMPLES / "calculator.json"
    original = ORIGINALS / "surgical_patch.json"
    result = _run("plan", "check", str(bad), str(good), str(original))
    assert result.returncode == 2
    assert result.stdout.splitlines() == [
        f"{bad}: 3 errors, 2 warnings",
        f"{good}: ok (2 steps, 2 batches, max width 1)",
        f"{original}: ok, 6 warnings (2 steps, 2 batches, max width 1)",
        "3 plans checked: 1 ok, 1 with warnings, 1 with errors",
    ]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: {bad}: $.steps[0] (step_1).dependancies: unknown key 'dependancies' "
        "(did you mean 'dependencies'?)",
        f"error: {bad}: $.steps[0] (step_1).type: unknown step type 'refactor' (expected one "
        "of 'code_generation', 'refactoring', 'analysis', 'patch'; did you mean 'refactoring'?)",
        f"error: {bad}: $.steps[1] (step_2).dependencies[0]: step 'step_2' depends on unknown "
        "step 'step_9'",
    ]
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2 + 6
    assert f"warning: {bad}: $.steps[1] (step_2).context.surgical_mode: kept but not used by " \
           "AetherFlow" in warnings
    assert "Traceback" not in result.stderr


def test_check_strict_turns_warnings_into_errors() -> None:
    original = ORIGINALS / "surgical_patch.json"
    result = _run("plan", "check", "--strict", str(original))
    assert result.returncode == 2
    assert result.stdout == f"{original}: 6 errors\n"
    assert all(line.startswith("error: ") and line.endswith("(an error with --strict)")
               for line in result.stderr.splitlines())


def test_check_json(tmp_path: Path) -> None:
    bad = _many_problems(tmp_path)
    good = EXAMPLES / "calculator.json"
    result = _run("plan", "check", "--json", str(good), str(bad))
    assert result.returncode == 2 and result.stderr == ""
    report = json.loads(result.stdout)
    assert [(r["file"], r["ok"], r["steps"]) for r in report] == [
        (str(good), True, 2), (str(bad), False, None)]
    assert report[0]["errors"] == report[0]["warnings"] == []
    assert report[1]["errors"][1] == {
        "location": "$.steps[0] (step_1).type", "path": "$.steps[0].type", "step_id": "step_1",
        "message": "unknown step type 'refactor' (expected one of 'code_generation', "
                   "'refactoring', 'analysis', 'patch'; did you mean 'refactoring'?)"}
    assert [w["path"] for w in report[1]["warnings"]] == [
        "$.created_at", "$.steps[1].context.surgical_mode"]


def test_every_original_fixture_checks_ok() -> None:
    plans = sorted(str(p) for p in ORIGINALS.glob("*.json"))
    result = _run("plan", "check", *plans)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].endswith(" with warnings, 0 with errors")


def test_upgrade_writes_a_new_file_and_lists_each_criterion(tmp_path: Path) -> None:
    plan = tmp_path / "orig.json"
    plan.write_text((ORIGINALS / "bugfix_replace.json").read_text(encoding="utf-8"),
                    encoding="utf-8")
    result = _run("plan", "upgrade", str(plan))
    assert result.returncode == 0, result.stderr
    out = tmp_path / "orig.upgraded.json"
    assert result.stdout.splitlines() == [
        f"{plan}: 4 of 5 free-text criteria converted; wrote {out}",
        "fix:",
        "  converted  $.steps[0] (fix).validation_criteria[0]: 'The code compiles' -> "
        '{"check": "python_syntax"}',
        "  converted  $.steps[0] (fix).validation_criteria[1]: \"Must contain 'Decimal'\" -> "
        '{"check": "contains", "text": "Decimal"}',
        "  kept       $.steps[0] (fix).validation_criteria[2]: 'Totals are exact' "
        "(no certain rule)",
        "regression_test:",
        "  converted  $.steps[1] (regression_test).validation_criteria[0]: 'test file "
        "tests/test_rounding.py is created' -> "
        '{"check": "command", "run": "test -f tests/test_rounding.py"}',
        "  converted  $.steps[1] (regression_test).validation_criteria[1]: 'lint clean' -> "
        '{"check": "ruff"}',
    ]
    check = _run("plan", "check", str(out))
    assert check.returncode == 0, check.stderr
    again = _run("plan", "upgrade", str(plan))
    assert again.returncode == 2
    assert again.stderr.splitlines() == [
        f"error: {out}: already exists; pass --force to overwrite it"]
    elsewhere = _run("plan", "upgrade", str(plan), "-o", str(tmp_path / "x.json"))
    assert elsewhere.returncode == 0 and (tmp_path / "x.json").is_file()


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


def test_upgrade_of_a_bad_plan_lists_every_problem(tmp_path: Path) -> None:
    bad = _many_problems(tmp_path)
    result = _run("plan", "upgrade", str(bad))
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 3 and all(line.startswith(f"error: {bad}: $.steps[") for line in lines)
    assert not (tmp_path / "many.upgraded.json").exists()


def _env_elsewhere() -> dict[str, str]:
    """The environment for a CLI run in another directory (a relative PYTHONPATH, as the
    test commands use, made absolute)."""
    paths = [str(Path(p).resolve()) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
             if p]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def _in_terminal(*args: str, cwd: Path, columns: int = 80) -> tuple[int, str]:
    """Run the CLI in a pseudo-terminal ``columns`` wide; its exit code and what it showed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {k: v for k, v in _env_elsewhere().items() if k != "AETHERFLOW_DEBUG"}
    env["COLUMNS"] = str(columns)
    proc = subprocess.Popen([sys.executable, "-m", "aetherflow", *args], stdin=slave,
                            stdout=slave, stderr=slave, cwd=cwd, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode().replace("\r\n", "\n")


def test_check_fits_80_columns_in_a_terminal_and_keeps_one_line_per_problem_piped(
        tmp_path: Path) -> None:
    root = EXAMPLES.parents[1]
    plans = sorted(str(p.relative_to(root)) for p in EXAMPLES.glob("*.json"))
    code, shown = _in_terminal("plan", "check", *plans, cwd=root)
    assert code == 0 and all(len(line) <= 80 for line in shown.splitlines()), shown
    _many_problems(tmp_path)
    code, shown = _in_terminal("plan", "check", "many.json", cwd=tmp_path)
    assert code == 2
    lines = shown.splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    assert sum(line.startswith("error: many.json: ") for line in lines) == 3
    assert any(line.startswith("  ") for line in lines)  # a long problem wraps, indented
    piped = subprocess.run([sys.executable, "-m", "aetherflow", "plan", "check", "many.json"],
                           capture_output=True, text=True, timeout=60, cwd=tmp_path,
                           env={**_env_elsewhere(), "COLUMNS": "80"})
    assert len(piped.stderr.splitlines()) == 3 + 2  # one line per error and warning
