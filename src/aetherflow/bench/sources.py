"""Find a bench's data: a bench directory, a run directory, a label or a history id."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aetherflow.bench.model import BenchmarkData, BenchMeta, BenchRun
from aetherflow.bench.runner import BENCH_DATA_FILE, build_benchmark_data, load_benchmark_data
from aetherflow.errors import ConfigError
from aetherflow.metrics.records import RunRecord
from aetherflow.store.history import HistoryStore

__all__ = ["bench_from_runs", "load_run_dir", "resolve_bench"]


def bench_from_runs(records: Sequence[RunRecord], label: str | None = None,
                    run_dirs: Sequence[str | None] | None = None,
                    bench_id: int | None = None) -> BenchmarkData:
    """A :class:`BenchmarkData` over stored runs (no warm-ups, no overlay)."""
    if not records:
        raise ConfigError("no runs to build a bench from")
    first = records[0]
    dirs = list(run_dirs) if run_dirs is not None else [None] * len(records)
    meta = BenchMeta(
        plan=first.plan_path or first.task_id, task_id=first.task_id,
        label=label or first.label, repeats=len(records), warmup=0,
        provider=first.config.provider, model=first.config.model,
        emulated=any(r.config.emulated for r in records), bench_id=bench_id,
        server_mode="rebuilt from stored runs", started_at=first.started_at,
        finished_at=records[-1].finished_at, environment=first.environment,
    )
    runs = [BenchRun(index=i, record=r, run_dir=d)
            for i, (r, d) in enumerate(zip(records, dirs, strict=True), start=1)]
    return build_benchmark_data(meta, runs)


def load_run_dir(path: Path) -> BenchmarkData:
    """A one-run bench from a run directory's ``run.json``."""
    try:
        record = RunRecord.model_validate_json((path / "run.json").read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigError(f"{path / 'run.json'}: not a valid run.json: {exc}") from exc
    return bench_from_runs([record], run_dirs=["."])


def _from_store(ref: str, store: HistoryStore) -> BenchmarkData | None:
    benches = store.list_benches(label=ref)
    if ref.isdigit() and not benches:
        benches = [b for b in store.list_benches() if b.id == int(ref)]
    for bench in benches:
        summaries = list(reversed(store.list_runs(bench_id=bench.id, limit=None)))
        if summaries:
            records = [store.get_run(s.id) for s in summaries]
            return bench_from_runs(records, label=bench.label,
                                   run_dirs=[s.run_dir for s in summaries], bench_id=bench.id)
    found = list(reversed(store.find(ref)))
    if not found:
        return None
    return bench_from_runs([store.get_run(s.id) for s in found], label=ref,
                           run_dirs=[s.run_dir for s in found])


def resolve_bench(ref: str, store: HistoryStore | None = None) -> BenchmarkData:
    """Bench data for ``ref``: a bench dir/file, a run dir, a bench label/id or a run id."""
    path = Path(ref)
    if path.is_dir() and (path / BENCH_DATA_FILE).exists():
        return load_benchmark_data(path)
    if path.is_file() and path.suffix == ".json":
        return load_benchmark_data(path)
    if path.is_dir() and (path / "run.json").exists():
        return load_run_dir(path)
    own = store is None
    db = store or HistoryStore()
    try:
        data = _from_store(ref, db)
    finally:
        if own:
            db.close()
    if data is None:
        raise ConfigError(f"{ref!r} is not a bench or run directory, a bench label or id, or a "
                          "stored run id/label (see `aetherflow history`)")
    return data
