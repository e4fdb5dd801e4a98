"""``aetherflow run`` as a user runs it: a subprocess, real files; the embedded model
(marked ``local_model``) or the provider emulator (in an 80-column terminal, interrupted
by SIGINT or SIGTERM and resumed)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aetherflow.emulator import run_emulator_in_subprocess

#: A number cut by the terminal: an ellipsis touching a digit.
CUT_NUMBER = re.compile(r"\d…|…\d")
#: Slow enough that a signal arrives while steps are in flight (1.5 s to first token).
SLOW_PROFILE = {"seed": 1, "default": {"latency": {"ttft_base_ms": 1500,
                                                   "decode_ms_per_output_token": 20},
                                       "default_output_tokens": 20}}


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aetherflow", *args], capture_output=True,
                          text=True, timeout=600, env=env)


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "COLUMNS": "80", **extra}


def _unchecked(examples_dir: Path, dest: Path) -> Path:
    """parallel_diamond without its checks (the emulator's filler text would fail them)."""
    data = json.loads((examples_dir / "parallel_diamond.json").read_text())
    for step in data["steps"]:
        step["validation_criteria"] = []
    dest.write_text(json.dumps(data))
    return dest


def assert_fits_80_columns(text: str) -> None:
    """No line wider than 80 characters and no number cut short with an ellipsis."""
    wide = [line for line in text.splitlines() if len(line) > 80]
    assert not wide, wide
    assert not CUT_NUMBER.search(text), CUT_NUMBER.search(text)


def test_run_on_the_emulator_fits_80_columns_and_prints_json(tmp_path: Path,
                                                             examples_dir: Path) -> None:
    plan = _unchecked(examples_dir, tmp_path / "plan.json")
    with run_emulator_in_subprocess() as emu:
        proc = _cli("run", str(plan), "--provider", "openai", "--emulator", emu.url,
                    "--output", str(tmp_path / "run"), "--slo", "ttft_ms=60000", "--json",
                    env=_env())
    assert proc.returncode == 0, proc.stderr
    assert_fits_80_columns(proc.stderr)
    assert "run directory:" in proc.stderr and "TTFT" in proc.stderr
    record = json.loads(proc.stdout)  # stdout holds the JSON alone
    assert record["status"] == "unvalidated" and record["config"]["emulated"] is True
    assert record["config"]["slos"] == {"ttft_ms": 60000.0}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_interrupts_the_run_and_resume_finishes_it(tmp_path: Path,
                                                            examples_dir: Path,
                                                            signum: int) -> None:
    plan = _unchecked(examples_dir, tmp_path / "plan.json")
    profile = tmp_path / "slow.json"
    profile.write_text(json.dumps(SLOW_PROFILE))
    out = tmp_path / "run"
    with run_emulator_in_subprocess(profile) as emu:
        proc = subprocess.Popen(
            [sys.executable, "-m", "aetherflow", "run", str(plan), "--provider", "openai",
             "--emulator", emu.url, "--output", str(out)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
        deadline = time.monotonic() + 60
        while not (out / "journal.jsonl").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)  # requests in flight
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert "continue with:" in err
        assert f"aetherflow run --resume {out}\n" in err  # whole, on one line: copyable
        assert "Traceback" not in err
        assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
        other = _cli("run", "--resume", str(out), "--concurrency", "5", env=_env())
        assert other.returncode == 2 and "conflicts with the recorded" in other.stderr
        resumed = _cli("run", "--resume", str(out), "--quiet", env=_env())
    assert resumed.returncode == 0, resumed.stderr
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "unvalidated" and len(record["sessions"]) == 2


def test_plan_or_resume_is_required(tmp_path: Path) -> None:
    proc = _cli("run", env=_env())
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: give a PLAN to run, or --resume DIR to continue one"


@pytest.mark.local_model
def test_run_calculator_example_on_local_model(tmp_path: Path, examples_dir: Path) -> None:
    out = tmp_path / "run"
    proc = _cli("run", str(examples_dir / "calculator.json"), "--output", str(out),
                "--max-tokens", "64")
    assert proc.returncode in (0, 1), proc.stderr
    record = json.loads((out / "run.json").read_text())
    assert record["schema_version"] == "2" and record["config"]["provider"] == "local"
    assert record["status"] in ("passed", "failed", "unvalidated")
    module = record["steps"][0]
    assert module["status"] in ("passed", "failed")  # calculator's checks were executed
    assert {v["method"] for v in module["validation"]} == {"executed"}
    assert record["steps"], "no step recorded"
    for step in record["steps"]:
        if not step["attempts"]:
            assert step["status"] == "skipped"  # its dependency failed its checks
            continue
        assert step["provider"] == "local"
        assert step["ttft_ms"] > 0 and step["ttr_ms"] >= step["ttft_ms"]
        attempt = step["attempts"][-1]
        assert attempt["usage"]["output"]["provenance"] == "tokenizer"
        assert attempt["cost"]["total_usd"] == 0.0 and attempt["cost"]["price_source"]
        assert (out / step["output_file"]).is_file()
    assert record["makespan_ms"] >= record["critical_path_ms"] > 0
    assert "run directory:" in proc.stderr


@pytest.mark.local_model
def test_run_json_flag_prints_the_record(tmp_path: Path, examples_dir: Path) -> None:
    proc = _cli("run", str(examples_dir / "calculator.json"), "--output", str(tmp_path / "r"),
                "--max-tokens", "16", "--json")
    assert proc.returncode in (0, 1), proc.stderr
    assert json.loads(proc.stdout)["task_id"] == "calculator"


@pytest.mark.parametrize(("args", "needle"), [
    (["--provider", "nope"], "unknown provider 'nope'"),
    (["--provider", "deepseek"], "DEEPSEEK_API_KEY"),
    (["--concurrency", "0"], "--concurrency"),
])
def test_bad_configuration_is_one_line_exit_2(tmp_path: Path, examples_dir: Path,
                                              args: list[str], needle: str) -> None:
    out = tmp_path / "run"
    proc = _cli("run", str(examples_dir / "calculator.json"), "--output", str(out), *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0]
    assert "Traceback" not in proc.stderr
    assert not (out / "run.json").exists()  # nothing was spent


def test_bad_plan_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"task_id": "x", "steps": [{"id": "a"}]}')
    proc = _cli("run", str(bad))
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"error: {bad}: $.steps[0] (a).description: required field "
                                   "is missing")
