"""A 2,000-step plan against the emulator: run.json and the journal are complete and agree."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path

from aetherflow.emulator import EmulatorServer
from aetherflow.emulator.profile import EmulatorProfile, LatencyModelConfig, ProviderProfile
from aetherflow.execution import RunOptions, run_plan_async
from aetherflow.execution.journal import load_state, read_journal, rebuild_record, step_prompts
from aetherflow.execution.observer import NullObserver
from aetherflow.results.run import RunRecord, StepRecord

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


class _BurnObserver(NullObserver):
    """Spends a known amount of CPU (process time) when each step ends."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_step_end(self, record: StepRecord) -> None:
        t0 = time.process_time()
        while time.process_time() - t0 < self.seconds:
            pass


def test_session_cpu_is_the_process_cpu_of_the_session(tmp_path: Path) -> None:
    """Known truth: an observer burns 0.1 s of CPU per step, 3 steps, inside the session;
    the whole call (set-up included) bounds it from above."""
    profile = EmulatorProfile(require_auth=False, default=ProviderProfile(
        latency=LatencyModelConfig(ttft_base_ms=0, decode_ms_per_output_token=0),
        default_output_tokens=4))
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task_id": "cpu", "steps": [
        {"id": f"s{i}", "description": "Write f."} for i in range(3)]}))

    async def go() -> tuple[RunRecord, float]:
        async with EmulatorServer(profile) as emu:
            options = RunOptions(provider="openai", emulator_url=emu.url, max_attempts=1,
                                 output=tmp_path / "run")
            t0 = time.process_time()
            record, _ = await run_plan_async(plan, options, observer=_BurnObserver(0.1))
            return record, (time.process_time() - t0) * 1000.0

    record, whole_ms = asyncio.run(go())
    (session,) = record.sessions
    assert session.cpu_ms is not None and 300.0 <= session.cpu_ms <= whole_ms
    rebuilt = rebuild_record(load_state(tmp_path / "run" / "journal.jsonl"))
    assert rebuilt.sessions[0].cpu_ms == session.cpu_ms
