"""Output that cannot be written: one clear line and exit 2 before anything is spent; a run
directory that fails mid-run stops the run as interrupted (exit 1) with what finished kept."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from aetherflow.cli.main import main
from aetherflow.emulator import EmulatorServer
from aetherflow.errors import RunDirectoryError
from aetherflow.execution.journal import JournalWriter, load_state


def _plan(tmp_path: Path, steps: int = 4) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"task_id": "out", "steps": [
        {"id": f"s{i}", "description": "x"} for i in range(steps)]}))
    return path


def _main(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as stop:
        main(list(args))
    return int(stop.value.code or 0), capsys.readouterr().err


@pytest.fixture
async def emulator() -> Any:
    async with EmulatorServer() as emu:
        yield emu


def test_an_unwritable_output_is_exit_2_before_anything_is_spent(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    code, err = _main("run", str(_plan(tmp_path)), "--provider", "openai", "--emulator",
                      "http://127.0.0.1:9", "--output", str(blocker / "run"), capsys=capsys)
    assert code == 2  # and nothing was sent: the emulator URL is not even listening
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "cannot write the run directory" in lines[0]
    assert "Not a directory" in lines[0] and "Traceback" not in err


async def test_a_disk_that_fails_mid_run_stops_it_with_what_finished_kept(
        tmp_path: Path, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from aetherflow.execution import RunOptions, run_plan_async

    original = JournalWriter.append_raw
    calls = {"n": 0}

    def failing(self: JournalWriter, line: str) -> None:
        calls["n"] += 1
        if calls["n"] > 16:  # session, prompts, some attempts and steps, then a full disk
            raise RunDirectoryError(f"cannot write the run journal {self.path}: "
                                    f"{os.strerror(28)}")
        original(self, line)

    monkeypatch.setattr(JournalWriter, "append_raw", failing)
    options = RunOptions(provider="openai", emulator_url=emulator.url, concurrency=1,
                         output=tmp_path / "run")
    with pytest.raises(RunDirectoryError, match="No space left"):
        await run_plan_async(_plan(tmp_path, 6), options)
    state = load_state(tmp_path / "run" / "journal.jsonl")
    assert state.finished_steps, "what finished before the failure is kept"
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["status"] == "interrupted"
