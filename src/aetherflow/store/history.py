"""Run history in SQLite: every run's record plus indexed columns to list and filter.

The database is ``history.db`` in the data directory (``$AETHERFLOW_HOME``, default
``~/.aetherflow``), opened in WAL mode and migrated on open (see
:mod:`aetherflow.store.migrations`).

Nothing is ever overwritten. Every run has a numeric ``id`` and a string ``run_id``, both
unique in the database; every bench a numeric ``id``. Labels are for people and need not be
unique. Saving a run again updates that same run only when it *is* the same run: same
record run id, same start time, same run directory (the executor saves a run when it
starts and again when it ends). A record whose run id already belongs to a different run
(legacy benches named every run ``1``, ``2``, ``3``) is stored under ``<run_id>~N`` and the
save says so (:class:`SavedRun`, and a log warning).

Several processes may write the same history at once: every write is one
``BEGIN IMMEDIATE`` transaction, SQLite waits ``busy_timeout`` for a lock, and a transaction
that still meets ``SQLITE_BUSY`` is retried from the start after a jittered backoff.

Only the run record is stored; it holds no secrets (no API keys, headers or environment
variables). Times: ``started_at`` strings without a UTC offset, and naive ``since``
datetimes, are taken as UTC. See ``docs/history.md``.
"""

from __future__ import annotations

import functools
import logging
import os
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

from pydantic import ValidationError

from aetherflow.errors import (
    AmbiguousReferenceError,
    CorruptRecordError,
    HistoryError,
    RunNotFoundError,
)
from aetherflow.results.run import RunRecord
from aetherflow.store.liveness import effective_status
from aetherflow.store.migrations import migrate
from aetherflow.store.models import BenchSummary, ResolvedRef, RunSummary, SavedRun
from aetherflow.store.references import Want, resolve_ref
from aetherflow.store.retry import BusyPolicy, is_busy, retry_busy
from aetherflow.store.rows import (
    RUN_SUMMARY_COLUMNS,
    absolute_dir,
    as_utc,
    bench_summary,
    run_row,
    run_summary,
)

__all__ = [
    "BUSY_TIMEOUT_MS",
    "DB_FILENAME",
    "HOME_ENV_VAR",
    "AmbiguousReferenceError",
    "BenchSummary",
    "CorruptRecordError",
    "HistoryError",
    "HistoryStore",
    "ResolvedRef",
    "RunNotFoundError",
    "RunSummary",
    "SavedRun",
    "data_dir",
    "default_db_path",
    "validation_summary",
]

HOME_ENV_VAR = "AETHERFLOW_HOME"
DB_FILENAME = "history.db"
#: How long SQLite itself waits for another connection's lock before saying "busy"
#: (the default of :attr:`BusyPolicy.timeout_ms`).
BUSY_TIMEOUT_MS = BusyPolicy.timeout_ms

_log = logging.getLogger(__name__)

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _translated(method: Callable[Concatenate[HistoryStore, _P], _R],
                ) -> Callable[Concatenate[HistoryStore, _P], _R]:
    """Turn SQLite's errors inside ``method`` into one :class:`HistoryError`."""
    def wrapper(self: HistoryStore, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            if is_busy(exc):
                raise HistoryError(self.path, f"{exc} (another process held the lock for more "
                                   f"than {self.busy.deadline_s:g} s)",
                                   hint="Try again when the other AetherFlow command is done"
                                   ) from exc
            raise HistoryError(self.path, exc) from exc
    functools.update_wrapper(wrapper, method)
    return wrapper


def data_dir() -> Path:
    """AetherFlow's data directory: ``$AETHERFLOW_HOME`` or ``~/.aetherflow``."""
    home = os.environ.get(HOME_ENV_VAR)
    return Path(home).expanduser() if home else Path.home() / ".aetherflow"


def default_db_path() -> Path:
    """Where the run history lives by default: ``data_dir() / "history.db"``."""
    return data_dir() / DB_FILENAME


def validation_summary(exc: ValidationError) -> str:
    """A pydantic error as one line: the first problem with its location, and how many more."""
    errors = exc.errors()
    if not errors:
        return str(exc).splitlines()[0]
    first = errors[0]
    loc = ".".join(str(p) for p in first.get("loc", ())) or "$"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{loc}: {first.get('msg', 'invalid')}{more}".replace("\n", " ")


class HistoryStore:
    """The run-history database. Use as a context manager or call :meth:`close`.

    ``busy`` sets how long SQLite waits for a lock and how long a transaction is then
    retried (with jittered backoff) while other processes hold it.
    """

    def __init__(self, path: Path | None = None, busy: BusyPolicy | None = None) -> None:
        self.path = default_db_path() if path is None else Path(path)
        self.busy = busy or BusyPolicy()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None,
                                       timeout=self.busy.timeout_ms / 1000)
        except (OSError, sqlite3.Error) as exc:
            raise HistoryError(self.path, exc) from exc
        self._db.row_factory = sqlite3.Row
        try:
            retry_busy(self._prepare, self.busy)
        except sqlite3.Error as exc:
            self._db.close()
            raise HistoryError(self.path, exc) from exc
        except BaseException:
            self._db.close()
            raise

    def _prepare(self) -> None:
        self._db.execute(f"PRAGMA busy_timeout={int(self.busy.timeout_ms)}")
        if self._db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across app crashes
        self._db.execute("PRAGMA foreign_keys=ON")
        migrate(self._db)

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
    def save_run(
        self,
        record: RunRecord,
        run_dir: Path | None,
        label: str | None = None,
        bench_id: int | None = None,
    ) -> int:
        """Store ``record`` and return its history id (see :meth:`save`)."""
        return self.save(record, run_dir, label=label, bench_id=bench_id).id

    @_translated
    def save(
        self,
        record: RunRecord,
        run_dir: Path | str | None,
        label: str | None = None,
        bench_id: int | None = None,
    ) -> SavedRun:
        """Store ``record``; never overwrite another run.

        The same run (same record run id and start time, and the same run directory, or
        one of the two unknown) is updated in place and keeps its id. A record whose run id
        belongs to a different run is stored as a new run under ``<run_id>~N``; the result
        says so and a warning is logged. The label is ``label``, else ``record.label``,
        else the label already stored; the stored record carries it. ``run_dir`` and
        ``bench_id`` keep their stored values when passed as None.
        """
        saved = retry_busy(lambda: self._write(self._save, record, run_dir, label, bench_id),
                           self.busy)
        if saved.note:
            _log.warning("%s", saved.note)
        return saved

    @_translated
    def create_bench(
        self,
        task_id: str,
        label: str | None = None,
        plan_path: str | None = None,
        repeats: int | None = None,
        output_dir: Path | str | None = None,
    ) -> int:
        """Start a bench (a plan repeated ``repeats`` times, written to ``output_dir``);
        return its id, unique in this history."""
        row = (label, task_id, plan_path, repeats, datetime.now(UTC).isoformat(),
               absolute_dir(output_dir))

        def insert() -> int:
            cur = self._db.execute(
                "INSERT INTO benches (label, task_id, plan_path, repeats, created_at, "
                "output_dir) VALUES (?, ?, ?, ?, ?, ?)", row)
            return int(cur.lastrowid or 0)

        return retry_busy(lambda: self._write(insert), self.busy)

    @_translated
    def bench_for_dir(
        self,
        output_dir: Path | str,
        task_id: str,
        label: str | None = None,
        plan_path: str | None = None,
        repeats: int | None = None,
        created_at: str | None = None,
        known_id: int | None = None,
    ) -> int:
        """The bench stored for ``output_dir``, creating it if there is none (to import a
        bench directory). A bench with id ``known_id`` (the id a ``benchmark_data.json``
        recorded), the same plan and label and no directory yet is that bench: it gets the
        directory and is reused."""
        where = absolute_dir(output_dir)

        def find_or_insert() -> int:
            row = self._db.execute("SELECT id FROM benches WHERE output_dir = ? ORDER BY id "
                                   "LIMIT 1", (where,)).fetchone()
            if row is not None:
                return int(row[0])
            adopted = self._db.execute(
                "UPDATE benches SET output_dir = ? WHERE id = ? AND task_id = ? AND "
                "label IS ? AND output_dir IS NULL", (where, known_id, task_id, label))
            if known_id is not None and adopted.rowcount == 1:
                return known_id
            cur = self._db.execute(
                "INSERT INTO benches (label, task_id, plan_path, repeats, created_at, "
                "output_dir) VALUES (?, ?, ?, ?, ?, ?)",
                (label, task_id, plan_path, repeats,
                 created_at or datetime.now(UTC).isoformat(), where))
            return int(cur.lastrowid or 0)

        return retry_busy(lambda: self._write(find_or_insert), self.busy)

    # --- reading --------------------------------------------------------------------------
    @_translated
    def list_runs(
        self,
        plan: str | None = None,
        since: datetime | None = None,
        label: str | None = None,
        limit: int | None = 50,
        bench_id: int | None = None,
        status: str | Sequence[str] | None = None,
    ) -> list[RunSummary]:
        """Stored runs, newest first, filtered by every criterion given.

        ``plan`` matches the task id, the plan path as recorded, or the plan file's stem.
        ``since`` keeps runs started at or after it. ``status`` is one status or several.
        ``limit=None`` returns all matches.
        """
        where, params = _run_filters(plan, since, label, bench_id, status)
        sql = f"SELECT {RUN_SUMMARY_COLUMNS} FROM runs r"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY r.started_at_epoch DESC, r.id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params = [*params, limit]
        rows = retry_busy(lambda: self._db.execute(sql, params).fetchall(), self.busy)
        return [run_summary(r) for r in rows]

    @_translated
    def count_runs(
        self,
        plan: str | None = None,
        since: datetime | None = None,
        label: str | None = None,
        bench_id: int | None = None,
        status: str | Sequence[str] | None = None,
    ) -> int:
        """How many stored runs match the filters (as :meth:`list_runs`, without a limit)."""
        where, params = _run_filters(plan, since, label, bench_id, status)
        sql = "SELECT count(*) FROM runs r" + (" WHERE " + " AND ".join(where) if where else "")
        return int(retry_busy(lambda: self._db.execute(sql, params).fetchone()[0], self.busy))

    @_translated
    def list_benches(self, label: str | None = None,
                     limit: int | None = None) -> list[BenchSummary]:
        """Benches, newest first, optionally only those with ``label``."""
        sql = ("SELECT b.id, b.label, b.task_id, b.plan_path, b.repeats, b.created_at, "
               "b.output_dir, (SELECT count(*) FROM runs r WHERE r.bench_id = b.id) "
               "AS run_count FROM benches b")
        params: list[Any] = []
        if label is not None:
            sql += " WHERE b.label = ?"
            params.append(label)
        sql += " ORDER BY b.id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = retry_busy(lambda: self._db.execute(sql, params).fetchall(), self.busy)
        return [bench_summary(r) for r in rows]

    @_translated
    def resolve(self, ref: str, want: Want = "any") -> ResolvedRef:
        """The bench or run ``ref`` names: ``bench:N``/``run:N``, a directory, a number (a
        bench id where a bench may be meant, else a run id), a label naming exactly one
        bench or run, a full run id, or a unique run id prefix / short id.

        Raises :class:`RunNotFoundError`, or :class:`AmbiguousReferenceError` listing the
        candidates one per line.
        """
        return retry_busy(lambda: resolve_ref(self._db, ref, want), self.busy)

    def find(self, ref: str) -> list[RunSummary]:
        """The runs ``ref`` names (a bench's runs, oldest first, or one run); [] if none.

        An ambiguous reference raises :class:`AmbiguousReferenceError`.
        """
        try:
            return self.resolve(ref).runs
        except AmbiguousReferenceError:
            raise
        except RunNotFoundError:
            return []

    def get_summary(self, ref: str | int) -> RunSummary:
        """The summary of the one run ``ref`` names (an int is a history id)."""
        key = f"run:{ref}" if isinstance(ref, int) else ref
        return self.resolve(key, want="run").runs[0]

    def get_run(self, ref: str | int) -> RunRecord:
        """The full stored record of the run ``ref`` names (see :meth:`resolve`).

        A record that does not parse raises :class:`CorruptRecordError`.
        """
        return self.load_record(self.get_summary(ref))

    @_translated
    def load_record(self, run: RunSummary | int) -> RunRecord:
        """The stored record of ``run`` (a summary or a history id)."""
        row_id = run if isinstance(run, int) else run.id
        row = retry_busy(lambda: self._db.execute(
            "SELECT id, run_id, run_dir, record_json FROM runs WHERE id = ?", (row_id,)
        ).fetchone(), self.busy)
        if row is None:
            raise RunNotFoundError(f"no stored run has id {row_id}")
        try:
            record = RunRecord.model_validate_json(row["record_json"])
        except ValidationError as exc:
            raise CorruptRecordError(self.path, int(row["id"]), str(row["run_id"]),
                                     validation_summary(exc), row["run_dir"]) from exc
        status = effective_status(record.status, row["run_dir"])
        return record if status == record.status else record.model_copy(
            update={"status": status})

    # --- internals ------------------------------------------------------------------------
    def _write(self, body: Callable[..., _R], *args: Any) -> _R:
        """Run ``body`` in one ``BEGIN IMMEDIATE`` transaction (rolled back on error)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            result = body(*args)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        try:
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        return result

    def _save(self, record: RunRecord, run_dir: Path | str | None, label: str | None,
              bench_id: int | None) -> SavedRun:
        row = run_row(record, run_dir)
        same = self._same_run(row)
        if same is not None:
            return self._update(same, record, row, label, bench_id)
        run_id, note = self._free_run_id(record.run_id, row)
        stored = record.model_copy(update={"label": label or record.label})
        row |= {"run_id": run_id, "label": stored.label, "bench_id": bench_id,
                "record_json": stored.model_dump_json()}
        columns = ", ".join(row)
        cur = self._db.execute(
            f"INSERT INTO runs ({columns}) VALUES ({', '.join(f':{c}' for c in row)})", row)
        return SavedRun(id=int(cur.lastrowid or 0), run_id=run_id,
                        source_run_id=record.run_id, created=True,
                        renamed=run_id != record.run_id, note=note)

    def _same_run(self, row: dict[str, Any]) -> sqlite3.Row | None:
        """The stored row this save updates: same record run id, start time and directory
        (a directory unknown on either side matches, and so does a relative directory
        stored by an older version that the new absolute one ends with)."""
        found: sqlite3.Row | None = self._db.execute(
            "SELECT id, run_id, label, run_dir, bench_id FROM runs "
            "WHERE COALESCE(source_run_id, run_id) = :rid AND started_at = :started "
            "AND (run_dir IS NULL OR :dir IS NULL OR run_dir = :dir OR "
            "     (substr(run_dir, 1, 1) != '/' AND "
            "      substr(:dir, -length(run_dir) - 1) = '/' || run_dir)) ORDER BY id LIMIT 1",
            {"rid": row["source_run_id"], "started": row["started_at"], "dir": row["run_dir"]},
        ).fetchone()
        return found

    def _update(self, same: sqlite3.Row, record: RunRecord, row: dict[str, Any],
                label: str | None, bench_id: int | None) -> SavedRun:
        stored = record.model_copy(update={"label": label or record.label or same["label"]})
        row |= {"label": stored.label, "record_json": stored.model_dump_json(),
                "run_dir": row["run_dir"] or same["run_dir"],
                "bench_id": same["bench_id"] if bench_id is None else bench_id}
        sets = ", ".join(f"{c} = :{c}" for c in row)
        self._db.execute(f"UPDATE runs SET {sets} WHERE id = :id", {**row, "id": same["id"]})
        return SavedRun(id=int(same["id"]), run_id=str(same["run_id"]),
                        source_run_id=record.run_id, created=False)

    def _free_run_id(self, wanted: str, row: dict[str, Any]) -> tuple[str, str | None]:
        """``wanted`` if no run holds it, else the first free ``wanted~N`` and a note."""
        holder = self._db.execute(
            "SELECT id, run_dir, started_at FROM runs WHERE run_id = ?", (wanted,)).fetchone()
        if holder is None:
            return wanted, None
        taken = {str(r[0]) for r in self._db.execute(
            "SELECT run_id FROM runs WHERE run_id = ? OR substr(run_id, 1, ?) = ?",
            (wanted, len(wanted) + 1, wanted + "~"))}
        n = 2
        while f"{wanted}~{n}" in taken:
            n += 1
        new = f"{wanted}~{n}"
        note = (f"run id {wanted!r} already belongs to another stored run (id {holder['id']}, "
                f"started {holder['started_at']}, dir {holder['run_dir'] or 'not recorded'}); "
                f"this run (started {row['started_at']}, dir {row['run_dir'] or 'not recorded'})"
                f" is stored as {new!r} and nothing was overwritten")
        return new, note


def _run_filters(
    plan: str | None,
    since: datetime | None,
    label: str | None,
    bench_id: int | None,
    status: str | Sequence[str] | None,
) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if plan is not None:
        where.append("(r.task_id = ? OR r.plan_path = ? OR r.plan_name = ?)")
        params += [plan, plan, plan]
    if since is not None:
        where.append("r.started_at_epoch >= ?")
        params.append(as_utc(since).timestamp())
    if label is not None:
        where.append("r.label = ?")
        params.append(label)
    if bench_id is not None:
        where.append("r.bench_id = ?")
        params.append(bench_id)
    if status is not None:
        wanted = [status] if isinstance(status, str) else list(status)
        where.append(f"r.status IN ({', '.join('?' for _ in wanted)})")
        params += wanted
    return where, params
