"""The executor's validation flow with a scripted provider: checks decide the status,
repairs get the failing output, the prod workflow reviews, the budget stops spending,
checks see only their step's view, resume never asks again for a finished step."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from scripted_provider import NAME, install

from aetherflow.execution import RunOptions, run_plan_async
from aetherflow.execution.journal import load_state, read_journal, step_prompts
from aetherflow.execution.runner import resume_run_async
from aetherflow.providers.base import ChatRequest, ProviderSettings
from aetherflow.results.run import CostBreakdown, RunRecord, Usage

RIGHT = "```python\n# file: calc.py\ndef add(a, b):\n    return a + b\n```\n"
WRONG = "```python\n# file: calc.py\ndef add(a, b):\n    return a - b\n```\n"
TESTS = "from calc import add\n\ndef test_add():\n    assert add(2, 3) == 5\n"
CHECKED = [{"check": "python_syntax"}, {"check": "pytest", "tests": TESTS}]


def _resolve(name: str, model: str | None, base_url: str | None) -> ProviderSettings:
    return ProviderSettings(name=name, model=model)


def _free(provider: str, model: str, usage: Usage) -> CostBreakdown:
    return CostBreakdown(total_usd=0.0, price_source="test: free")


def _dollar(provider: str, model: str, usage: Usage) -> CostBreakdown:
    return CostBreakdown(total_usd=1.0, price_source="test: $1 per attempt")


def _plan(tmp_path: Path, steps: list[dict[str, Any]]) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"task_id": "t", "description": "test", "steps": steps}))
    return path


def _step(sid: str, deps: list[str] | None = None, criteria: list[Any] | None = None,
          files: list[str] | None = None) -> dict[str, Any]:
    return {"id": sid, "description": f"Do {sid}.", "dependencies": deps or [],
            "validation_criteria": CHECKED if criteria is None else criteria,
            "context": {"files": files or ["calc.py"]}}


async def _run(tmp_path: Path, steps: list[dict[str, Any]], pricer: Any = _free,
               **opts: Any) -> RunRecord:
    options = RunOptions(provider=NAME, output=tmp_path / "run", **opts)
    record, _ = await run_plan_async(_plan(tmp_path, steps), options, resolver=_resolve,
                                     pricer=pricer)
    return record


async def test_a_repair_with_the_failing_output_can_pass(tmp_path: Path) -> None:
    seen: list[ChatRequest] = []

    def script(step: str, n: int, request: ChatRequest) -> str:
        seen.append(request)
        return WRONG if n == 1 else RIGHT

    install(script)
    rec = await _run(tmp_path, [_step("a")], repairs=1)
    step = rec.steps[0]
    assert (step.status, step.first_try, step.repairs) == ("passed", "failed", 1)
    assert [a.kind for a in step.attempts] == ["generation", "repair"]
    assert [v.status for v in step.attempts[0].verdicts] == ["passed", "failed"]
    assert [v.status for v in step.attempts[1].verdicts] == ["passed", "passed"]
    repair = seen[1].messages
    assert repair[-2].role == "assistant" and repair[-2].content == WRONG
    assert "checks of your answer failed" in repair[-1].content
    assert "assert -1 == 5" in repair[-1].content  # the failing check's own output
    assert rec.status == "passed" and step.validation_ms and step.validation_ms > 0


async def test_without_repairs_a_failing_check_fails_the_step(tmp_path: Path) -> None:
    install(lambda step, n, req: WRONG)
    rec = await _run(tmp_path, [_step("a"), _step("b", ["a"])], repairs=0)
    a, b = rec.steps
    assert (a.status, a.reason) == ("failed", "checks failed: pytest")
    assert (b.status, b.reason) == ("skipped", "dependency 'a' failed")
    assert rec.status == "failed"


async def test_a_repair_that_still_fails_keeps_the_step_failed(tmp_path: Path) -> None:
    install(lambda step, n, req: WRONG)
    rec = await _run(tmp_path, [_step("a")], repairs=2)
    step = rec.steps[0]
    assert (step.status, step.first_try, step.repairs, len(step.attempts)) == (
        "failed", "failed", 2, 3)


async def test_free_text_only_is_unvalidated_and_does_not_block(tmp_path: Path) -> None:
    install(lambda step, n, req: RIGHT)
    rec = await _run(tmp_path, [_step("a", criteria=["the code is clean"]),
                                _step("b", ["a"], criteria=[])])
    a, b = rec.steps
    assert a.status == "unvalidated" and a.validation[0].status == "unchecked"
    assert a.validation[0].method == "none"
    assert b.status == "unvalidated"  # ran: an unvalidated dependency does not block
    assert rec.status == "unvalidated"


async def test_empty_output_fails(tmp_path: Path) -> None:
    install(lambda step, n, req: "")
    rec = await _run(tmp_path, [_step("a")])
    assert (rec.steps[0].status, rec.steps[0].reason) == ("failed", "empty output")


async def test_prod_workflow_reviews_before_the_checks(tmp_path: Path) -> None:
    def script(step: str, n: int, request: ChatRequest) -> str:
        return WRONG if n == 1 else RIGHT  # the review fixes it

    install(script)
    rec = await _run(tmp_path, [_step("a")], workflow="prod", repairs=0)
    step = rec.steps[0]
    assert [a.kind for a in step.attempts] == ["generation", "review"]
    assert step.status == "passed" and step.first_try == "passed"
    assert step.attempts[0].verdicts == []  # only the reviewed code was checked


async def test_the_cost_cap_skips_the_rest_with_budget(tmp_path: Path) -> None:
    install(lambda step, n, req: RIGHT)
    steps = [_step(s, criteria=[]) for s in ("a", "b", "c", "d")]
    rec = await _run(tmp_path, steps, pricer=_dollar, max_cost_usd=1.5, concurrency=1)
    statuses = [s.status for s in rec.steps]
    assert statuses[:2] == ["unvalidated", "unvalidated"]
    assert statuses[2:] == ["skipped", "skipped"]
    assert all((s.reason or "").startswith("budget") for s in rec.steps[2:])
    assert sum(len(s.attempts) for s in rec.steps) == 2


async def test_a_check_sees_its_dependencies_not_its_siblings(tmp_path: Path) -> None:
    def script(step: str, n: int, request: ChatRequest) -> str:
        return f"```python\n# file: {step}.py\nVALUE = '{step}'\n```\n"

    install(script)
    view = [{"check": "command", "run": "test -f a.py && test -f b.py && test ! -f c.py"}]
    rec = await _run(tmp_path, [_step("a", criteria=[], files=["a.py"]),
                                _step("c", criteria=[], files=["c.py"]),
                                _step("b", ["a"], criteria=view, files=["b.py"])],
                     concurrency=1)
    b = next(s for s in rec.steps if s.step_id == "b")
    assert b.status == "passed", b.validation
    assert sorted(p.name for p in (tmp_path / "run" / "workspace").iterdir()) == [
        "a.py", "b.py", "c.py"]


async def test_unordered_writers_of_one_file_are_a_recorded_collision(tmp_path: Path) -> None:
    install(lambda step, n, req: f"```python\n# file: shared.py\nWHO = '{step}'\n```\n")
    rec = await _run(tmp_path, [_step("a", criteria=[], files=["shared.py"]),
                                _step("b", criteria=[], files=["shared.py"]),
                                _step("c", ["b"], criteria=[], files=["shared.py"])],
                     concurrency=1)
    collisions = [c for s in rec.steps for c in s.collisions]
    assert len(collisions) == 1  # a and b collide; c rewrites b's file along a dependency
    assert {collisions[0].overwritten_step, collisions[0].by_step} == {"a", "b"}
    assert any("shared.py" in w for w in rec.warnings)


async def test_journal_and_run_json_agree(tmp_path: Path) -> None:
    install(lambda step, n, req: RIGHT)
    rec = await _run(tmp_path, [_step(s) for s in ("a", "b", "c")])
    run_dir = tmp_path / "run"
    kinds = [e["e"] for e in read_journal(run_dir / "journal.jsonl")]
    assert kinds[0] == "session" and kinds[-1] == "end"
    assert kinds.count("attempt") == 3 and kinds.count("step") == 3
    on_disk = RunRecord.model_validate_json((run_dir / "run.json").read_text())
    assert on_disk == rec
    assert step_prompts(run_dir / "journal.jsonl")["a"][0]["role"] == "system"


async def test_resume_never_asks_again_for_a_finished_step(tmp_path: Path) -> None:
    provider = install(lambda step, n, req: RIGHT, delay_s=0.02)
    steps = [_step(f"s{i}", criteria=[]) for i in range(8)]
    options = RunOptions(provider=NAME, output=tmp_path / "run", concurrency=2)
    task = asyncio.ensure_future(run_plan_async(_plan(tmp_path, steps), options,
                                                resolver=_resolve, pricer=_free))
    for _ in range(2000):  # until three steps are durably journaled
        if len([e for e in read_journal(tmp_path / "run" / "journal.jsonl")
                if e["e"] == "step"]) >= 3:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    state = load_state(tmp_path / "run" / "journal.jsonl")
    done = set(state.finished_steps)
    assert 3 <= len(done) < 8
    interrupted = [RunRecord.model_validate_json((tmp_path / "run" / "run.json").read_text())]
    assert interrupted[0].status == "interrupted"
    first_calls = dict(provider.calls)
    record, _ = await resume_run_async(tmp_path / "run", resolver=_resolve, pricer=_free)
    assert record.status == "unvalidated" and len(record.steps) == 8
    for sid in done:
        assert provider.calls[sid] == first_calls[sid] == 1, sid  # never asked again
    assert [s.session for s in record.sessions] == [1, 2]
    assert record.sessions[0].end == "interrupted" and record.sessions[1].end == "finished"
    for step in record.steps:
        sessions = {a.session for a in step.attempts}
        assert sessions == ({1} if step.step_id in done else sessions), step.step_id
    assert record.makespan_ms == pytest.approx(sum(s.makespan_ms or 0 for s in record.sessions))


async def test_resume_refuses_a_changed_plan_and_a_finished_run(tmp_path: Path) -> None:
    from aetherflow.errors import ConfigError

    install(lambda step, n, req: RIGHT)
    await _run(tmp_path, [_step("a", criteria=[])])
    with pytest.raises(ConfigError, match="already finished"):
        await resume_run_async(tmp_path / "run", resolver=_resolve, pricer=_free)


async def test_a_judge_gives_labelled_opinions_that_never_decide(tmp_path: Path) -> None:
    def script(step: str, n: int, request: ChatRequest) -> str:
        if request.step_type == "judge":
            return ('Here: [{"criterion": 1, "verdict": "pass", "reason": "clear"}, '
                    '{"criterion": 2, "verdict": "fail", "reason": "no docstring"}]')
        return RIGHT

    install(script)
    rec = await _run(tmp_path, [_step("a", criteria=["the code is clear", "it has docs"]),
                                _step("b", criteria=[*CHECKED, "it is fast"])],
                     judge_provider=NAME)
    a, b = rec.steps
    assert a.status == "unvalidated"  # opinions only: nothing executed
    assert [(v.method, v.status) for v in a.validation] == [("judge", "passed"),
                                                           ("judge", "failed")]
    assert "no docstring" in (a.validation[1].reason or "")
    assert len(a.judge_attempts) == 1 and a.judge_attempts[0].kind == "judge"
    assert b.status == "passed"  # decided by the executed checks alone
    assert [(v.method, v.status) for v in b.validation] == [
        ("executed", "passed"), ("executed", "passed"), ("judge", "passed")]
