"""Run history in SQLite: migrations, data dir, save/list/filter/get, cost honesty."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from aetherflow.metrics.records import (
    AttemptRecord,
    CostBreakdown,
    Environment,
    RunConfig,
    RunRecord,
    StepRecord,
    TimingMetrics,
    TokenCount,
    Usage,
)
from aetherflow.store import (
    MIGRATIONS,
    HistoryError,
    HistoryStore,
    RunNotFoundError,
    default_db_path,
    migrate,
)
from aetherflow.store.migrations import applied_migrations

# --- fixtures ---------------------------------------------------------------------------------


def _attempt(cost: float | None, *, attempt: int = 1, status: str = "ok") -> AttemptRecord:
    return AttemptRecord(
        attempt=attempt,
        provider="emulator-openai",
        model="gpt-emu",
        emulated=True,
        status=status,  # type: ignore[arg-type]
        started_at_ms=1.5,
        timeline_ms={"dispatched": 1.5, "first_token": 40.25, "closed": None},
        timing=TimingMetrics(ttft_ms=38.75, ttr_ms=120.0, itl_ms=[3.0, 4.5], content_chunks=3),
        usage=Usage(
            input=TokenCount(value=120, provenance="server"),
            output=TokenCount(value=30, provenance="server"),
        ),
        cost=CostBreakdown(total_usd=cost, price_source="test", note=None if cost else "no price"),
        output_chars=99,
    )


def _record(
    run_id: str,
    *,
    task_id: str = "calc",
    started_at: str = "2025-01-01T12:00:00+00:00",
    costs: tuple[float | None, ...] = (0.001, 0.002),
    label: str | None = None,
) -> RunRecord:
    steps = [
        StepRecord(
            step_id="s1",
            type="code_generation",
            status="succeeded",
            attempts=[_attempt(c, attempt=i + 1) for i, c in enumerate(costs)],
            step_time_ms=130.0,
        ),
        StepRecord(step_id="s2", type="analysis", status="failed", dependencies=["s1"]),
        StepRecord(step_id="s3", type="patch", status="skipped", reason="dependency failed"),
    ]
    return RunRecord(
        run_id=run_id,
        task_id=task_id,
        plan_path=f"examples/plans/{task_id}.json",
        status="failed",
        started_at=started_at,
        finished_at=started_at,
        config=RunConfig(
            provider="emulator-openai",
            concurrency=2,
            max_tokens=256,
            temperature=0.0,
            step_timeout_s=30.0,
            max_attempts=2,
            emulated=True,
        ),
        environment=Environment(
            hostname="h",
            platform="linux",
            machine="x86_64",
            cpu_count=2,
            python="3.11.7",
            aetherflow_version="0.1.0",
        ),
        steps=steps,
        makespan_ms=250.5,
        critical_path_ms=200.0,
        critical_path=["s1", "s2"],
        parallel_efficiency=0.8,
        label=label,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HistoryStore]:
    with HistoryStore(tmp_path / "history.db") as s:
        yield s


# --- data directory and opening ---------------------------------------------------------------


def test_aetherflow_home_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AETHERFLOW_HOME", str(tmp_path / "home"))
    assert default_db_path() == tmp_path / "home" / "history.db"
    with HistoryStore() as s:
        assert s.path == tmp_path / "home" / "history.db"
        s.save_run(_record("r1"), None)
    assert (tmp_path / "home" / "history.db").exists()


def test_default_home_is_dot_aetherflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AETHERFLOW_HOME", raising=False)
    assert default_db_path() == Path.home() / ".aetherflow" / "history.db"


def test_wal_mode_is_on(store: HistoryStore) -> None:
    assert store.journal_mode == "wal"
    with closing(sqlite3.connect(store.path)) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# --- migrations -------------------------------------------------------------------------------


def test_migrations_apply_once_and_are_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    HistoryStore(path).close()
    HistoryStore(path).close()
    db = sqlite3.connect(path, isolation_level=None)
    names = [fn.__name__ for fn in MIGRATIONS]
    assert applied_migrations(db) == names
    assert db.execute("SELECT count(*) FROM _migrations").fetchone()[0] == len(names)
    assert migrate(db) == []
    db.close()


def test_database_at_migration_1_upgrades_to_latest(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    assert migrate(db, MIGRATIONS[:1]) == [MIGRATIONS[0].__name__]
    old_columns = {r[1] for r in db.execute("PRAGMA table_info(runs)")}
    assert "bench_id" not in old_columns
    db.close()
    with HistoryStore(path) as s:
        row_id = s.save_run(_record("r1"), None, bench_id=s.create_bench("calc", label="b"))
        assert s.get_run(row_id).run_id == "r1"
    db = sqlite3.connect(path)
    assert applied_migrations(db) == [fn.__name__ for fn in MIGRATIONS]
    assert "bench_id" in {r[1] for r in db.execute("PRAGMA table_info(runs)")}
    db.close()


def test_failed_migration_leaves_no_trace(tmp_path: Path) -> None:
    def m_broken(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE half (x INTEGER)")
        raise RuntimeError("boom")

    db = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    with pytest.raises(RuntimeError):
        migrate(db, [m_broken])
    assert applied_migrations(db) == []
    assert db.execute("SELECT name FROM sqlite_master WHERE name = 'half'").fetchone() is None
    db.close()


# --- save / get -------------------------------------------------------------------------------


def test_round_trip_equality(store: HistoryStore) -> None:
    record = _record("run-abc")
    row_id = store.save_run(record, Path("/tmp/runs/run-abc"))
    assert store.get_run(row_id) == record
    assert store.get_run("run-abc") == record
    assert store.get_run(str(row_id)) == record


def test_get_by_run_id_prefix_and_missing(store: HistoryStore) -> None:
    store.save_run(_record("20250101-aaaa"), None)
    store.save_run(_record("20250101-bbbb"), None)
    assert store.get_run("20250101-b").run_id == "20250101-bbbb"
    with pytest.raises(RunNotFoundError, match="ambiguous"):
        store.get_run("20250101-")
    with pytest.raises(RunNotFoundError):
        store.get_run("nope")
    with pytest.raises(RunNotFoundError):
        store.get_run(999)


def test_indexed_columns(store: HistoryStore) -> None:
    store.save_run(_record("r1"), Path("/tmp/r1"), label="baseline")
    (s,) = store.list_runs()
    assert (s.run_id, s.task_id, s.label, s.provider, s.status) == (
        "r1",
        "calc",
        "baseline",
        "emulator-openai",
        "failed",
    )
    assert s.model == "gpt-emu"  # config.model is None; every attempt used gpt-emu
    assert s.emulated is True
    assert (s.steps_succeeded, s.steps_failed, s.steps_skipped) == (1, 1, 1)
    assert s.makespan_ms == 250.5
    assert s.total_cost_usd == pytest.approx(0.003)
    assert s.cost_note is None
    assert s.run_dir == "/tmp/r1"
    assert store.get_run("r1").label == "baseline"


def test_total_cost_is_none_when_any_attempt_unpriced(store: HistoryStore) -> None:
    store.save_run(_record("r1", costs=(0.5, None)), None)
    (s,) = store.list_runs()
    assert s.total_cost_usd is None
    assert s.cost_note == "1 of 2 attempts unpriced"


def test_total_cost_of_a_run_without_requests_is_zero(store: HistoryStore) -> None:
    store.save_run(_record("r1", costs=()), None)
    assert store.list_runs()[0].total_cost_usd == 0.0


def test_saving_twice_upserts(store: HistoryStore) -> None:
    first = store.save_run(_record("r1"), Path("/tmp/r1"), label="x")
    updated = _record("r1").model_copy(update={"status": "succeeded"})
    second = store.save_run(updated, None)
    assert first == second
    (s,) = store.list_runs()
    assert s.status == "succeeded"
    assert s.label == "x" and s.run_dir == "/tmp/r1"  # kept when not given again
    assert store.get_run("r1").status == "succeeded"


# --- list / filter / find ---------------------------------------------------------------------


def _three_runs(store: HistoryStore) -> None:
    store.save_run(_record("a", task_id="calc", started_at="2025-01-01T10:00:00+00:00"), None)
    store.save_run(
        _record("b", task_id="calc", started_at="2025-01-02T10:00:00+00:00"), None, label="fast"
    )
    store.save_run(
        _record("c", task_id="web", started_at="2025-01-03T10:00:00+00:00"), None, label="fast"
    )


def test_list_newest_first_and_limit(store: HistoryStore) -> None:
    _three_runs(store)
    assert [s.run_id for s in store.list_runs()] == ["c", "b", "a"]
    assert [s.run_id for s in store.list_runs(limit=2)] == ["c", "b"]
    assert len(store.list_runs(limit=None)) == 3


def test_filter_by_plan_label_since(store: HistoryStore) -> None:
    _three_runs(store)
    assert [s.run_id for s in store.list_runs(plan="calc")] == ["b", "a"]
    assert [s.run_id for s in store.list_runs(plan="examples/plans/web.json")] == ["c"]
    assert [s.run_id for s in store.list_runs(label="fast")] == ["c", "b"]
    since = datetime(2025, 1, 2, 10, 0, tzinfo=UTC)
    assert [s.run_id for s in store.list_runs(since=since)] == ["c", "b"]
    assert [s.run_id for s in store.list_runs(since=since, plan="calc", label="fast")] == ["b"]


def test_since_compares_instants_across_offsets(store: HistoryStore) -> None:
    # 12:00+02:00 is 10:00 UTC.
    store.save_run(_record("tz", started_at="2025-01-01T12:00:00+02:00"), None)
    assert store.list_runs(since=datetime(2025, 1, 1, 10, 0)) != []  # naive = UTC
    later = datetime(2025, 1, 1, 10, 30, tzinfo=timezone(timedelta(hours=0)))
    assert store.list_runs(since=later) == []


def test_find_by_label_run_id_prefix_and_row_id(store: HistoryStore) -> None:
    _three_runs(store)
    assert [s.run_id for s in store.find("fast")] == ["c", "b"]
    assert [s.run_id for s in store.find("a")] == ["a"]
    row_id = store.list_runs(plan="web")[0].id
    assert [s.run_id for s in store.find(str(row_id))] == ["c"]
    assert store.find("") == []
    assert store.find("zzz") == []


def test_bench_groups(store: HistoryStore) -> None:
    bench = store.create_bench("calc", label="nightly", plan_path="plans/calc.json", repeats=2)
    for i in range(2):
        store.save_run(_record(f"n{i}"), None, label="nightly", bench_id=bench)
    store.save_run(_record("other"), None)
    assert {s.run_id for s in store.list_runs(bench_id=bench)} == {"n0", "n1"}
    assert {s.run_id for s in store.find("nightly")} == {"n0", "n1"}
    (b,) = store.list_benches(label="nightly")
    assert (b.id, b.task_id, b.repeats) == (bench, "calc", 2)


def test_stored_json_has_no_extra_keys(store: HistoryStore) -> None:
    record = _record("r1")
    store.save_run(record, None)
    with closing(sqlite3.connect(store.path)) as raw:
        (stored,) = raw.execute("SELECT record_json FROM runs").fetchone()
    assert stored == record.model_dump_json()


def test_unusable_history_is_one_clear_error(tmp_path: Path) -> None:
    """A data dir that is a file, or a history.db that is not a database: HistoryError
    (exit 2) naming the file and what to do, never a raw OSError/sqlite3 traceback."""
    blocker = tmp_path / "home"
    blocker.write_text("not a directory")
    with pytest.raises(HistoryError, match=r"run history .*home/history\.db: .*AETHERFLOW_HOME"):
        HistoryStore(blocker / "history.db")
    garbage = tmp_path / "history.db"
    garbage.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(HistoryError, match="file is not a database") as info:
        HistoryStore(garbage)
    assert info.value.exit_code == 2


def test_sqlite_errors_during_use_become_history_errors(store: HistoryStore) -> None:
    store.save_run(_record("r1"), None)
    store._db.execute("DROP TABLE runs")  # what a damaged database looks like to a query
    with pytest.raises(HistoryError, match="no such table: runs"):
        store.list_runs()
    with pytest.raises(HistoryError, match="no such table: runs"):
        store.save_run(_record("r1"), None)
