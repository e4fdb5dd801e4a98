"""Run history: SQLite storage of run records, benches, references and schema migrations."""

from aetherflow.store.history import (
    BUSY_TIMEOUT_MS,
    DB_FILENAME,
    HOME_ENV_VAR,
    AmbiguousReferenceError,
    CorruptRecordError,
    HistoryError,
    HistoryStore,
    RunNotFoundError,
    data_dir,
    default_db_path,
    validation_summary,
)
from aetherflow.store.migrations import MIGRATIONS, migrate
from aetherflow.store.models import (
    BenchSummary,
    ResolvedRef,
    RunSummary,
    SavedRun,
    short_run_id,
)
from aetherflow.store.retry import BusyPolicy

__all__ = [
    "BUSY_TIMEOUT_MS",
    "DB_FILENAME",
    "HOME_ENV_VAR",
    "MIGRATIONS",
    "AmbiguousReferenceError",
    "BenchSummary",
    "BusyPolicy",
    "CorruptRecordError",
    "HistoryError",
    "HistoryStore",
    "ResolvedRef",
    "RunNotFoundError",
    "RunSummary",
    "SavedRun",
    "data_dir",
    "default_db_path",
    "migrate",
    "short_run_id",
    "validation_summary",
]
