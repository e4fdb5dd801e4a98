"""Run history: SQLite storage of run records, bench groups and schema migrations."""

from aetherflow.store.history import (
    DB_FILENAME,
    HOME_ENV_VAR,
    BenchSummary,
    HistoryError,
    HistoryStore,
    RunNotFoundError,
    RunSummary,
    data_dir,
    default_db_path,
)
from aetherflow.store.migrations import MIGRATIONS, migrate

__all__ = [
    "DB_FILENAME",
    "HOME_ENV_VAR",
    "MIGRATIONS",
    "BenchSummary",
    "HistoryError",
    "HistoryStore",
    "RunNotFoundError",
    "RunSummary",
    "data_dir",
    "default_db_path",
    "migrate",
]
