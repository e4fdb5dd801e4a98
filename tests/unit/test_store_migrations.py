"""Property-based upgrades: a history at EVERY older schema level, filled with random rows as
the code of that level wrote them, migrates to the latest schema without losing or changing
anything it should keep, converts what it must, and is idempotent."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aetherflow.results.run import RunRecord
from aetherflow.store import MIGRATIONS, CorruptRecordError, HistoryStore, migrate
from aetherflow.store.migrations import applied_migrations

NAMES = [fn.__name__ for fn in MIGRATIONS]
V1_STEP = ["succeeded", "failed", "skipped"]
V1_RUN = ["running", "succeeded", "failed", "interrupted"]
V2_STEP = ["passed", "failed", "unvalidated", "skipped"]
V2_RUN = ["running", "passed", "unvalidated", "failed", "interrupted", "crashed"]
#: Labels and ids that look alike or like references on purpose.
LABELS = [None, "short", "long", "1", "2", "bench:1", "run:2", "short:warmup", "é ü", ""]
RUN_IDS = st.text(alphabet="123~-ab", min_size=1, max_size=4)


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [str(r[1]) for r in db.execute(f"PRAGMA table_info({table})")]


def _tables(db: sqlite3.Connection) -> set[str]:
    return {str(r[0]) for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


@dataclass
class FakeRun:
    """One stored run as the code at some schema level wrote it."""

    id: int
    run_id: str
    label: str | None
    bench: int | None
    status: str
    steps: list[str]
    started_at: str
    run_dir: str | None
    costs: list[float | None]
    corrupt: bool

    def record(self, v2: bool) -> dict[str, Any]:
        """The record JSON of that era (schema 1: "succeeded", criteria with ``detail``)."""
        steps = [{
            "step_id": f"s{i}", "type": "code_generation", "status": status,
            "attempts": [{"attempt": 1, "provider": "openai", "model": "gpt-x",
                          "status": "ok", "started_at_ms": 0.0,
                          "cost": {"total_usd": self.costs[i % len(self.costs)]}}]
            if self.costs else [],
            "validation": [{"criterion": "compiles", "status": "unchecked",
                            **({"reason": "not run"} if v2 else {"detail": "not run"})}],
        } for i, status in enumerate(self.steps)]
        return {
            "schema_version": "2" if v2 else "1", "run_id": self.run_id, "task_id": "calc",
            "plan_path": "plans/calc.json", "status": self.status,
            "started_at": self.started_at, "label": self.label, "steps": steps,
            "config": {"provider": "openai", "concurrency": 1, "max_tokens": 64,
                       "temperature": 0.0, "step_timeout_s": 10.0, "max_attempts": 1},
            "environment": {"hostname": "h", "platform": "linux", "machine": "x86_64",
                            "cpu_count": 2, "python": "3.11", "aetherflow_version": "0.1"},
        }

    def row(self, columns: list[str], v2: bool) -> dict[str, Any]:
        """The ``runs`` row for the given schema's columns."""
        counts = Counter(self.steps)
        record = "{not json" if self.corrupt else json.dumps(self.record(v2))
        values: dict[str, Any] = {
            "id": self.id, "run_id": self.run_id, "source_run_id": self.run_id,
            "task_id": "calc", "plan_path": "plans/calc.json", "plan_name": "calc",
            "label": self.label, "bench_id": self.bench, "provider": "openai",
            "model": "gpt-x", "emulated": 0, "status": self.status,
            "started_at": self.started_at, "started_at_epoch": None, "makespan_ms": 12.5,
            "steps_succeeded": counts["succeeded"], "steps_passed": counts["passed"],
            "steps_failed": counts["failed"], "steps_unvalidated": counts["unvalidated"],
            "steps_skipped": counts["skipped"], "total_cost_usd": None, "cost_note": None,
            "run_dir": self.run_dir, "saved_at": "2025-01-01T00:00:00+00:00",
            "record_json": record,
        }
        return {c: values[c] for c in columns}


@st.composite
def fake_history(draw: st.DrawFn, v2: bool) -> tuple[int, list[FakeRun]]:
    """A few benches and runs whose ids, labels and directories collide in look."""
    benches = draw(st.integers(min_value=0, max_value=3))
    run_ids = draw(st.lists(RUN_IDS, min_size=0, max_size=12, unique=True))
    runs, next_id = [], 1
    for run_id in run_ids:
        next_id += draw(st.integers(min_value=0, max_value=3))  # ids with gaps
        steps = draw(st.lists(st.sampled_from(V2_STEP if v2 else V1_STEP), max_size=4))
        runs.append(FakeRun(
            id=next_id, run_id=run_id, label=draw(st.sampled_from(LABELS)),
            bench=draw(st.none() | st.integers(1, benches)) if benches else None,
            status=draw(st.sampled_from(V2_RUN if v2 else V1_RUN)), steps=steps,
            started_at=draw(st.sampled_from(["2025-01-01T12:00:00+00:00",
                                             "2025-01-01T12:00:00", "not a date"])),
            run_dir=draw(st.sampled_from([None, "runs/1", "/abs/bench/runs/1", "/x/runs/2"])),
            costs=draw(st.lists(st.none() | st.floats(0, 1), max_size=2)),
            corrupt=draw(st.integers(0, 9)) == 0))
        next_id += 1
    return benches, runs


def _fill(db: sqlite3.Connection, benches: int, runs: list[FakeRun], v2: bool) -> None:
    with db:
        db.execute("BEGIN")
        _insert(db, benches, runs, v2)


def _insert(db: sqlite3.Connection, benches: int, runs: list[FakeRun], v2: bool) -> None:
    if "benches" in _tables(db):
        columns = _columns(db, "benches")
        for b in range(1, benches + 1):
            values = {"id": b, "label": LABELS[b % len(LABELS)], "task_id": "calc",
                      "plan_path": "plans/calc.json", "repeats": 3,
                      "created_at": "2025-01-01T00:00:00+00:00", "output_dir": f"/out/{b}"}
            row = {c: values[c] for c in columns}
            db.execute(f"INSERT INTO benches ({', '.join(row)}) VALUES "
                       f"({', '.join('?' for _ in row)})", list(row.values()))
    columns = _columns(db, "runs")
    for run in runs:
        row = run.row(columns, v2)
        db.execute(f"INSERT INTO runs ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                   list(row.values()))


def _dump(db: sqlite3.Connection) -> list[str]:
    return [line for line in db.iterdump() if "_migrations" not in line]


def _schema(db: sqlite3.Connection) -> dict[str, Any]:
    tables = sorted(_tables(db) - {"sqlite_sequence"})
    return {t: ([tuple(r)[1:] for r in db.execute(f"PRAGMA table_info({t})")],
                sorted(str(r[1]) for r in db.execute(f"PRAGMA index_list({t})")))
            for t in tables}


@contextmanager
def _db_at(level: int) -> Iterator[tuple[sqlite3.Connection, Path]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.db"
        with closing(sqlite3.connect(path, isolation_level=None)) as db:
            db.execute("PRAGMA synchronous=OFF")  # test speed: no fsync per migration
            migrate(db, MIGRATIONS[:level])
            yield db, path


def _check_rows(db: sqlite3.Connection, level: int, benches: int,
                runs: list[FakeRun]) -> None:
    db.row_factory = sqlite3.Row
    stored = {r["id"]: r for r in db.execute("SELECT * FROM runs")}
    assert sorted(stored) == sorted(r.id for r in runs)  # every row still there, same id
    for run in runs:
        row = stored[run.id]
        counts = Counter(run.steps)
        old = level < 3  # written before the v2 statuses
        assert (row["run_id"], row["label"], row["run_dir"]) == (run.run_id, run.label,
                                                                  run.run_dir)
        assert row["source_run_id"] == run.run_id
        assert row["bench_id"] == (run.bench if level >= 2 else None)
        assert row["status"] == ("unvalidated" if run.status == "succeeded" else run.status)
        assert (row["steps_passed"], row["steps_failed"], row["steps_unvalidated"],
                row["steps_skipped"]) == (
            0 if old else counts["passed"], counts["failed"],
            counts["succeeded"] if old else counts["unvalidated"], counts["skipped"])
        assert row["record_json"] == run.row(["record_json"], not old)["record_json"]
        if not run.corrupt:
            record = RunRecord.model_validate_json(row["record_json"])
            assert record.status == row["status"]
            steps = Counter(s.status for s in record.steps)
            assert (steps["passed"], steps["failed"], steps["unvalidated"],
                    steps["skipped"]) == (row["steps_passed"], row["steps_failed"],
                                          row["steps_unvalidated"], row["steps_skipped"])
    bench_rows = db.execute("SELECT id, output_dir FROM benches").fetchall()
    assert len(bench_rows) == (benches if level >= 2 else 0)
    assert all(r["output_dir"] is None for r in bench_rows) or level >= 5
    db.row_factory = None


def _check_store(path: Path, runs: list[FakeRun]) -> None:
    """The upgraded history works: lists every run, loads every record, never overwrites."""
    with HistoryStore(path) as store:
        assert store.count_runs() == len(runs) == len(store.list_runs(limit=None))
        for run in runs:
            if run.corrupt:
                with pytest.raises(CorruptRecordError, match="corrupt"):
                    store.load_record(run.id)
            else:
                assert store.load_record(run.id).run_id == run.run_id
        if runs and not runs[0].corrupt:
            clash = store.load_record(runs[0].id).model_copy(
                update={"started_at": "2030-01-01T00:00:00+00:00"})
            saved = store.save(clash, Path("/elsewhere/runs/1"))
            assert saved.created and saved.renamed and saved.id not in {r.id for r in runs}
            assert store.count_runs() == len(runs) + 1


@pytest.mark.parametrize("level", range(len(MIGRATIONS)))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_upgrade_from_every_schema_level(level: int, data: st.DataObject) -> None:
    v2 = level >= 3  # from m003 on, the code wrote v2 statuses
    benches, runs = data.draw(fake_history(v2))
    with _db_at(level) as (db, path):
        if level == 0:
            runs, benches = [], 0  # an empty file: nothing to fill
        else:
            _fill(db, benches, runs, v2)
        assert migrate(db) == NAMES[level:]
        assert applied_migrations(db) == NAMES
        _check_rows(db, level, benches, runs)
        before = _dump(db)
        assert migrate(db) == []  # idempotent: nothing left to do, nothing changed
        assert _dump(db) == before
        with _db_at(len(MIGRATIONS)) as (fresh, _):
            assert _schema(db) == _schema(fresh)  # upgraded = created at the latest level
        _check_store(path, runs)


def test_every_historical_level_is_covered() -> None:
    """The levels above are the released ones plus every migration added since; a new
    migration is fuzzed from every level below it automatically."""
    assert NAMES[:2] == ["m001_create_runs", "m002_create_benches"]
    assert len(NAMES) == len(set(NAMES))
