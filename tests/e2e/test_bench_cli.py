"""``bench``, ``report``, ``compare`` and ``history`` as a user runs them (subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aetherflow.providers.local import LocalServer

pytestmark = pytest.mark.local_model

REPORT_FILES = ("benchmark_data.json", "benchmark_report.md", "benchmark_report.html",
                "latency.png", "timeline.png", "tokens_cost.png")


_HOME: dict[str, str] = {}  # one data directory shared by this module's subprocesses


def _cli(*args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **_HOME}
    if url:
        env["AETHERFLOW_LOCAL_URL"] = url
    return subprocess.run([sys.executable, "-m", "aetherflow", *args], capture_output=True,
                          text=True, timeout=600, env=env)


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


def test_report_rerenders_the_same_markdown(bench_dir: Path) -> None:
    before = (bench_dir / "benchmark_report.md").read_text()
    (bench_dir / "benchmark_report.md").unlink()
    proc = _cli("report", str(bench_dir), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert (bench_dir / "benchmark_report.md").read_text() == before


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
