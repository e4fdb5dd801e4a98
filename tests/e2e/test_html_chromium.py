"""The HTML report in a real headless Chromium: loads without console errors, charts drawn."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from aetherflow.bench.model import BenchMeta, BenchRun
from aetherflow.bench.runner import build_benchmark_data
from aetherflow.metrics.records import (
    AttemptRecord,
    Environment,
    RunConfig,
    RunRecord,
    StepRecord,
    TimingMetrics,
)
from aetherflow.report import write_bench_reports

pytestmark = pytest.mark.chromium

CHROMIUM = "/usr/bin/chromium"


def _run(run_id: str, ttft: float) -> RunRecord:
    attempt = AttemptRecord(attempt=1, provider="emu", model="m", status="ok", started_at_ms=0,
                            timeline_ms={"dispatched": 1.0},
                            timing=TimingMetrics(ttft_ms=ttft, ttr_ms=3 * ttft, tpot_ms=4.0))
    step = StepRecord(step_id="a", type="code_generation", status="succeeded", provider="emu",
                      ready_at_ms=0.0, finished_at_ms=3 * ttft, step_time_ms=3 * ttft,
                      ttft_ms=ttft, attempts=[attempt])
    env = Environment(hostname="h", platform="p", machine="m", cpu_count=1, python="3",
                      aetherflow_version="0")
    return RunRecord(run_id=run_id, task_id="t", status="succeeded", started_at="2025-01-01",
                     config=RunConfig(provider="emu", concurrency=1, max_tokens=8,
                                      temperature=0, step_timeout_s=1, max_attempts=1),
                     environment=env, steps=[step], makespan_ms=3 * ttft,
                     critical_path_ms=3 * ttft, critical_path=["a"], parallel_efficiency=1.0)


def test_html_report_renders_in_chromium(tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail("headless Chromium is required for this test: apt-get install -y chromium")
    meta = BenchMeta(plan="p.json", task_id="t", repeats=2, warmup=0, provider="emu",
                     started_at="2025-01-01")
    data = build_benchmark_data(meta, [BenchRun(index=i, record=_run(f"r{i}", 100.0 * i))
                                       for i in (1, 2)])
    write_bench_reports(data, tmp_path / "out")
    page = tmp_path / "out" / "benchmark_report.html"
    proc = subprocess.run(
        [CHROMIUM if Path(CHROMIUM).exists() else "chromium", "--headless", "--no-sandbox",
         "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Uncaught" not in proc.stderr and "ERROR:CONSOLE" not in proc.stderr, proc.stderr
    assert proc.stdout.count('class="main-svg"') >= 3
    for i in range(3):
        assert f'id="chart-{i}"' in proc.stdout
