"""The HTML reports in a real headless Chromium: load without console errors, charts drawn."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from aetherflow.bench.compare import compare_benches
from aetherflow.bench.model import BenchmarkData, BenchMeta, BenchRun
from aetherflow.bench.runner import build_benchmark_data
from aetherflow.bench.suite import SuiteEntry
from aetherflow.metrics.records import (
    AttemptRecord,
    Environment,
    RunConfig,
    RunRecord,
    StepRecord,
    TimingMetrics,
)
from aetherflow.report import write_bench_reports
from aetherflow.report.comparison import COMPARISON_HTML, write_comparison
from aetherflow.report.comparison_html import render_suite_html

pytestmark = pytest.mark.chromium

CHROMIUM = "/usr/bin/chromium"


def _run(run_id: str, ttft: float) -> RunRecord:
    attempt = AttemptRecord(attempt=1, provider="emu", model="m", status="ok", started_at_ms=0,
                            timeline_ms={"dispatched": 1.0},
                            timing=TimingMetrics(ttft_ms=ttft, ttr_ms=3 * ttft, tpot_ms=4.0))
    step = StepRecord(step_id="a", type="code_generation", status="passed", provider="emu",
                      ready_at_ms=0.0, finished_at_ms=3 * ttft, step_time_ms=3 * ttft,
                      ttft_ms=ttft, attempts=[attempt])
    env = Environment(hostname="h", platform="p", machine="m", cpu_count=1, python="3",
                      aetherflow_version="0")
    return RunRecord(run_id=run_id, task_id="t", status="passed", started_at="2025-01-01",
                     config=RunConfig(provider="emu", concurrency=1, max_tokens=8,
                                      temperature=0, step_timeout_s=1, max_attempts=1),
                     environment=env, steps=[step], makespan_ms=3 * ttft,
                     critical_path_ms=3 * ttft, critical_path=["a"], parallel_efficiency=1.0)


def _bench(task_id: str = "t", scale: float = 1.0) -> BenchmarkData:
    meta = BenchMeta(plan="p.json", task_id=task_id, repeats=2, warmup=0, provider="emu",
                     started_at="2025-01-01")
    return build_benchmark_data(meta, [BenchRun(index=i, record=_run(f"r{i}", 100.0 * i * scale))
                                       for i in (1, 2)])


def _render_in_chromium(page: Path, tmp_path: Path, charts: int) -> None:
    """Load ``page`` headless: exit 0, no console error, every chart drawn (plotly SVG)."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail("headless Chromium is required for this test: apt-get install -y chromium")
    proc = subprocess.run(
        [CHROMIUM if Path(CHROMIUM).exists() else "chromium", "--headless", "--no-sandbox",
         "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Uncaught" not in proc.stderr and "ERROR:CONSOLE" not in proc.stderr, proc.stderr
    assert proc.stdout.count('class="main-svg"') >= charts
    for i in range(charts):
        assert f'id="chart-{i}"' in proc.stdout
        drawn = proc.stdout.split(f'id="chart-{i}"', 1)[1].split('id="chart-', 1)[0]
        assert 'class="main-svg"' in drawn, f"chart-{i} not drawn"


def test_html_report_renders_in_chromium(tmp_path: Path) -> None:
    write_bench_reports(_bench(), tmp_path / "out")
    _render_in_chromium(tmp_path / "out" / "benchmark_report.html", tmp_path, 3)


def test_comparison_html_renders_in_chromium(tmp_path: Path) -> None:
    a, b = _bench(), _bench(scale=1.5)
    write_comparison(compare_benches(a, b), tmp_path / "cmp", a, b)
    _render_in_chromium(tmp_path / "cmp" / COMPARISON_HTML, tmp_path, 4)


def test_suite_comparison_html_renders_in_chromium(tmp_path: Path) -> None:
    entries = [SuiteEntry(plan=f"{t}.json", variant=v, output=f"o/{t}/{v}",
                          data=_bench(t, scale))
               for t in ("p1", "p2") for v, scale in (("seq", 1.0), ("par", 0.5))]
    page = tmp_path / COMPARISON_HTML
    page.write_text(render_suite_html(entries), encoding="utf-8")
    _render_in_chromium(page, tmp_path, 4)
