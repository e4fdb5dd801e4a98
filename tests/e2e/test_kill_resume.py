"""SIGKILL ``aetherflow run`` at seeded random moments, then ``--resume``: the run directory
is always consistent, nothing is left running, and no step that was durably journaled is
ever requested again (the emulator's request log is the truth)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from aetherflow.emulator import run_emulator_in_subprocess
from aetherflow.execution.journal import load_state, read_journal
from aetherflow.execution.rundir import run_is_live
from aetherflow.results.run import RunRecord

KILLS = 20
STEPS = 10


def _profile(path: Path) -> Path:
    rules = [{"contains": f"Step `s{i}`", "reply": f"```python\n# file: s{i}.py\nX = {i}\n```\n"}
             for i in range(STEPS)]
    path.write_text(json.dumps({
        "seed": 7, "require_auth": False, "replies": rules,
        "default": {"latency": {"ttft_base_ms": 150, "decode_ms_per_output_token": 40}},
    }))
    return path


def _plan(path: Path) -> Path:
    steps = [{"id": f"s{i}", "description": f"Write s{i}.py.",
              "dependencies": [f"s{i - 2}"] if i >= 2 else [],
              "validation_criteria": [{"check": "python_syntax"}],
              "context": {"files": [f"s{i}.py"]}} for i in range(STEPS)]
    path.write_text(json.dumps({"task_id": "killme", "steps": steps}))
    return path


def _requests(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/_emulator/requests") as resp:
        data = json.load(resp)
    return list(data["requests"] if isinstance(data, dict) else data)


def _per_step(requests: list[dict[str, Any]]) -> Counter[str]:
    return Counter(f"s{r['reply_rule']}" for r in requests if r.get("reply_rule") is not None)


def _cli(*args: str, env: dict[str, str], quiet: bool = False) -> subprocess.Popen[str]:
    out = subprocess.DEVNULL if quiet else subprocess.PIPE
    return subprocess.Popen([sys.executable, "-m", "aetherflow", *args], env=env, text=True,
                            stdout=out, stderr=out)


def _children_of(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def test_sigkill_at_random_moments_then_resume(tmp_path: Path) -> None:
    rng = random.Random(2026)
    env = {**os.environ, "AETHERFLOW_HOME": str(tmp_path / "home")}
    plan = _plan(tmp_path / "plan.json")
    figures = {"kills": 0, "repeated": 0, "in_flight": 0, "lost_runs": 0,
               "finished_before_kill": 0, "killed_before_start": 0}
    with run_emulator_in_subprocess(_profile(tmp_path / "profile.json")) as emu:
        for k in range(KILLS):
            run_dir = tmp_path / f"run{k}"
            before = len(_requests(emu.url))
            proc = _cli("run", str(plan), "--provider", "openai", "--emulator", emu.url,
                        "--concurrency", "3", "--quiet", "-o", str(run_dir), env=env,
                        quiet=True)
            time.sleep(rng.uniform(0.5, 4.5))  # start-up ~1-2 s, the run ~3 s
            children = _children_of(proc.pid)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            figures["kills"] += 1
            time.sleep(0.3)
            for child in children:  # nothing the run started outlives it
                assert not Path(f"/proc/{child}").exists() or \
                    "zombie" in Path(f"/proc/{child}/status").read_text().lower(), child
            journal = run_dir / "journal.jsonl"
            if not journal.exists():  # killed before it started: nothing to resume
                assert len(_requests(emu.url)) == before
                figures["killed_before_start"] += 1
                continue
            list(read_journal(journal))  # parses, a torn last line ignored
            assert not run_is_live(run_dir), "a dead run is not 'running'"
            state = load_state(journal)
            durable = {sid: len(e.attempts) for sid, e in state.steps.items()
                       if e.record is not None}
            if state.sessions and state.sessions[-1].end == "finished":
                figures["finished_before_kill"] += 1  # nothing to resume: still checked
                assert len(durable) == STEPS
                continue
            asked_before = _per_step(_requests(emu.url)[before:])
            resumed = _cli("run", "--resume", str(run_dir), "--quiet", env=env)
            _, err = resumed.communicate(timeout=120)
            assert resumed.returncode == 0, err
            record = RunRecord.model_validate_json((run_dir / "run.json").read_text())
            assert record.status in ("passed", "unvalidated"), record.status
            assert len(record.steps) == STEPS
            asked = _per_step(_requests(emu.url)[before:])
            for sid, attempts in durable.items():
                assert asked[sid] == attempts == asked_before[sid], (k, sid)  # never again
            repeated = sum(asked[s] - 1 for s in asked if s not in durable and asked[s] > 1)
            figures["in_flight"] += repeated
            figures["repeated"] += sum(asked[s] - durable[s] for s in durable)
            if record.status not in ("passed", "unvalidated"):
                figures["lost_runs"] += 1
            if len(record.sessions) > 1:
                assert record.sessions[0].end in ("crashed", "interrupted")
    print(f"\nkills survived: {figures['kills']} (before start {figures['killed_before_start']},"
          f" after the end {figures['finished_before_kill']}), durably journaled steps "
          f"requested again: {figures['repeated']}, requests repeated for steps in flight at "
          f"the kill: {figures['in_flight']}, runs lost: {figures['lost_runs']}")
    assert figures["repeated"] == 0 and figures["lost_runs"] == 0


@pytest.mark.local_model
def test_sigkill_on_the_embedded_model_leaves_no_server_and_resumes(tmp_path: Path) -> None:
    """The same with the real embedded llama.cpp server once: its server dies with the run,
    and the resumed run (a new server) completes."""
    env = {**os.environ, "AETHERFLOW_HOME": str(tmp_path / "home")}
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task_id": "local-kill", "steps": [
        {"id": f"s{i}", "description": f"Write a Python function f{i} that returns {i}."}
        for i in range(4)]}))
    run_dir = tmp_path / "run"
    proc = _cli("run", str(plan), "--max-tokens", "48", "--concurrency", "1", "--quiet",
                "-o", str(run_dir), env=env, quiet=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:  # kill once the first step is durably journaled
        if run_dir.joinpath("journal.jsonl").exists() and any(
                e["e"] == "step" for e in read_journal(run_dir / "journal.jsonl")):
            break
        time.sleep(0.2)
    servers = _children_of(proc.pid)
    assert servers, "the embedded llama.cpp server is a child of the run"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(5)
    for pid in servers:  # the llama.cpp server died with its owner
        alive = Path(f"/proc/{pid}").exists() and "zombie" not in Path(
            f"/proc/{pid}/status").read_text().lower()
        assert not alive, pid
    done_before = set(load_state(run_dir / "journal.jsonl").finished_steps)
    resumed = _cli("run", "--resume", str(run_dir), "--quiet", env=env)
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    record = RunRecord.model_validate_json((run_dir / "run.json").read_text())
    assert len(record.steps) == 4 and len(record.sessions) == 2
    for step in record.steps:
        if step.step_id in done_before:
            assert {a.session for a in step.attempts} == {1}
