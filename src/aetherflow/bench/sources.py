"""Find a bench's data: a bench directory, a run directory, or a history reference.

References follow the history's rules (``docs/history.md``): ``bench:N`` / ``run:N``, a
bench or run directory, a number (a bench id, else a run id), a label that names exactly
one bench or run, a full run id or a unique prefix of one. A reference that names several
benches or runs is an error listing them, never a silent pick. Comparing a bench with
itself (both references naming the same runs) is an error too.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aetherflow.bench.runner import BENCH_DATA_FILE, build_benchmark_data, load_benchmark_data
from aetherflow.errors import ConfigError
from aetherflow.results.bench import BenchmarkData, BenchMeta, BenchRun
from aetherflow.results.run import RunRecord
from aetherflow.store.history import HistoryStore, validation_summary
from aetherflow.store.models import ResolvedRef, SavedRun

__all__ = [
    "ImportResult",
    "bench_from_runs",
    "ensure_different_benches",
    "import_into_history",
    "load_run_dir",
    "resolve_bench",
    "resolve_benches",
]


def bench_from_runs(records: Sequence[RunRecord], label: str | None = None,
                    run_dirs: Sequence[str | None] | None = None,
                    bench_id: int | None = None,
                    history_ids: Sequence[int | None] | None = None) -> BenchmarkData:
    """A :class:`BenchmarkData` over stored runs (no warm-ups, no overlay)."""
    if not records:
        raise ConfigError("no runs to build a bench from")
    first = records[0]
    dirs = list(run_dirs) if run_dirs is not None else [None] * len(records)
    ids = list(history_ids) if history_ids is not None else [None] * len(records)
    meta = BenchMeta(
        plan=first.plan_path or first.task_id, task_id=first.task_id,
        label=label or first.label, repeats=len(records), warmup=0,
        provider=first.config.provider, model=first.config.model,
        emulated=any(r.config.emulated for r in records), bench_id=bench_id,
        server_mode="rebuilt from stored runs", started_at=first.started_at,
        finished_at=records[-1].finished_at, environment=first.environment,
    )
    runs = [BenchRun(index=i, record=r, run_dir=d, history_id=h)
            for i, (r, d, h) in enumerate(zip(records, dirs, ids, strict=True), start=1)]
    return build_benchmark_data(meta, runs)


def load_run_dir(path: Path) -> BenchmarkData:
    """A one-run bench from a run directory's ``run.json``."""
    file = path / "run.json"
    try:
        record = RunRecord.model_validate_json(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror or exc}") from exc
    except ValidationError as exc:
        raise ConfigError(f"{file}: not a valid run.json: {validation_summary(exc)}") from exc
    except ValueError as exc:
        raise ConfigError(f"{file}: not a valid run.json: {exc}") from exc
    return bench_from_runs([record], run_dirs=["."])


def _from_file(ref: str) -> BenchmarkData | None:
    """Bench data from a path on disk, if ``ref`` is one (a bare number never is: it is an
    id; write ``./3`` for a directory named 3)."""
    if ref.isdigit():
        return None
    path = Path(ref).expanduser()
    if path.is_dir() and (path / BENCH_DATA_FILE).exists():
        return load_benchmark_data(path)
    if path.is_file() and path.suffix == ".json":
        return load_benchmark_data(path)
    if path.is_dir() and (path / "run.json").exists():
        return load_run_dir(path)
    return None


def _from_store(found: ResolvedRef, store: HistoryStore) -> BenchmarkData:
    if not found.runs:
        bench = found.bench
        where = f" ({bench.output_dir})" if bench and bench.output_dir else ""
        raise ConfigError(f"bench {found.ref!r}{where} has no stored runs yet")
    records = [store.load_record(s) for s in found.runs]
    label = found.bench.label if found.bench else found.runs[0].label
    return bench_from_runs(records, label=label, run_dirs=[s.run_dir for s in found.runs],
                           bench_id=found.bench.id if found.bench else None,
                           history_ids=[s.id for s in found.runs])


def resolve_bench(ref: str, store: HistoryStore | None = None) -> BenchmarkData:
    """Bench data for ``ref``: a bench dir or ``benchmark_data.json``, a run dir, or a
    history reference (``bench:N``, ``run:N``, an id, a label, a run id or prefix).

    Raises :class:`~aetherflow.errors.RunNotFoundError` when nothing matches and
    :class:`~aetherflow.errors.AmbiguousReferenceError` (listing the candidates) when the
    reference names several benches or runs.
    """
    data = _from_file(ref)
    if data is not None:
        return data
    own = store is None
    db = store or HistoryStore()
    try:
        return _from_store(db.resolve(ref), db)
    finally:
        if own:
            db.close()


def _run_keys(data: BenchmarkData) -> set[tuple[str, str, str]]:
    """What identifies the measured runs of a bench across sources (file or history)."""
    return {(r.record.task_id, r.record.run_id, r.record.started_at)
            for r in data.runs if not r.warmup}


def ensure_different_benches(a: str, bench_a: BenchmarkData, b: str,
                             bench_b: BenchmarkData) -> None:
    """Refuse to compare a bench with itself or with runs it contains (exit 2).

    A comparison's confidence intervals assume two independent samples; the same runs on
    both sides would report "0 %, not significant" as if that were a finding.
    """
    keys_a, keys_b = _run_keys(bench_a), _run_keys(bench_b)
    shared = keys_a & keys_b
    if not shared:
        return
    how = (f"both name the same {len(shared)} run{'s' if len(shared) != 1 else ''}"
           if keys_a == keys_b else
           f"share {len(shared)} of their runs")
    raise ConfigError(
        f"{a!r} and {b!r} {how}: a comparison needs two different benches. Give the "
        "baseline and the candidate as two different bench ids, labels or directories, "
        "e.g. `aetherflow compare bench:3 bench:4` (list them with `aetherflow history "
        "benches`)")


def resolve_benches(a: str, b: str,
                    store: HistoryStore | None = None) -> tuple[BenchmarkData, BenchmarkData]:
    """Resolve ``a`` and ``b`` (as :func:`resolve_bench`) and check they are different
    benches (:func:`ensure_different_benches`)."""
    bench_a, bench_b = resolve_bench(a, store), resolve_bench(b, store)
    ensure_different_benches(a, bench_a, b, bench_b)
    return bench_a, bench_b


class ImportResult(BaseModel):
    """What :func:`import_into_history` stored from one directory."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    bench_id: int | None = None
    saved: list[SavedRun] = Field(default_factory=list)

    @property
    def added(self) -> int:
        """Runs that were not in the history before."""
        return sum(s.created for s in self.saved)

    @property
    def renamed(self) -> int:
        """Added runs whose run id belonged to another run (stored as ``<run_id>~N``)."""
        return sum(s.renamed for s in self.saved)


def import_into_history(path: Path, store: HistoryStore) -> ImportResult:
    """Store the runs of a bench directory (``benchmark_data.json``) or a run directory
    (``run.json``) in the history: runs already stored are updated, never duplicated; runs
    an older version lost (every bench named its runs 1, 2, 3) are added back."""
    if (path / BENCH_DATA_FILE).is_file():
        data = load_benchmark_data(path)
        meta = data.meta
        bench = store.bench_for_dir(path, meta.task_id, meta.label, meta.plan, meta.repeats,
                                    meta.started_at, meta.bench_id)
        saved = [store.save(r.record, path / r.run_dir if r.run_dir else None,
                            label=r.record.label, bench_id=None if r.warmup else bench)
                 for r in data.runs]
        return ImportResult(path=str(path), bench_id=bench, saved=saved)
    if (path / "run.json").is_file():
        record = load_run_dir(path).runs[0].record
        return ImportResult(path=str(path), saved=[store.save(record, path,
                                                              label=record.label)])
    raise ConfigError(f"{path}: not a bench directory (benchmark_data.json) or a run "
                      "directory (run.json)")
