"""Rich terminal views: the live run display (a RunObserver) and the end-of-run summary."""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from aetherflow.metrics.records import RunRecord, StepRecord
from aetherflow.plan.models import Plan

__all__ = ["LiveRunDisplay", "fmt_ms", "summary_table"]

_STYLE = {"pending": "dim", "running": "cyan", "passed": "green", "unvalidated": "blue",
          "failed": "red",
          "skipped": "yellow"}


def fmt_ms(value: float | None) -> str:
    """Milliseconds for a table cell; ``n/a`` when not measured."""
    return "n/a" if value is None else f"{value:,.0f}"


@dataclass
class _Row:
    status: str = "pending"
    provider: str = ""
    attempt: int = 0
    chunks: int = 0
    started: float | None = None
    elapsed_s: float | None = None


class LiveRunDisplay:
    """Shows steps pending/running/done/failed and streamed chunks while a plan runs."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._rows: dict[str, _Row] = {}
        self._live: Live | None = None
        self._title = ""

    def _render(self) -> Group:
        table = Table(title=self._title, expand=False)
        for col in ("step", "status", "provider", "try", "chunks", "time s"):
            table.add_column(col, justify="right" if col in ("try", "chunks", "time s") else "left")
        now = time.monotonic()
        for step_id, row in self._rows.items():
            secs = row.elapsed_s if row.elapsed_s is not None else (
                now - row.started if row.started is not None else None)
            table.add_row(step_id, Text(row.status, style=_STYLE[row.status]), row.provider,
                          str(row.attempt or ""), str(row.chunks or ""),
                          "" if secs is None else f"{secs:.1f}")
        counts = {s: sum(r.status == s for r in self._rows.values()) for s in _STYLE}
        line = "  ".join(f"{k}: {v}" for k, v in counts.items() if v)
        return Group(table, Text(line, style="bold"))

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render())

    def on_run_start(self, plan: Plan, run: RunRecord) -> None:
        """Open the live view."""
        self._title = f"{plan.task_id} on {run.config.provider} ({run.config.model})"
        self._rows = {s.id: _Row() for s in plan.steps}
        self._live = Live(self._render(), console=self.console, refresh_per_second=8,
                          transient=False)
        self._live.start()

    def on_step_start(self, step_id: str, attempt: int, provider: str) -> None:
        """Mark a step running."""
        row = self._rows[step_id]
        row.status, row.provider, row.attempt = "running", provider, attempt
        row.started = row.started or time.monotonic()
        self._refresh()

    def on_token(self, step_id: str, text: str) -> None:
        """Count a streamed chunk."""
        self._rows[step_id].chunks += 1
        self._refresh()

    def on_step_end(self, record: StepRecord) -> None:
        """Show the final status of a step."""
        row = self._rows[record.step_id]
        row.status = record.status
        row.elapsed_s = (record.step_time_ms or 0.0) / 1000
        self._refresh()

    def on_run_end(self, run: RunRecord) -> None:
        """Close the live view."""
        if self._live is not None:
            self._refresh()
            self._live.stop()
            self._live = None


def _tokens(count: object) -> str:
    value = getattr(count, "value", None)
    return "n/a" if value is None else str(value)


def summary_table(run: RunRecord) -> Table:
    """Per-step measured figures plus the run's makespan and critical path."""
    providers = sorted({s.provider for s in run.steps if s.provider})
    table = Table(title=f"{run.task_id}: {run.status} ({', '.join(providers) or '-'})")
    for col in ("step", "status", "try", "TTFT", "TTR", "TPOT", "out", "in", "time"):
        left = col in ("step", "status")
        table.add_column(col, no_wrap=True, justify="left" if left else "right")
    provenances: set[str] = set()
    for s in run.steps:
        last = s.attempts[-1] if s.attempts else None
        if last:
            provenances |= {c.provenance for c in (last.usage.input, last.usage.output)
                            if c.provenance}
        table.add_row(
            s.step_id, Text(s.status, style=_STYLE[s.status]), str(len(s.attempts)),
            fmt_ms(s.ttft_ms), fmt_ms(s.ttr_ms),
            fmt_ms(last.timing.tpot_ms) if last else "n/a",
            _tokens(last.usage.output) if last else "n/a",
            _tokens(last.usage.input) if last else "n/a",
            fmt_ms(s.step_time_ms),
        )
    eff = run.parallel_efficiency
    table.caption = (
        f"makespan {fmt_ms(run.makespan_ms)} ms · critical path {fmt_ms(run.critical_path_ms)} ms "
        f"({' → '.join(run.critical_path) or '-'}) · parallel efficiency "
        f"{'n/a' if eff is None else f'{eff:.2f}'} · tokens from: "
        f"{', '.join(sorted(provenances)) or 'n/a'} · times in ms, out/in in tokens"
    )
    return table
