"""``aetherflow history``: list stored runs, newest first."""

from __future__ import annotations

import json
import sys
from datetime import datetime

import typer
from rich.console import Console
from rich.table import Table

from aetherflow.cli.display import fmt_ms
from aetherflow.errors import ConfigError
from aetherflow.store.history import HistoryStore, RunSummary

__all__ = ["history_command", "register"]


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise ConfigError(f"--since {value!r}: expected an ISO date/time, e.g. 2025-01-31") \
            from exc


def _table(runs: list[RunSummary]) -> Table:
    table = Table(title=f"{len(runs)} stored runs")
    for col in ("id", "run id", "task", "label", "bench", "provider", "model", "status",
                "steps ok/fail/skip", "makespan ms", "cost", "started"):
        table.add_column(col)
    for r in runs:
        cost = "n/a" if r.total_cost_usd is None else f"${r.total_cost_usd:.6f}"
        table.add_row(str(r.id), r.run_id, r.task_id, r.label or "-",
                      str(r.bench_id or "-"), r.provider + (" (emulated)" if r.emulated else ""),
                      r.model or "n/a", r.status,
                      f"{r.steps_succeeded}/{r.steps_failed}/{r.steps_skipped}",
                      fmt_ms(r.makespan_ms), cost, r.started_at)
    return table


def history_command(
    plan: str | None = typer.Option(None, "--plan", help="Task id, plan path or plan name."),
    since: str | None = typer.Option(None, "--since", help="ISO date/time (UTC if naive)."),
    label: str | None = typer.Option(None, "--label"),
    limit: int = typer.Option(50, "--limit", help="At most this many runs (0 = all)."),
    as_json: bool = typer.Option(False, "--json", help="Print the list as JSON."),
) -> None:
    """List runs stored in the history database ($AETHERFLOW_HOME/history.db)."""
    with HistoryStore() as store:
        runs = store.list_runs(plan=plan, since=_since(since), label=label,
                               limit=limit or None)
    if as_json:
        sys.stdout.write(json.dumps([r.model_dump(mode="json") for r in runs], indent=2) + "\n")
        return
    Console().print(_table(runs))


def register(app: typer.Typer) -> None:
    """Add ``history`` to ``app``."""
    app.command("history")(history_command)
