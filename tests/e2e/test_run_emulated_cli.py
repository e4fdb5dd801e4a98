"""``aetherflow run`` against the provider emulator in another process, as a user runs it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from aetherflow.emulator import run_emulator_in_subprocess

SECRET = "sk-test-DO-NOT-LEAK-1234567890"


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aetherflow", *args], capture_output=True,
                          text=True, timeout=300, env=env)


def _unchecked_copy(plan: Path, dest: Path) -> Path:
    """``plan`` without its validation criteria: the wire test is about requests, and the
    emulator's filler reply would (rightly) fail the real checks."""
    data = json.loads(plan.read_text())
    for step in data["steps"]:
        step["validation_criteria"] = []
    dest.write_text(json.dumps(data))
    return dest


@pytest.mark.parametrize("provider", ["openai", "deepseek", "groq", "mistral", "anthropic",
                                      "gemini", "openai-compatible"])
def test_every_provider_runs_emulated(tmp_path: Path, examples_dir: Path, provider: str) -> None:
    plan = _unchecked_copy(examples_dir / "parallel_diamond.json", tmp_path / "plan.json")
    with run_emulator_in_subprocess() as emu:
        proc = _cli("run", str(plan), "--provider", provider,
                    "--emulator", emu.url, "--output", str(tmp_path / "run"), "--quiet",
                    env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["config"]["emulated"] is True
    for step in record["steps"]:
        attempt = step["attempts"][-1]
        assert attempt["emulated"] is True and step["provider"] == provider
        assert attempt["usage"]["input"]["provenance"] == "server"
        assert attempt["usage"]["output"]["value"] == attempt["timing"]["content_chunks"]
        if provider != "openai-compatible":  # a generic endpoint has no known price
            assert attempt["cost"]["total_usd"] > 0 and attempt["cost"]["price_source"]


def test_api_key_never_reaches_disk(tmp_path: Path, examples_dir: Path) -> None:
    home = tmp_path / "home"
    env = dict(os.environ, OPENAI_API_KEY=SECRET, AETHERFLOW_HOME=str(home))
    with run_emulator_in_subprocess() as emu:
        proc = _cli("run", str(examples_dir / "calculator.json"), "--provider", "openai",
                    "--base-url", emu.base_url("openai"), "--output", str(tmp_path / "run"),
                    env=env)
    assert proc.returncode == 1, proc.stderr  # the filler reply fails calculator's checks
    assert "checks failed" in proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    for path in [*(tmp_path / "run").rglob("*"), *home.rglob("*")]:
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    with sqlite3.connect(home / "history.db") as db:
        dump = "\n".join(db.iterdump())
    assert SECRET not in dump and "openai" in dump


def test_broken_history_is_one_clear_error_before_anything_runs(tmp_path: Path,
                                                                examples_dir: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "history.db").write_bytes(b"\x00not sqlite" * 64)
    env = dict(os.environ, AETHERFLOW_HOME=str(home))
    listed = _cli("history", env=env)
    assert listed.returncode == 2
    assert "file is not a database" in listed.stderr and "Traceback" not in listed.stderr
    with run_emulator_in_subprocess() as emu:
        proc = _cli("run", str(examples_dir / "calculator.json"), "--provider", "openai",
                    "--emulator", emu.url, "--output", str(tmp_path / "run"), "--quiet",
                    env=env)
        with urllib.request.urlopen(f"{emu.url}/_emulator/requests") as resp:
            served = json.loads(resp.read())
    requests = served["requests"] if isinstance(served, dict) else served
    assert proc.returncode == 2 and "AETHERFLOW_HOME" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists() and requests == []  # nothing was spent
