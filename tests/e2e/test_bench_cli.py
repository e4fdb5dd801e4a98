"""``bench``, ``suite``, ``report``, ``compare`` and ``history`` as a user runs them
(subprocesses): on the embedded model (marked ``local_model``), and on the provider
emulator in an 80-column terminal, interrupted by a signal and resumed."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from aetherflow.emulator import run_emulator_in_subprocess
from aetherflow.providers.local import LocalServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plans"
CUT_NUMBER = re.compile(r"\d…|…\d")
SLOW_PROFILE = {"seed": 1, "default": {"latency": {"ttft_base_ms": 1500,
                                                   "decode_ms_per_output_token": 20},
                                       "default_output_tokens": 20}}

REPORT_FILES = ("benchmark_data.json", "benchmark_report.md", "benchmark_report.html",
                "latency.png", "timeline.png", "tokens_cost.png")


_HOME: dict[str, str] = {}  # one data directory shared by this module's subprocesses


def _cli(*args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **_HOME}
    if url:
        env["AETHERFLOW_LOCAL_URL"] = url
    return subprocess.run([sys.executable, "-m", "aetherflow", *args], capture_output=True,
                          text=True, timeout=600, env=env)


def _env() -> dict[str, str]:
    return {**os.environ, **_HOME, "COLUMNS": "80"}


def _unchecked(dest: Path) -> Path:
    """parallel_diamond without its checks (the emulator's filler text would fail them)."""
    data = json.loads((EXAMPLES / "parallel_diamond.json").read_text())
    for step in data["steps"]:
        step["validation_criteria"] = []
    dest.write_text(json.dumps(data))
    return dest


def _fits_80_columns(text: str) -> None:
    wide = [line for line in text.splitlines() if len(line) > 80]
    assert not wide, wide
    assert not CUT_NUMBER.search(text), CUT_NUMBER.search(text)


def _interrupt(args: list[str], started: Callable[[], bool], signum: int,
               ) -> subprocess.CompletedProcess[str]:
    """Run the CLI, send ``signum`` once ``started()`` (and a second more), wait."""
    proc = subprocess.Popen([sys.executable, "-m", "aetherflow", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env())
    deadline = time.monotonic() + 60
    while not started() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    time.sleep(1.0)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def test_bench_on_the_emulator_fits_80_columns_and_prints_json(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    with run_emulator_in_subprocess() as emu:
        proc = subprocess.run(
            [sys.executable, "-m", "aetherflow", "bench", str(_unchecked(tmp_path / "p.json")),
             "--provider", "openai", "--emulator", emu.url, "-n", "2", "--max-tokens", "32",
             "--output", str(out), "--json"],
            capture_output=True, text=True, timeout=300, env=_env())
    assert proc.returncode == 0, proc.stderr
    _fits_80_columns(proc.stderr)
    assert "Latency" in proc.stderr and "bench directory:" in proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["kind"] == "bench" and summary["directory"] == str(out)
    assert summary["meta"]["emulated"] is True and summary["global"]["runs"] == 2
    assert [r["status"] for r in summary["runs"]] == ["unvalidated", "unvalidated"]
    data = json.loads((out / "benchmark_data.json").read_text())
    assert data["runs"][0]["record"]["config"]["max_tokens"] == 32


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_interrupts_the_bench_and_resume_finishes_it(tmp_path: Path,
                                                              signum: int) -> None:
    out = tmp_path / "bench"
    profile = tmp_path / "slow.json"
    profile.write_text(json.dumps(SLOW_PROFILE))
    with run_emulator_in_subprocess(profile) as emu:
        stopped = _interrupt(["bench", str(_unchecked(tmp_path / "p.json")), "--provider",
                              "openai", "--emulator", emu.url, "-n", "2", "-o", str(out)],
                             lambda: (out / "runs" / "1" / "journal.jsonl").exists(), signum)
        assert stopped.returncode == 130, stopped.stderr
        assert f"aetherflow bench --resume {out}\n" in stopped.stderr
        assert "Traceback" not in stopped.stderr
        conflict = subprocess.run([sys.executable, "-m", "aetherflow", "bench", "--resume",
                                   str(out), "--repeat", "5"], capture_output=True, text=True,
                                  timeout=60, env=_env())
        assert conflict.returncode == 2 and "drop --repeat" in conflict.stderr
        resumed = subprocess.run([sys.executable, "-m", "aetherflow", "bench", "--resume",
                                  str(out), "-q"], capture_output=True, text=True,
                                 timeout=300, env=_env())
    assert resumed.returncode == 0, resumed.stderr
    data = json.loads((out / "benchmark_data.json").read_text())
    assert data["meta"]["finished_at"] and len(data["runs"]) == 2
    assert [r["record"]["status"] for r in data["runs"]] == ["unvalidated", "unvalidated"]
    assert len(data["runs"][0]["record"]["sessions"]) == 2  # run 1 was resumed, not redone
    assert (out / "benchmark_report.html").is_file()


def test_a_suite_interrupted_by_sigterm_resumes_where_it_stopped(tmp_path: Path) -> None:
    out = tmp_path / "suite"
    variants = tmp_path / "variants.json"
    variants.write_text(json.dumps([{"name": "seq", "set": {"concurrency": 1}},
                                    {"name": "par", "set": {"concurrency": 4}}]))
    profile = tmp_path / "slow.json"
    profile.write_text(json.dumps(SLOW_PROFILE))
    plan = _unchecked(tmp_path / "p.json")
    with run_emulator_in_subprocess(profile) as emu:
        stopped = _interrupt(["suite", str(plan), "--variants", str(variants), "-n", "1",
                              "--provider", "openai", "--emulator", emu.url, "-o", str(out)],
                             lambda: (out / "parallel_diamond" / "seq" / "runs" / "1"
                                      / "journal.jsonl").exists(), signal.SIGTERM)
        assert stopped.returncode == 130, stopped.stderr
        assert f"aetherflow suite --resume {out}\n" in stopped.stderr
        assert (out / "suite_spec.json").is_file()
        resumed = subprocess.run([sys.executable, "-m", "aetherflow", "suite", "--resume",
                                  str(out), "--json"], capture_output=True, text=True,
                                 timeout=300, env=_env())
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming 1:" in resumed.stderr and "bench 2:" in resumed.stderr
    summary = json.loads(resumed.stdout)
    assert [b["variant"] for b in summary["benches"]] == ["seq", "par"]
    assert all(b["global"]["runs"] == 1 for b in summary["benches"])
    assert (out / "comparison_report.md").read_text().startswith("# Suite comparison")


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory: pytest.TempPathFactory, local_server: LocalServer) -> Path:
    root = tmp_path_factory.mktemp("bench")
    _HOME["AETHERFLOW_HOME"] = str(root / "home")
    out = root / "calc"
    plan = Path(__file__).resolve().parents[2] / "examples" / "plans" / "calculator.json"
    proc = _cli("bench", str(plan), "--repeat", "2", "--set", "max_tokens=16", "--label",
                "e2e-calc", "--output", str(out), "--quiet", url=local_server.url)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.mark.local_model
def test_bench_writes_every_report_file(bench_dir: Path) -> None:
    for name in REPORT_FILES:
        assert (bench_dir / name).stat().st_size > 0, name
    data = json.loads((bench_dir / "benchmark_data.json").read_text())
    assert data["schema_version"] == "2" and data["meta"]["repeats"] == 2
    assert data["meta"]["overlay"] == {"max_tokens": "16"}
    assert [r["run_dir"] for r in data["runs"]] == ["runs/1", "runs/2"]
    ttft = data["aggregates"]["latency_all"]["ttft_ms"]
    assert ttft["n"] >= 4 and ttft["p50"] > 0
    md = (bench_dir / "benchmark_report.md").read_text()
    assert f"| TTFT (ms) | {ttft['n']} |" in md


@pytest.mark.local_model
def test_report_rerenders_the_same_markdown(bench_dir: Path) -> None:
    before = (bench_dir / "benchmark_report.md").read_text()
    (bench_dir / "benchmark_report.md").unlink()
    proc = _cli("report", str(bench_dir), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert (bench_dir / "benchmark_report.md").read_text() == before


@pytest.mark.local_model
def test_compare_fail_if_exit_codes(bench_dir: Path, tmp_path: Path,
                                    local_server: LocalServer) -> None:
    plan = Path(__file__).resolve().parents[2] / "examples" / "plans" / "calculator.json"
    other = tmp_path / "other"
    proc = _cli("bench", str(plan), "--repeat", "2", "--set", "max_tokens=8", "--label",
                "e2e-other", "--output", str(other), "--quiet", url=local_server.url)
    assert proc.returncode == 0, proc.stderr
    ok = _cli("compare", str(bench_dir), "e2e-other", "--fail-if", "ttft_p50>+1000%",
              "-o", str(tmp_path / "cmp"))
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "cmp" / "comparison_report.md").is_file()
    hit = _cli("compare", str(bench_dir), str(other), "--fail-if", "ttft_p50>-100%",
               "--fail-if-mode", "point", "-o", str(tmp_path / "cmp"))
    assert hit.returncode == 1 and "TRIGGERED" in hit.stdout + hit.stderr
    itself = _cli("compare", str(bench_dir), "e2e-calc")
    assert itself.returncode == 2 and "same 2 runs" in itself.stderr
    bad = _cli("compare", str(bench_dir), str(other), "--fail-if", "ttft_p50 is big")
    assert bad.returncode == 2 and bad.stderr.startswith("error: --fail-if")


@pytest.mark.local_model
def test_history_lists_bench_runs(bench_dir: Path) -> None:
    proc = _cli("history", "--label", "e2e-calc", "--json")
    assert proc.returncode == 0, proc.stderr
    runs = json.loads(proc.stdout)
    assert len(runs) == 2 and {r["task_id"] for r in runs} == {"calculator"}


def test_unknown_set_key_is_exit_2(tmp_path: Path) -> None:
    plan = Path(__file__).resolve().parents[2] / "examples" / "plans" / "calculator.json"
    proc = _cli("bench", str(plan), "--set", "colour=red", "--output", str(tmp_path / "x"))
    assert proc.returncode == 2
    assert "unknown key 'colour'" in proc.stderr and "concurrency" in proc.stderr
