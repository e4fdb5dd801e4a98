"""Run history in SQLite: data dir, save (never overwrite), list/filter, references, corrupt
records, cost honesty; ``resolve_bench`` over the history (same rules, no self-comparison)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from aetherflow.bench.sources import ensure_different_benches, resolve_bench, resolve_benches
from aetherflow.errors import ConfigError
from aetherflow.results.run import (
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
    AmbiguousReferenceError,
    BusyPolicy,
    CorruptRecordError,
    HistoryError,
    HistoryStore,
    RunNotFoundError,
    default_db_path,
    migrate,
    short_run_id,
)
from aetherflow.store.migrations import applied_migrations
from aetherflow.store.retry import is_busy

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
    status: str = "failed",
    first_step: str = "succeeded",
) -> RunRecord:
    steps = [
        StepRecord(
            step_id="s1",
            type="code_generation",
            status=first_step,  # type: ignore[arg-type]  # "succeeded": a v1 record
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
        status=status,  # type: ignore[arg-type]
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
    with pytest.raises(AmbiguousReferenceError, match="ambiguous"):
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
    # the v1 record's "succeeded" step reads as unvalidated: no check was executed
    assert (s.steps_passed, s.steps_failed, s.steps_unvalidated, s.steps_skipped) == (0, 1, 1, 1)
    assert (s.run_id, s.source_run_id, s.short_id) == ("r1", "r1", "r1")
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


def test_saving_the_same_run_again_updates_it(store: HistoryStore) -> None:
    """The executor saves a run when it starts (``running``) and when it ends: same run_id,
    run dir and start time, so the row is updated and keeps its id."""
    start = _record("20261204-201500-calc-3f9a1c2e", status="running", costs=())
    start = start.model_copy(update={"steps": []})
    first = store.save(start, Path("/tmp/r1"), label="x", bench_id=None)
    assert first.created and not first.renamed and first.note is None
    # no process holds /tmp/r1's run.lock: a "running" run nobody runs is listed as crashed
    assert store.list_runs()[0].status == "crashed"
    end = _record("20261204-201500-calc-3f9a1c2e", status="passed", first_step="passed")
    second = store.save(end, None)  # run_dir, label, bench kept when not given again
    assert (second.id, second.created, second.renamed) == (first.id, False, False)
    (s,) = store.list_runs()
    assert (s.status, s.steps_passed, s.label, s.run_dir) == ("passed", 1, "x", "/tmp/r1")
    assert store.get_run(first.id).status == "passed"
    assert store.save_run(end, Path("/tmp/r1")) == first.id


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


def test_find_by_label_run_id_and_row_id(store: HistoryStore) -> None:
    _three_runs(store)
    with pytest.raises(AmbiguousReferenceError, match="'fast' is ambiguous: it names 2 runs"):
        store.find("fast")  # two runs carry the label and no bench groups them
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
    assert [s.run_id for s in store.find("nightly")] == ["n0", "n1"]  # the bench, oldest first
    (b,) = store.list_benches(label="nightly")
    assert (b.id, b.task_id, b.repeats, b.run_count, b.output_dir) == (bench, "calc", 2, 2, None)


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
    with pytest.raises(HistoryError, match="no such table: runs"):
        store.get_run("r1")


# --- nothing is ever overwritten ----------------------------------------------------------------


def _legacy_benches(store: HistoryStore, root: Path) -> list[int]:
    """What the issue saw: four benches whose runs are all named "1", "2", "3" (10 runs)."""
    benches = []
    for b, (label, repeats) in enumerate([("short", 3), ("long", 3), ("short", 2),
                                          ("nightly", 2)]):
        out = root / f"bench{b}"
        bench = store.create_bench("calc", label, "plans/calc.json", repeats, output_dir=out)
        benches.append(bench)
        for i in range(1, repeats + 1):
            record = _record(str(i), started_at=f"2025-01-01T12:{b:02d}:{i:02d}+00:00")
            store.save_run(record, out / "runs" / str(i), label=label, bench_id=bench)
    return benches


def test_legacy_benches_with_colliding_run_ids_keep_all_ten_runs(
        store: HistoryStore, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="aetherflow.store.history"):
        benches = _legacy_benches(store, tmp_path)
    runs = store.list_runs(limit=None)
    assert len(runs) == 10 == store.count_runs()
    assert len({r.id for r in runs}) == len({r.run_id for r in runs}) == 10
    assert sorted(r.run_id for r in runs) == sorted(
        ["1", "2", "3", "1~2", "2~2", "3~2", "1~3", "2~3", "1~4", "2~4"])
    assert {r.source_run_id for r in runs} == {"1", "2", "3"}
    assert [len(store.list_runs(bench_id=b)) for b in benches] == [3, 3, 2, 2]
    for bench in benches:  # each bench still holds its own runs, from its own directory
        (b,) = [x for x in store.list_benches() if x.id == bench]
        assert all(r.run_dir and r.run_dir.startswith(str(b.output_dir))
                   for r in store.list_runs(bench_id=bench))
    assert len([r for r in caplog.records if "nothing was overwritten" in r.message]) == 7


def test_a_colliding_run_id_is_stored_under_a_new_id_and_said_so(store: HistoryStore) -> None:
    first = store.save(_record("3"), Path("/b1/runs/3"))
    other_dir = store.save(_record("3"), Path("/b2/runs/3"))
    other_start = store.save(_record("3", started_at="2025-02-01T00:00:00+00:00"),
                             Path("/b1/runs/3"))
    assert (first.run_id, other_dir.run_id, other_start.run_id) == ("3", "3~2", "3~3")
    assert other_dir.renamed and other_dir.created and other_dir.source_run_id == "3"
    assert other_dir.note is not None and "'3~2'" in other_dir.note
    assert "/b1/runs/3" in other_dir.note and "/b2/runs/3" in other_dir.note
    again = store.save(_record("3").model_copy(update={"status": "passed"}), Path("/b2/runs/3"))
    assert (again.id, again.run_id, again.created) == (other_dir.id, "3~2", False)
    assert store.get_run("3~2").status == "passed" and store.get_run("3").status == "failed"
    assert store.get_run("3~2").run_id == "3"  # the stored record is the run's own


def test_run_dirs_are_stored_absolute(store: HistoryStore, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store.save_run(_record("r1"), Path("runs/r1"))
    bench = store.create_bench("calc", output_dir=Path("bench_results/x"))
    assert store.list_runs()[0].run_dir == str(tmp_path / "runs" / "r1")
    assert store.list_benches()[0].output_dir == str(tmp_path / "bench_results" / "x")
    assert store.list_benches()[0].id == bench


@pytest.mark.parametrize("status", ["running", "passed", "unvalidated", "failed",
                                    "interrupted", "crashed"])
def test_every_run_status_is_stored_and_filterable(store: HistoryStore, status: str) -> None:
    store.save_run(_record("other", status="passed", first_step="passed"), None)
    store.save_run(_record("r1", status=status), None)
    assert [r.run_id for r in store.list_runs(status=status) if r.run_id == "r1"] == ["r1"]
    both = store.list_runs(status=[status, "passed"])
    assert {r.run_id for r in both} == {"r1", "other"}
    assert store.count_runs(status="crashed") == (1 if status == "crashed" else 0)


def test_v1_succeeded_run_reads_as_unvalidated(store: HistoryStore) -> None:
    store.save_run(_record("r1", status="succeeded"), None)
    (s,) = store.list_runs()
    assert s.status == "unvalidated"
    assert store.list_runs(status="unvalidated") == [s]


# --- references -------------------------------------------------------------------------------


def test_references_resolve_by_every_documented_form(store: HistoryStore, tmp_path: Path) -> None:
    bench = store.create_bench("calc", "nightly", repeats=2, output_dir=tmp_path / "bench")
    store.save_run(_record("20261204-201500-calc-3f9a1c2e",
                           started_at="2026-12-04T20:15:00+00:00"),
                   tmp_path / "bench" / "runs" / "1", label="nightly", bench_id=bench)
    store.save_run(_record("20261204-201600-calc-77aa0b1c",
                           started_at="2026-12-04T20:16:00+00:00"),
                   tmp_path / "bench" / "runs" / "2", label="nightly", bench_id=bench)
    solo = store.save_run(_record("solo-run"), tmp_path / "solo", label="once")
    assert store.resolve(str(bench)).kind == "bench"  # a number: a bench id first
    assert store.resolve(f"bench:{bench}").bench is not None
    assert store.resolve(f"run:{solo}").runs[0].run_id == "solo-run"
    assert store.resolve(str(solo), want="run").runs[0].run_id == "solo-run"
    resolved = store.resolve("nightly")
    assert resolved.kind == "bench" and [r.short_id for r in resolved.runs] == [
        "3f9a1c2e", "77aa0b1c"]
    assert store.resolve(str(tmp_path / "bench")).kind == "bench"
    assert store.resolve(str(tmp_path / "bench" / "runs" / "2") + "/").runs[0].short_id == \
        "77aa0b1c"
    assert store.resolve("once").runs[0].id == solo
    assert store.resolve("solo-run").runs[0].id == solo
    assert store.resolve("solo").runs[0].id == solo  # a unique prefix
    assert store.resolve("3f9a").runs[0].run_id == "20261204-201500-calc-3f9a1c2e"  # short id
    assert store.get_run("77aa0b1c").started_at == "2026-12-04T20:16:00+00:00"
    with pytest.raises(AmbiguousReferenceError, match="names 2 runs"):
        store.resolve("20261204-")
    with pytest.raises(RunNotFoundError, match="names a bench, but a run is expected"):
        store.get_run(f"bench:{bench}")
    with pytest.raises(RunNotFoundError, match="no stored bench has id 99"):
        store.resolve("bench:99")
    with pytest.raises(RunNotFoundError, match="aetherflow history"):
        store.resolve("nothing-like-this")


def test_an_ambiguous_label_lists_every_candidate_one_per_line(store: HistoryStore,
                                                               tmp_path: Path) -> None:
    _legacy_benches(store, tmp_path)
    with pytest.raises(AmbiguousReferenceError) as info:
        store.resolve("short")
    lines = str(info.value).splitlines()
    assert lines[0].startswith("'short' is ambiguous: it names 2 benches")
    assert "bench:N or run:N" in lines[0]
    assert len(lines) == 3 == len(info.value.candidates) + 1
    for line, (bench_no, runs) in zip(lines[1:], [(0, 3), (2, 2)], strict=True):
        assert "label 'short'" in line and "plan calc" in line and f"{runs} runs" in line
        assert "started 20" in line and f"dir {tmp_path / f'bench{bench_no}'}" in line
    with pytest.raises(AmbiguousReferenceError) as runs_info:
        store.get_run("short")  # as a run reference: the five runs labelled short
    run_lines = str(runs_info.value).splitlines()[1:]
    assert len(run_lines) == 5
    assert all(line.strip().startswith("run:") and "plan calc" in line and "dir /" in line
               for line in run_lines)
    assert store.resolve("long").bench is not None  # one bench with that label: fine


def test_many_candidates_are_capped(store: HistoryStore) -> None:
    for i in range(25):
        store.save_run(_record(f"r{i}", started_at=f"2025-01-01T12:00:{i:02d}+00:00"), None,
                       label="same")
    with pytest.raises(AmbiguousReferenceError) as info:
        store.resolve("same")
    assert len(info.value.candidates) == 25
    assert str(info.value).splitlines()[-1] == "  ... and 5 more"


def test_short_run_id() -> None:
    assert short_run_id("20261204-201500-calculator-3f9a1c2e") == "3f9a1c2e"
    assert short_run_id("20261204-201500-calculator-3f9a1c2e~2") == "3f9a1c2e~2"
    assert short_run_id("3~2") == "3~2"
    assert short_run_id("20250101-120000-calculator") == "20250101-120000-calculator"


# --- corrupt records ----------------------------------------------------------------------------


@pytest.mark.parametrize("garbage", ['{"run_id": "r1"', '{"run_id": "r1", "steps": 3}', "[]"])
def test_a_corrupt_record_is_reported_as_corrupt_not_missing(store: HistoryStore,
                                                             garbage: str) -> None:
    row_id = store.save_run(_record("r1"), Path("/runs/r1"))
    with closing(sqlite3.connect(store.path)) as raw, raw:
        raw.execute("UPDATE runs SET record_json = ? WHERE id = ?", (garbage, row_id))
    assert [r.run_id for r in store.list_runs()] == ["r1"]  # the listing still works
    with pytest.raises(CorruptRecordError) as info:
        store.get_run("r1")
    message = str(info.value)
    assert "corrupt" in message and "not found" not in message
    assert f"stored run {row_id} (run_id 'r1')" in message and str(store.path) in message
    assert "/runs/r1" in message and "\n" not in message
    assert info.value.exit_code == 2 and isinstance(info.value, HistoryError)


# --- benches from the history (compare / report) -------------------------------------------------


def test_resolve_bench_takes_every_run_of_the_named_bench(store: HistoryStore,
                                                          tmp_path: Path) -> None:
    benches = _legacy_benches(store, tmp_path)
    first = resolve_bench(str(benches[0]), store)
    assert len(first.runs) == 3 and first.meta.bench_id == benches[0]
    assert [r.run_dir for r in first.runs] == [str(tmp_path / "bench0" / "runs" / str(i))
                                               for i in (1, 2, 3)]
    assert len(resolve_bench("long", store).runs) == 3
    assert len(resolve_bench(str(tmp_path / "bench3"), store).runs) == 2  # by directory
    with pytest.raises(AmbiguousReferenceError, match="'short' is ambiguous"):
        resolve_bench("short", store)
    third = resolve_bench(f"bench:{benches[2]}", store)
    assert [r.history_id for r in third.runs] == [
        r.id for r in reversed(store.list_runs(bench_id=benches[2]))]


def test_comparing_a_bench_with_itself_is_an_error(store: HistoryStore, tmp_path: Path) -> None:
    benches = _legacy_benches(store, tmp_path)
    with pytest.raises(ConfigError, match="both name the same 3 runs") as info:
        resolve_benches(str(benches[0]), f"bench:{benches[0]}", store)
    assert info.value.exit_code == 2 and "aetherflow compare bench:" in str(info.value)
    a, b = resolve_benches(str(benches[0]), str(benches[2]), store)  # same labels, other runs
    assert (len(a.runs), len(b.runs)) == (3, 2)
    one_run = resolve_bench("run:1", store)
    with pytest.raises(ConfigError, match="share 1 of their runs"):
        ensure_different_benches("1", a, "run:1", one_run)


def test_empty_bench_is_a_clear_error(store: HistoryStore, tmp_path: Path) -> None:
    store.create_bench("calc", "fresh", output_dir=tmp_path / "b")
    with pytest.raises(ConfigError, match="has no stored runs yet"):
        resolve_bench("fresh", store)


# --- concurrency: locks are waited for and retried ----------------------------------------------


def _hold_write_lock(path: Path) -> sqlite3.Connection:
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_a_locked_database_is_retried_with_jittered_backoff(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    HistoryStore(path).close()
    holder = _hold_write_lock(path)
    release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    release.start()
    try:  # SQLite gives up at once (timeout 0): only the retries can get the save through
        with HistoryStore(path, busy=BusyPolicy(timeout_ms=0, deadline_s=20)) as store:
            store.save_run(_record("r1"), None)
            assert store.busy.retries > 0
            assert [r.run_id for r in store.list_runs()] == ["r1"]
    finally:
        release.join()
        holder.close()


def test_a_lock_held_past_the_deadline_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    HistoryStore(path).close()
    holder = _hold_write_lock(path)
    try:
        with HistoryStore(path, busy=BusyPolicy(timeout_ms=10, deadline_s=0.2)) as store, \
                pytest.raises(HistoryError, match=r"database is locked \(another process held"):
            store.create_bench("calc")
    finally:
        holder.close()


def test_busy_detection_and_backoff_shape() -> None:
    assert is_busy(sqlite3.OperationalError("database is locked"))
    assert not is_busy(sqlite3.OperationalError("no such table: runs"))
    assert not is_busy(ValueError("database is locked"))
    policy = BusyPolicy(first_delay_s=0.01, max_delay_s=0.05)
    assert all(0 <= policy.delay(n) <= min(0.05, 0.01 * 2**n) for n in range(12) for _ in range(20))


# --- importing bench directories: what an older version lost comes back --------------------------


def test_import_restores_the_runs_an_older_version_overwrote(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's history: four benches (10 runs named 1, 2, 3) saved by the old upsert
    left 3 rows. Importing the four bench directories brings back all 10, each in its own
    bench, without duplicating the 3 that survived (stored with relative directories)."""
    from aetherflow.bench.runner import write_benchmark_data
    from aetherflow.bench.sources import bench_from_runs, import_into_history

    monkeypatch.chdir(tmp_path)
    path = tmp_path / "history.db"
    db = sqlite3.connect(path, isolation_level=None)
    migrate(db, MIGRATIONS[:2])  # the released schema
    plan = [("short", 3), ("long", 3), ("short", 2), ("nightly", 2)]
    survivors: dict[str, tuple[int, str]] = {}
    for b, (label, repeats) in enumerate(plan, start=1):
        db.execute("INSERT INTO benches (id, label, task_id, plan_path, repeats, created_at) "
                   "VALUES (?, ?, 'calc', 'plans/calc.json', ?, '2025-01-01')", (b, label, repeats))
        records = [_record(str(i), started_at=f"2025-01-0{b}T12:00:0{i}+00:00", label=label)
                   for i in range(1, repeats + 1)]
        data = bench_from_runs(records, label=label, bench_id=b,
                               run_dirs=[f"runs/{i}" for i in range(1, repeats + 1)])
        write_benchmark_data(data, Path(f"bench{b}"))
        for i, r in enumerate(records, start=1):
            survivors[str(i)] = (b, r.started_at)  # the old upsert: the last save won
    for run_id, (b, started) in survivors.items():
        record = _record(run_id, started_at=started, label=plan[b - 1][0])
        db.execute(
            "INSERT INTO runs (run_id, task_id, plan_path, plan_name, label, provider, model, "
            "emulated, status, started_at, started_at_epoch, makespan_ms, steps_succeeded, "
            "steps_failed, steps_skipped, total_cost_usd, cost_note, run_dir, saved_at, "
            "record_json, bench_id) VALUES (?, 'calc', 'plans/calc.json', 'calc', ?, 'openai',"
            " NULL, 1, 'failed', ?, NULL, 250.5, 1, 1, 1, 0.003, NULL, ?, '2025-01-01', ?, ?)",
            (run_id, plan[b - 1][0], started, f"bench{b}/runs/{run_id}",
             record.model_dump_json(), b))
    db.close()
    with HistoryStore(path) as store:
        assert store.count_runs() == 3
        results = [import_into_history(Path(f"bench{b}"), store) for b in range(1, 5)]
        assert [r.bench_id for r in results] == [1, 2, 3, 4]  # the old benches, adopted
        assert [(r.added, len(r.saved)) for r in results] == [(3, 3), (2, 3), (2, 2), (0, 2)]
        assert store.count_runs() == 10
        assert [len(store.list_runs(bench_id=b)) for b in range(1, 5)] == [3, 3, 2, 2]
        assert len(store.list_benches()) == 4
        again = [import_into_history(Path(f"bench{b}"), store) for b in range(1, 5)]
        assert sum(r.added for r in again) == 0 and store.count_runs() == 10  # idempotent
        assert all(str(r.run_dir).startswith(str(tmp_path)) for r in store.list_runs())
        with pytest.raises(ConfigError, match="not a bench directory"):
            import_into_history(tmp_path, store)
