"""Ordered, idempotent schema migrations for the run-history database.

Each migration is a function taking the connection, registered in order with
:func:`migration`. :func:`migrate` applies the ones not yet recorded in the
``_migrations`` table, each in its own transaction together with its record, so a
migration runs exactly once and a failed one leaves no trace. Never edit or reorder a
released migration: add a new one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

__all__ = ["MIGRATIONS", "Migration", "applied_migrations", "migrate", "migration"]

Migration = Callable[[sqlite3.Connection], None]

#: Every migration, in the order it must be applied.
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    """Register ``fn`` as the next migration (its ``__name__`` is its identity)."""
    MIGRATIONS.append(fn)
    return fn


def applied_migrations(db: sqlite3.Connection) -> list[str]:
    """Names of the migrations already applied to ``db``, in application order."""
    _ensure_migrations_table(db)
    rows = db.execute("SELECT name FROM _migrations ORDER BY rowid").fetchall()
    return [str(r[0]) for r in rows]


def migrate(db: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
    """Apply the pending ``migrations`` in order; return the names applied now.

    ``db`` must be in autocommit mode (``isolation_level=None``) so that each migration
    and its ``_migrations`` row commit together.
    """
    done = set(applied_migrations(db))
    applied: list[str] = []
    for fn in migrations:
        if fn.__name__ in done:
            continue
        db.execute("BEGIN IMMEDIATE")
        try:
            if _is_applied(db, fn.__name__):  # another process got there first
                db.execute("ROLLBACK")
                continue
            fn(db)
            db.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                (fn.__name__, datetime.now(UTC).isoformat()),
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        applied.append(fn.__name__)
    return applied


def _is_applied(db: sqlite3.Connection, name: str) -> bool:
    row = db.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone()
    return row is not None


def _ensure_migrations_table(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )


# --- the migrations, oldest first ------------------------------------------------------------


@migration
def m001_create_runs(db: sqlite3.Connection) -> None:
    """One row per run: the whole run.json plus indexed columns for listing and filtering."""
    db.execute(
        """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            run_id TEXT NOT NULL UNIQUE,
            task_id TEXT NOT NULL,
            plan_path TEXT,
            plan_name TEXT,
            label TEXT,
            provider TEXT NOT NULL,
            model TEXT,
            emulated INTEGER NOT NULL,
            status TEXT NOT NULL,
            started_at TEXT NOT NULL,
            started_at_epoch REAL,
            makespan_ms REAL,
            steps_succeeded INTEGER NOT NULL,
            steps_failed INTEGER NOT NULL,
            steps_skipped INTEGER NOT NULL,
            total_cost_usd REAL,
            cost_note TEXT,
            run_dir TEXT,
            saved_at TEXT NOT NULL,
            record_json TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX runs_task_id ON runs (task_id)")
    db.execute("CREATE INDEX runs_label ON runs (label)")
    db.execute("CREATE INDEX runs_started ON runs (started_at_epoch)")


@migration
def m002_create_benches(db: sqlite3.Connection) -> None:
    """Bench groups: one bench repeats a plan N times; its runs point to it."""
    db.execute(
        """
        CREATE TABLE benches (
            id INTEGER PRIMARY KEY,
            label TEXT,
            task_id TEXT NOT NULL,
            plan_path TEXT,
            repeats INTEGER,
            created_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX benches_label ON benches (label)")
    db.execute("ALTER TABLE runs ADD COLUMN bench_id INTEGER REFERENCES benches (id)")
    db.execute("CREATE INDEX runs_bench_id ON runs (bench_id)")


@migration
def m003_step_statuses_v2(db: sqlite3.Connection) -> None:
    """Records v2: steps are passed/failed/unvalidated/skipped; ids are never reused.

    Rows written before had no check executed: their ``steps_succeeded`` count becomes
    ``steps_unvalidated`` (``steps_passed`` 0) and a run status ``succeeded`` becomes
    ``unvalidated``. The table is rebuilt (SQLite cannot drop a NOT NULL column in place)
    with ``AUTOINCREMENT`` ids; ``record_json`` is kept byte for byte (v1 records read as
    v2 through the record model). A bench reference that points to no bench (impossible
    with foreign keys on, which AetherFlow always sets) is cleared rather than failing.
    """
    db.execute(
        """
        CREATE TABLE runs_v3 (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL UNIQUE,
            task_id TEXT NOT NULL,
            plan_path TEXT,
            plan_name TEXT,
            label TEXT,
            bench_id INTEGER REFERENCES benches (id),
            provider TEXT NOT NULL,
            model TEXT,
            emulated INTEGER NOT NULL,
            status TEXT NOT NULL,
            started_at TEXT NOT NULL,
            started_at_epoch REAL,
            makespan_ms REAL,
            steps_passed INTEGER NOT NULL,
            steps_failed INTEGER NOT NULL,
            steps_unvalidated INTEGER NOT NULL,
            steps_skipped INTEGER NOT NULL,
            total_cost_usd REAL,
            cost_note TEXT,
            run_dir TEXT,
            saved_at TEXT NOT NULL,
            record_json TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        INSERT INTO runs_v3 (
            id, run_id, task_id, plan_path, plan_name, label, bench_id, provider, model,
            emulated, status, started_at, started_at_epoch, makespan_ms, steps_passed,
            steps_failed, steps_unvalidated, steps_skipped, total_cost_usd, cost_note,
            run_dir, saved_at, record_json)
        SELECT
            id, run_id, task_id, plan_path, plan_name, label,
            CASE WHEN bench_id IN (SELECT id FROM benches) THEN bench_id END,
            provider, model, emulated,
            CASE status WHEN 'succeeded' THEN 'unvalidated' ELSE status END,
            started_at, started_at_epoch, makespan_ms, 0, steps_failed, steps_succeeded,
            steps_skipped, total_cost_usd, cost_note, run_dir, saved_at, record_json
        FROM runs
        """
    )
    db.execute("DROP TABLE runs")
    db.execute("ALTER TABLE runs_v3 RENAME TO runs")
    db.execute("CREATE INDEX runs_task_id ON runs (task_id)")
    db.execute("CREATE INDEX runs_label ON runs (label)")
    db.execute("CREATE INDEX runs_started ON runs (started_at_epoch)")
    db.execute("CREATE INDEX runs_bench_id ON runs (bench_id)")


@migration
def m004_run_identity(db: sqlite3.Connection) -> None:
    """``source_run_id``: the run id the record carries, apart from the history's own.

    ``run_id`` stays unique; when a record's run id already belongs to a different run
    (another directory or start time) the new run is stored as ``<run_id>~N``, and
    ``source_run_id`` lets a later save of the same run find it again.
    """
    db.execute("ALTER TABLE runs ADD COLUMN source_run_id TEXT")
    db.execute("UPDATE runs SET source_run_id = run_id")
    db.execute("CREATE INDEX runs_source_run_id ON runs (source_run_id)")


@migration
def m005_bench_output_dir(db: sqlite3.Connection) -> None:
    """A bench's output directory, so a bench can be referred to by its directory."""
    db.execute("ALTER TABLE benches ADD COLUMN output_dir TEXT")
    db.execute("CREATE INDEX benches_output_dir ON benches (output_dir)")


@migration
def m006_lookup_indexes(db: sqlite3.Connection) -> None:
    """Indexes for looking runs up by directory and filtering them by status."""
    db.execute("CREATE INDEX runs_run_dir ON runs (run_dir)")
    db.execute("CREATE INDEX runs_status ON runs (status)")
