"""A 2,000-step plan against the emulator: run.json and the journal are complete and agree."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

from aetherflow.emulator import EmulatorServer
from aetherflow.emulator.profile import EmulatorProfile, LatencyModelConfig, ProviderProfile
from aetherflow.execution import RunOptions, run_plan_async
from aetherflow.execution.journal import load_state, read_journal, step_prompts
from aetherflow.results.run import RunRecord

STEPS = 2000


def _plan(path: Path) -> Path:
    steps = [{"id": f"s{i}", "description": f"Write function f{i}.",
              # a few chains so the schedule is not all independent
              "dependencies": [f"s{i - 1}"] if i % 50 else []} for i in range(STEPS)]
    path.write_text(json.dumps({"task_id": "big", "steps": steps}))
    return path


def test_a_2000_step_run_is_complete_and_consistent(tmp_path: Path) -> None:
    profile = EmulatorProfile(require_auth=False, default=ProviderProfile(
        latency=LatencyModelConfig(ttft_base_ms=0, decode_ms_per_output_token=0),
        default_output_tokens=8))

    async def go() -> RunRecord:
        async with EmulatorServer(profile) as emu:
            options = RunOptions(provider="openai", emulator_url=emu.url, concurrency=32,
                                 max_attempts=1, output=tmp_path / "run")
            record, _ = await run_plan_async(_plan(tmp_path / "plan.json"), options)
            assert len(emu.requests) == STEPS
            return record

    record = asyncio.run(go())
    run_dir = tmp_path / "run"
    on_disk = RunRecord.model_validate_json((run_dir / "run.json").read_text())
    assert on_disk == record and record.status == "unvalidated"
    assert [s.step_id for s in on_disk.steps] == [f"s{i}" for i in range(STEPS)]
    assert all(len(s.attempts) == 1 and s.attempts[0].status == "ok" for s in on_disk.steps)
    kinds = Counter(e["e"] for e in read_journal(run_dir / "journal.jsonl"))
    assert kinds["session"] == 1 and kinds["end"] == 1
    assert kinds["attempt"] == kinds["step"] == kinds["prompt"] == STEPS
    state = load_state(run_dir / "journal.jsonl")
    assert set(state.finished_steps) == {s.step_id for s in on_disk.steps}
    for step in on_disk.steps[::97]:  # the journal and run.json say the same
        entry = state.steps[step.step_id]
        assert entry.record is not None and entry.record.status == step.status
        assert entry.attempts == step.attempts
    outputs = sorted(p.name for p in (run_dir / "step_outputs").iterdir())
    assert len(outputs) == STEPS
    assert len(step_prompts(run_dir / "journal.jsonl")) == STEPS
    by_id = {s.step_id: s for s in on_disk.steps}
    for step in on_disk.steps:  # dependencies ran first
        for dep in step.dependencies:
            done = by_id[dep]
            assert step.ready_at_ms is not None and done.finished_at_ms is not None
            assert step.ready_at_ms >= done.finished_at_ms
