"""Run history in SQLite: every run's ``run.json`` plus indexed columns to list and filter.

The database is ``history.db`` in the data directory (``$AETHERFLOW_HOME``, default
``~/.aetherflow``), opened in WAL mode and migrated on open (see
:mod:`aetherflow.store.migrations`). A run is keyed by its ``run_id``: saving it again
updates the row in place. Bench groups (:meth:`HistoryStore.create_bench`) tie together
the runs of one bench so ``compare`` can fetch them by label or bench id.

Only the run record is stored; it holds no secrets (no API keys, headers or environment
variables), and nothing else is added here.

Times: ``started_at`` strings without a UTC offset, and naive ``since`` datetimes, are
taken as UTC.
"""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

from pydantic import BaseModel, ConfigDict

from aetherflow.errors import ConfigError, InputError
from aetherflow.metrics.records import RunRecord
from aetherflow.store.migrations import migrate

__all__ = [
    "DB_FILENAME",
    "HOME_ENV_VAR",
    "BenchSummary",
    "HistoryError",
    "HistoryStore",
    "RunNotFoundError",
    "RunSummary",
    "data_dir",
    "default_db_path",
]

HOME_ENV_VAR = "AETHERFLOW_HOME"
DB_FILENAME = "history.db"

_SUMMARY_COLUMNS = (
    "id, run_id, task_id, plan_path, label, bench_id, provider, model, emulated, status, "
    "started_at, makespan_ms, steps_succeeded, steps_failed, steps_skipped, total_cost_usd, "
    "cost_note, run_dir, saved_at"
)


class HistoryError(ConfigError):
    """The history database cannot be opened, read or written (exit 2)."""

    def __init__(self, path: Path, problem: BaseException | str) -> None:
        super().__init__(f"run history {path}: {problem}. Set {HOME_ENV_VAR} to a writable "
                         "directory, or move the file away to start a new history")
        self.path, self.problem = path, problem


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _translated(method: Callable[Concatenate[HistoryStore, _P], _R],
                ) -> Callable[Concatenate[HistoryStore, _P], _R]:
    """Turn SQLite's errors inside ``method`` into one :class:`HistoryError`."""
    def wrapper(self: HistoryStore, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise HistoryError(self.path, exc) from exc
    functools.update_wrapper(wrapper, method)
    return wrapper


class RunNotFoundError(InputError):
    """No stored run matches the given id, run_id or label (or a prefix is ambiguous)."""


class RunSummary(BaseModel):
    """The indexed columns of one stored run (the full record: :meth:`HistoryStore.get_run`).

    ``total_cost_usd`` is None when any attempt could not be priced (``cost_note`` says
    how many); 0.0 only when the run made no request at all.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: int
    run_id: str
    task_id: str
    plan_path: str | None
    label: str | None
    bench_id: int | None
    provider: str
    model: str | None
    emulated: bool
    status: str
    started_at: str
    makespan_ms: float | None
    steps_succeeded: int
    steps_failed: int
    steps_skipped: int
    total_cost_usd: float | None
    cost_note: str | None
    run_dir: str | None
    saved_at: str


class BenchSummary(BaseModel):
    """One bench group: a plan repeated ``repeats`` times under a label."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: int
    label: str | None
    task_id: str
    plan_path: str | None
    repeats: int | None
    created_at: str


def data_dir() -> Path:
    """AetherFlow's data directory: ``$AETHERFLOW_HOME`` or ``~/.aetherflow``."""
    home = os.environ.get(HOME_ENV_VAR)
    return Path(home).expanduser() if home else Path.home() / ".aetherflow"


def default_db_path() -> Path:
    """Where the run history lives by default: ``data_dir() / "history.db"``."""
    return data_dir() / DB_FILENAME


class HistoryStore:
    """The run-history database. Use as a context manager or call :meth:`close`."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = default_db_path() if path is None else Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise HistoryError(self.path, exc) from exc
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            migrate(self._db)
        except sqlite3.Error as exc:
            self._db.close()
            raise HistoryError(self.path, exc) from exc
        except BaseException:
            self._db.close()
            raise

    # --- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def journal_mode(self) -> str:
        """SQLite's journal mode for this database (``"wal"``)."""
        return str(self._db.execute("PRAGMA journal_mode").fetchone()[0])

    # --- writing --------------------------------------------------------------------------
    @_translated
    def save_run(
        self,
        record: RunRecord,
        run_dir: Path | None,
        label: str | None = None,
        bench_id: int | None = None,
    ) -> int:
        """Store ``record`` (upsert by ``run_id``) and return its row id.

        The label is ``label``, else ``record.label``, else the label already stored for
        this run; the stored record carries that label. ``run_dir`` and ``bench_id`` keep
        their stored values when passed as None.
        """
        with self._transaction():
            previous = self._db.execute(
                "SELECT label, run_dir, bench_id FROM runs WHERE run_id = ?", (record.run_id,)
            ).fetchone()
            stored_label = None if previous is None else previous["label"]
            effective_label = label or record.label or stored_label
            stored = record.model_copy(update={"label": effective_label})
            row = _run_row(stored, run_dir, bench_id)
            self._upsert(row)
            found = self._db.execute(
                "SELECT id FROM runs WHERE run_id = ?", (record.run_id,)
            ).fetchone()
        return int(found["id"])

    @_translated
    def create_bench(
        self,
        task_id: str,
        label: str | None = None,
        plan_path: str | None = None,
        repeats: int | None = None,
    ) -> int:
        """Start a bench group (a plan repeated ``repeats`` times); return its id."""
        with self._transaction():
            cur = self._db.execute(
                "INSERT INTO benches (label, task_id, plan_path, repeats, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (label, task_id, plan_path, repeats, datetime.now(UTC).isoformat()),
            )
        return int(cur.lastrowid or 0)

    # --- reading --------------------------------------------------------------------------
    @_translated
    def list_runs(
        self,
        plan: str | None = None,
        since: datetime | None = None,
        label: str | None = None,
        limit: int | None = 50,
        bench_id: int | None = None,
    ) -> list[RunSummary]:
        """Stored runs, newest first, filtered by every criterion given.

        ``plan`` matches the task id, the plan path as recorded, or the plan file's stem.
        ``since`` keeps runs started at or after it. ``limit=None`` returns all matches.
        """
        where: list[str] = []
        params: list[Any] = []
        if plan is not None:
            where.append("(task_id = ? OR plan_path = ? OR plan_name = ?)")
            params += [plan, plan, plan]
        if since is not None:
            where.append("started_at_epoch >= ?")
            params.append(_as_utc(since).timestamp())
        if label is not None:
            where.append("label = ?")
            params.append(label)
        if bench_id is not None:
            where.append("bench_id = ?")
            params.append(bench_id)
        return self._select_runs(where, params, limit)

    @_translated
    def find(self, label_or_id: str) -> list[RunSummary]:
        """Runs whose label, bench label, run_id (or run_id prefix) or row id match."""
        if not label_or_id:
            return []
        where = [
            "(label = ? OR run_id = ? OR substr(run_id, 1, length(?)) = ?"
            " OR bench_id IN (SELECT id FROM benches WHERE label = ?)"
            " OR CAST(id AS TEXT) = ?)"
        ]
        return self._select_runs(where, [label_or_id] * 6, limit=None)

    @_translated
    def get_run(self, id_or_run_id: str | int) -> RunRecord:
        """The full stored record, by row id (int or digits), run_id, or unique run_id prefix."""
        row = self._lookup_record(id_or_run_id)
        return RunRecord.model_validate_json(row["record_json"])

    @_translated
    def list_benches(self, label: str | None = None) -> list[BenchSummary]:
        """Bench groups, newest first, optionally only those with ``label``."""
        sql = "SELECT id, label, task_id, plan_path, repeats, created_at FROM benches"
        params: tuple[str, ...] = ()
        if label is not None:
            sql += " WHERE label = ?"
            params = (label,)
        rows = self._db.execute(sql + " ORDER BY id DESC", params).fetchall()
        return [BenchSummary(**dict(r)) for r in rows]

    # --- internals ------------------------------------------------------------------------
    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _upsert(self, row: dict[str, Any]) -> None:
        columns = ", ".join(row)
        marks = ", ".join(f":{c}" for c in row)
        keep = {"run_dir", "bench_id"}
        updates = ", ".join(
            f"{c} = COALESCE(excluded.{c}, runs.{c})" if c in keep else f"{c} = excluded.{c}"
            for c in row
            if c != "run_id"
        )
        self._db.execute(
            f"INSERT INTO runs ({columns}) VALUES ({marks}) "
            f"ON CONFLICT (run_id) DO UPDATE SET {updates}",
            row,
        )

    def _select_runs(
        self, where: list[str], params: list[Any], limit: int | None
    ) -> list[RunSummary]:
        sql = f"SELECT {_SUMMARY_COLUMNS} FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started_at_epoch DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params = [*params, limit]
        return [_summary(r) for r in self._db.execute(sql, params).fetchall()]

    def _lookup_record(self, key: str | int) -> sqlite3.Row:
        if isinstance(key, int):
            by_id: sqlite3.Row | None = self._db.execute(
                "SELECT record_json FROM runs WHERE id = ?", (key,)
            ).fetchone()
            if by_id is None:
                raise RunNotFoundError(f"no stored run with id {key}")
            return by_id
        row: sqlite3.Row | None = self._db.execute(
            "SELECT record_json FROM runs WHERE run_id = ?", (key,)
        ).fetchone()
        if row is not None:
            return row
        if key.isdigit():
            return self._lookup_record(int(key))
        return self._lookup_prefix(key)

    def _lookup_prefix(self, prefix: str) -> sqlite3.Row:
        if not prefix:
            raise RunNotFoundError("an empty run id matches no run")
        rows: list[sqlite3.Row] = self._db.execute(
            "SELECT run_id, record_json FROM runs WHERE substr(run_id, 1, length(?)) = ? LIMIT 2",
            (prefix, prefix),
        ).fetchall()
        if not rows:
            raise RunNotFoundError(f"no stored run with run_id {prefix!r}")
        if len(rows) > 1:
            raise RunNotFoundError(f"run_id prefix {prefix!r} is ambiguous")
        return rows[0]


# --- row building ---------------------------------------------------------------------------


def _run_row(record: RunRecord, run_dir: Path | None, bench_id: int | None) -> dict[str, Any]:
    """The ``runs`` columns for ``record`` (without ``id``)."""
    statuses = [s.status for s in record.steps]
    cost, cost_note = _total_cost(record)
    return {
        "run_id": record.run_id,
        "task_id": record.task_id,
        "plan_path": record.plan_path,
        "plan_name": Path(record.plan_path).stem if record.plan_path else None,
        "label": record.label,
        "provider": record.config.provider,
        "model": _run_model(record),
        "emulated": int(_is_emulated(record)),
        "status": record.status,
        "started_at": record.started_at,
        "started_at_epoch": _epoch(record.started_at),
        "makespan_ms": record.makespan_ms,
        "steps_succeeded": statuses.count("succeeded"),
        "steps_failed": statuses.count("failed"),
        "steps_skipped": statuses.count("skipped"),
        "total_cost_usd": cost,
        "cost_note": cost_note,
        "run_dir": None if run_dir is None else str(run_dir),
        "saved_at": datetime.now(UTC).isoformat(),
        "record_json": record.model_dump_json(),
        "bench_id": bench_id,
    }


def _total_cost(record: RunRecord) -> tuple[float | None, str | None]:
    """Sum of every attempt's ``cost.total_usd``; None (with a note) if any is unpriced."""
    costs = [a.cost.total_usd for s in record.steps for a in s.attempts]
    unpriced = sum(1 for c in costs if c is None)
    if unpriced:
        return None, f"{unpriced} of {len(costs)} attempts unpriced"
    return sum(c for c in costs if c is not None), None


def _run_model(record: RunRecord) -> str | None:
    """The configured model, else the one model every attempt used, else None."""
    if record.config.model:
        return record.config.model
    models = {a.model for s in record.steps for a in s.attempts}
    return models.pop() if len(models) == 1 else None


def _is_emulated(record: RunRecord) -> bool:
    attempts = (a for s in record.steps for a in s.attempts)
    return record.config.emulated or any(a.emulated for a in attempts)


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _epoch(iso: str) -> float | None:
    """POSIX seconds of an ISO-8601 timestamp (naive = UTC); None if it does not parse."""
    try:
        return _as_utc(datetime.fromisoformat(iso)).timestamp()
    except ValueError:
        return None


def _summary(row: sqlite3.Row) -> RunSummary:
    data = dict(row)
    data["emulated"] = bool(data["emulated"])
    return RunSummary(**data)
