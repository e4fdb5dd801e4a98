"""Turn a :class:`RunRecord` into the indexed ``runs`` columns, and rows back into models."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aetherflow.results.run import RunRecord
from aetherflow.store.liveness import effective_status
from aetherflow.store.models import BenchSummary, RunSummary

__all__ = [
    "RUN_SUMMARY_COLUMNS",
    "absolute_dir",
    "as_utc",
    "bench_summary",
    "epoch",
    "run_row",
    "run_summary",
    "total_cost",
]

#: The ``runs`` columns a :class:`RunSummary` is built from (``r`` is the runs table).
RUN_SUMMARY_COLUMNS = (
    "r.id, r.run_id, COALESCE(r.source_run_id, r.run_id) AS source_run_id, r.task_id, "
    "r.plan_path, r.label, r.bench_id, r.provider, r.model, r.emulated, r.status, "
    "r.started_at, r.makespan_ms, r.steps_passed, r.steps_failed, r.steps_unvalidated, "
    "r.steps_skipped, r.total_cost_usd, r.cost_note, r.run_dir, r.saved_at"
)


def absolute_dir(path: Path | str | None) -> str | None:
    """``path`` made absolute and normalised (not resolved through symlinks), as stored."""
    return None if path is None else os.path.abspath(os.path.expanduser(str(path)))


def run_row(record: RunRecord, run_dir: Path | str | None) -> dict[str, Any]:
    """The ``runs`` columns describing ``record`` (without ids, label, bench, run id and
    ``record_json``: the caller serialises the record it stores, once)."""
    statuses = [s.status for s in record.steps]
    cost, cost_note = total_cost(record)
    return {
        "source_run_id": record.run_id,
        "task_id": record.task_id,
        "plan_path": record.plan_path,
        "plan_name": Path(record.plan_path).stem if record.plan_path else None,
        "provider": record.config.provider,
        "model": _run_model(record),
        "emulated": int(_is_emulated(record)),
        "status": record.status,
        "started_at": record.started_at,
        "started_at_epoch": epoch(record.started_at),
        "makespan_ms": record.makespan_ms,
        "steps_passed": statuses.count("passed"),
        "steps_failed": statuses.count("failed"),
        "steps_unvalidated": statuses.count("unvalidated"),
        "steps_skipped": statuses.count("skipped"),
        "total_cost_usd": cost,
        "cost_note": cost_note,
        "run_dir": absolute_dir(run_dir),
        "saved_at": datetime.now(UTC).isoformat(),
    }


def total_cost(record: RunRecord) -> tuple[float | None, str | None]:
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


def as_utc(moment: datetime) -> datetime:
    """``moment`` with UTC attached when it is naive."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def epoch(iso: str) -> float | None:
    """POSIX seconds of an ISO-8601 timestamp (naive = UTC); None if it does not parse."""
    try:
        return as_utc(datetime.fromisoformat(iso)).timestamp()
    except ValueError:
        return None


def run_summary(row: sqlite3.Row) -> RunSummary:
    """A :class:`RunSummary` from a row selected with :data:`RUN_SUMMARY_COLUMNS`."""
    data = dict(row)
    data["emulated"] = bool(data["emulated"])
    data["status"] = effective_status(data["status"], data.get("run_dir"))
    return RunSummary(**data)


def bench_summary(row: sqlite3.Row) -> BenchSummary:
    """A :class:`BenchSummary` from a ``benches`` row (plus ``run_count``)."""
    return BenchSummary(**dict(row))
