"""What a step's prompt carries."""

from __future__ import annotations

from pathlib import Path

import pytest

from aetherflow.errors import PlanError
from aetherflow.execution.prompt import DEP_OUTPUT_LIMIT, build_request
from aetherflow.plan import parse_plan


def _plan(tmp_path: Path) -> tuple[object, Path]:
    (tmp_path / "legacy.py").write_text("def old():\n    return 1\n")
    plan = parse_plan({"task_id": "p", "description": "Demo", "steps": [
        {"id": "a", "description": "Write a."},
        {"id": "b", "description": "Refactor.", "type": "refactoring", "dependencies": ["a"],
         "validation_criteria": ["readable", {"check": "contains", "text": "def new("}],
         "context": {"language": "python", "files": ["new.py"], "input_files": ["legacy.py"]}},
    ]})
    return plan, tmp_path


def test_prompt_carries_context_criteria_inputs_and_bounded_deps(tmp_path: Path) -> None:
    plan, plan_dir = _plan(tmp_path)
    step = plan.steps[1]  # type: ignore[attr-defined]
    req = build_request(plan, step, {"a": "x" * (DEP_OUTPUT_LIMIT + 500)},  # type: ignore[arg-type]
                        plan_dir=plan_dir, max_tokens=64, temperature=0.0)
    system, user = req.messages[0].content, req.messages[1].content
    for needle in ("Refactor.", "refactoring", "python", "new.py", "- readable",
                   "contains: def new(", "Output of step `a`", "500 chars cut"):
        assert needle in user
    assert "Task: Demo" in system and "def old():" in system  # shared context goes first
    assert req.max_tokens == 64 and req.step_type == "refactoring"


def test_missing_input_file_names_the_step(tmp_path: Path) -> None:
    plan, plan_dir = _plan(tmp_path)
    (plan_dir / "legacy.py").unlink()
    with pytest.raises(PlanError, match="step 'b'"):
        build_request(plan, plan.steps[1], {}, plan_dir=plan_dir,  # type: ignore[attr-defined,arg-type]
                      max_tokens=8, temperature=0.0)


def test_missing_input_file_is_caught_before_running(tmp_path: Path) -> None:
    from aetherflow.execution.prompt import check_input_files

    plan, plan_dir = _plan(tmp_path)
    check_input_files(plan, plan_dir)  # type: ignore[arg-type]
    (plan_dir / "legacy.py").unlink()
    with pytest.raises(PlanError, match=r"\$\.steps\[1\] \(b\)\.context\.input_files\[0\]"):
        check_input_files(plan, plan_dir)  # type: ignore[arg-type]


def test_steps_with_the_same_inputs_share_the_system_prefix(tmp_path: Path) -> None:
    plan, plan_dir = _plan(tmp_path)
    b = plan.steps[1]  # type: ignore[attr-defined]
    other = b.model_copy(update={"id": "c", "description": "Explain."})
    r1 = build_request(plan, b, {}, plan_dir=plan_dir, max_tokens=8,  # type: ignore[arg-type]
                       temperature=0.0)
    r2 = build_request(plan, other, {}, plan_dir=plan_dir, max_tokens=8,  # type: ignore[arg-type]
                       temperature=0.0)
    assert r1.messages[0] == r2.messages[0]
    assert r1.messages[1] != r2.messages[1]


def test_defeat_prefix_cache_changes_the_first_characters_only() -> None:
    from aetherflow.execution.prompt import defeat_prefix_cache
    from aetherflow.providers.base import ChatMessage, ChatRequest

    req = ChatRequest(messages=(ChatMessage("system", "S"), ChatMessage("user", "U")),
                      max_tokens=4)
    a, b = defeat_prefix_cache(req, "n1"), defeat_prefix_cache(req, "n2")
    assert a.messages[0].content.startswith("[request n1]") and a.messages[0].content.endswith("S")
    assert a.messages[0].content[:1] == "[" and a.messages[0].content != b.messages[0].content
    assert a.messages[1] == req.messages[1] and a.max_tokens == 4
