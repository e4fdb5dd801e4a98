"""Executed checks against a corpus with a known truth, served by the emulator's scripted
replies: every verdict, and the first-try pass rate, must equal the truth exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from validation_corpus import CASES, Case, answer

from aetherflow.bench.aggregate import compute_aggregates
from aetherflow.emulator import EmulatorServer
from aetherflow.emulator.profile import (
    EmulatorProfile,
    LatencyModelConfig,
    ProviderProfile,
    ReplyRule,
)
from aetherflow.execution import RunOptions, run_plan_async
from aetherflow.results.run import RunRecord, StepRecord

MAX_TOKENS = 1000


def _step_id(case: Case, right: bool) -> str:
    return f"{case.name}_{'right' if right else 'wrong'}"


def _plan(tmp_path: Path) -> Path:
    steps: list[dict[str, Any]] = []
    for case in CASES:
        for right in (True, False):
            steps.append({
                "id": _step_id(case, right),
                "description": f"Write {case.name}.py with the function {case.name}.",
                "validation_criteria": [
                    {"check": "python_syntax"},
                    {"check": "pytest", "tests": case.tests, "timeout_s": 5},
                ],
                "context": {"language": "python", "files": [f"{case.name}.py"]},
            })
    path = tmp_path / "corpus.json"
    path.write_text(json.dumps({"task_id": "corpus", "description": "known answers",
                                "steps": steps}))
    return path


def _profile() -> EmulatorProfile:
    rules = [ReplyRule(contains=f"Step `{_step_id(c, right)}`", reply=answer(c, right))
             for c in CASES for right in (True, False)]
    fast = ProviderProfile(latency=LatencyModelConfig(ttft_base_ms=0,
                                                      decode_ms_per_output_token=0))
    return EmulatorProfile(require_auth=False, default=fast, replies=rules)


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory: pytest.TempPathFactory) -> RunRecord:
    import asyncio

    tmp = tmp_path_factory.mktemp("corpus")

    async def go() -> RunRecord:
        async with EmulatorServer(_profile()) as emu:
            options = RunOptions(provider="openai", emulator_url=emu.url, repairs=0,
                                 concurrency=4, max_tokens=MAX_TOKENS, output=tmp / "run")
            record, _ = await run_plan_async(_plan(tmp), options)
            return record

    return asyncio.run(go())


def _by_id(record: RunRecord) -> dict[str, StepRecord]:
    return {s.step_id: s for s in record.steps}


def test_corpus_is_big_and_varied_enough() -> None:
    assert len(CASES) >= 30
    assert {c.wrong_kind for c in CASES} == {"body", "loop", "syntax", "truncated"}


def test_every_verdict_equals_the_truth(corpus_run: RunRecord) -> None:
    steps = _by_id(corpus_run)
    for case in CASES:
        right = steps[_step_id(case, True)]
        assert right.status == "passed", (case.name, right.reason, right.validation)
        assert [v.status for v in right.validation] == ["passed", "passed"]
        assert right.first_try == "passed" and not right.truncated
        wrong = steps[_step_id(case, False)]
        assert wrong.status == "failed", (case.name, case.wrong_kind)
        assert wrong.first_try == "failed"
        syntax, tests = wrong.validation
        assert tests.status == "failed", (case.name, case.wrong_kind, tests)
        if case.wrong_kind == "loop":
            assert syntax.status == "passed"
            assert tests.reason is not None and "limit" in tests.reason, tests
        elif case.wrong_kind == "syntax":
            assert syntax.status == "failed" and "syntax error" in (syntax.reason or "")
        elif case.wrong_kind == "truncated":
            assert wrong.truncated, "a reply cut by the token limit is marked truncated"
            assert wrong.attempts[-1].finish_reason == "length"
            assert syntax.status == "failed" and "no Python file" in (syntax.reason or "")
        else:
            assert syntax.status == "passed" and tests.reason == "tests failed"


def test_first_try_pass_rate_equals_the_truth_exactly(corpus_run: RunRecord) -> None:
    g = compute_aggregates([corpus_run]).global_figures
    assert g.steps == 2 * len(CASES)
    assert g.first_try_pass_rate == 0.5 and g.pass_rate == 0.5
    assert g.steps_passed == len(CASES) and g.steps_unvalidated == 0
    truncated = sum(c.wrong_kind == "truncated" for c in CASES)
    assert g.truncated_attempts == truncated


def test_verdicts_say_what_ran_them(corpus_run: RunRecord) -> None:
    for step in corpus_run.steps:
        syntax, tests = step.validation
        assert syntax.method == tests.method == "executed"
        assert syntax.sandbox and "in-process" in syntax.sandbox
        assert tests.sandbox in ("bwrap", "process")
        assert tests.duration_ms is not None and tests.duration_ms > 0
