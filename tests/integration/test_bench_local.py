"""``run_bench_async`` against the real embedded model (one shared server, reused)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aetherflow.bench import BenchSpec, resolve_bench, run_bench_async
from aetherflow.execution.runner import RunOptions
from aetherflow.providers.local import LocalServer
from aetherflow.report import write_bench_reports
from aetherflow.store.history import HistoryStore

pytestmark = pytest.mark.local_model


async def test_bench_repeats_store_and_report(tmp_path: Path, examples_dir: Path,
                                              local_server: LocalServer,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AETHERFLOW_LOCAL_URL", local_server.url)
    spec = BenchSpec(plan=examples_dir / "calculator.json", output=tmp_path / "bench",
                     repeats=2, warmup=1, options=RunOptions(), overlay={"max_tokens": "16"},
                     label="it-bench")
    data = await run_bench_async(spec)
    assert [(r.index, r.warmup) for r in data.runs] == [(1, True), (1, False), (2, False)]
    assert (tmp_path / "bench" / "runs" / "warmup-1" / "run.json").is_file()
    assert "reused across repeats" in data.meta.server_mode
    g = data.aggregates.global_figures
    assert g.runs == 2 and g.steps == 4
    assert data.aggregates.latency_all.ttft_ms.n == g.attempts
    # an external server (AETHERFLOW_LOCAL_URL): its log is not readable, so n/a with why
    prefill = data.aggregates.latency_all.server_prefill_ms
    assert prefill.n == 0 and "external llama.cpp server" in (prefill.note or "")
    assert all(r.record.config.max_tokens == 16 for r in data.runs)
    assert data.aggregates.cache.status == "n/a"
    with HistoryStore() as store:
        stored = store.list_runs(bench_id=data.meta.bench_id, limit=None)
    assert len(stored) == 2  # the warm-up is stored outside the bench group
    again = resolve_bench("it-bench")
    assert again.aggregates.global_figures.runs == 2
    files = write_bench_reports(data, spec.output)
    assert all(f.stat().st_size > 0 for f in files)
