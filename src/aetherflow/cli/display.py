"""Rich terminal views: the live run display (a RunObserver) and the end-of-run summary.

Both stay cheap at thousands of steps: a token only bumps a counter (the live view redraws
a few times a second from the counters), and tables show the running and the most recent
steps plus a count line when every step cannot fit. When the output is not a terminal
(piped, CI), the live view prints one plain line per finished step instead of redrawing.

Both fit the console's width without cutting a number: numeric columns get their full
width and the step id column gets what is left (a long id is shortened with ``…``).
Imported when ``run`` starts (it needs rich and the run records).
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from aetherflow.plan.models import Plan
from aetherflow.results.run import RunRecord, StepRecord

__all__ = ["LiveRunDisplay", "fit_first_column", "fmt_ms", "step_problem", "summary_footer",
           "summary_table"]

_STYLE = {"pending": "dim", "running": "cyan", "passed": "green", "unvalidated": "blue",
          "failed": "red", "skipped": "yellow"}
_ORDER = ("passed", "failed", "unvalidated", "skipped", "running", "pending")
#: Steps listed individually in the summary before it switches to failed steps + counts.
SUMMARY_ROWS = 40
#: Where the summary points for what it does not list.
RUN_RECORD_HINT = "run.json in the run directory"


def fmt_ms(value: float | None) -> str:
    """Milliseconds for a table cell; ``n/a`` when not measured."""
    return "n/a" if value is None else f"{value:,.0f}"


def fit_first_column(width: int, other_widths: list[int], least: int = 8) -> int:
    """The widest the first column of a boxed rich table may be so the table fits
    ``width``: what the other columns (``other_widths``, their content) and the borders
    and padding (3 per column, plus 1) leave, but at least ``least``."""
    used = sum(other_widths) + 3 * (len(other_widths) + 1) + 1
    return max(least, width - used)


def _widths(rows: list[list[str]], headers: list[str]) -> list[int]:
    return [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]


def step_problem(rec: StepRecord) -> str:
    """A few words on why a step did not pass (empty for a passed step)."""
    if rec.status == "passed":
        return ""
    if rec.status == "unvalidated":
        return "nothing checkable (free-text criteria only)" if rec.validation else \
            "no validation criteria"
    reason = rec.reason or rec.status
    last = rec.attempts[-1] if rec.attempts else None
    if last is not None and last.error_kind == "connect":
        reason = "connection refused / unreachable"
    return reason


@dataclass
class _Row:
    status: str = "pending"
    provider: str = ""
    attempt: int = 0
    chunks: int = 0
    started: float | None = None
    elapsed_s: float | None = None


class LiveRunDisplay:
    """Steps pending/running/done and streamed chunks while a plan runs."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._rows: dict[str, _Row] = {}
        self._recent: deque[str] = deque(maxlen=8)
        self._counts: Counter[str] = Counter()
        self._live: Live | None = None
        self._title = ""

    def _render(self) -> RenderableType:
        now = time.monotonic()
        height = max(self.console.size.height - 8, 4)
        running = [k for k, r in self._rows.items() if r.status == "running"]
        shown = running[:height] + [k for k in self._recent if k not in running]
        headers = ["step", "status", "provider", "try", "chunks", "s"]
        rows: list[list[str]] = []
        for step_id in shown[:height]:
            row = self._rows[step_id]
            secs = row.elapsed_s if row.elapsed_s is not None else (
                now - row.started if row.started is not None else None)
            rows.append([step_id, row.status, row.provider, str(row.attempt or ""),
                         f"{row.chunks:,}" if row.chunks else "",
                         "" if secs is None else f"{secs:,.1f}"])
        widths = _widths(rows, headers)
        table = Table(title=self._title, expand=False, title_justify="left")
        step_width = fit_first_column(self.console.width, widths[1:])
        for i, col in enumerate(headers):
            table.add_column(col, justify="right" if i >= 3 else "left", no_wrap=True,
                             overflow="ellipsis",
                             max_width=step_width if i == 0 else None,
                             min_width=None if i == 0 else widths[i])
        for cells in rows:
            table.add_row(cells[0], Text(cells[1], style=_STYLE[cells[1]]), *cells[2:])
        line = "  ".join(f"{k}: {self._counts[k]:,}" for k in _ORDER if self._counts[k])
        return Group(table, Text(line, style="bold"))

    def on_run_start(self, plan: Plan, run: RunRecord) -> None:
        """Open the live view (or, when not on a terminal, say what runs)."""
        emulated = " (emulated)" if run.config.emulated else ""
        self._title = f"{plan.task_id} on {run.config.provider} ({run.config.model}){emulated}"
        self._rows = {s.id: _Row() for s in plan.steps}
        self._counts = Counter({"pending": len(plan.steps)})
        for step in run.steps:  # a resumed run's finished steps
            self._set_status(step.step_id, step.status)
        if self.console.is_terminal:
            self._live = Live(get_renderable=self._render, console=self.console,
                              refresh_per_second=4, transient=False)
            self._live.start()
        else:
            self.console.print(f"{self._title}: {len(plan.steps)} steps", highlight=False)

    def _set_status(self, step_id: str, status: str) -> None:
        row = self._rows[step_id]
        self._counts[row.status] -= 1
        row.status = status
        self._counts[status] += 1

    def on_step_start(self, step_id: str, attempt: int, provider: str) -> None:
        """Mark a step running."""
        row = self._rows[step_id]
        if row.status != "running":
            self._set_status(step_id, "running")
        row.provider, row.attempt = provider, attempt
        row.started = row.started or time.monotonic()

    def on_token(self, step_id: str, text: str) -> None:
        """Count a streamed chunk (the view redraws on its own clock)."""
        self._rows[step_id].chunks += 1

    def on_step_end(self, record: StepRecord) -> None:
        """Show the final status of a step."""
        row = self._rows[record.step_id]
        self._set_status(record.step_id, record.status)
        row.elapsed_s = (record.step_time_ms or 0.0) / 1000
        self._recent.appendleft(record.step_id)
        if self._live is None:
            problem = step_problem(record)
            self.console.print(f"{record.step_id}: {record.status}"
                               + (f" ({problem})" if problem else ""), highlight=False)

    def on_run_end(self, run: RunRecord) -> None:
        """Close the live view."""
        if self._live is not None:
            self._live.refresh()
            self._live.stop()
            self._live = None


def _tokens(count: object) -> str:
    value = getattr(count, "value", None)
    return "n/a" if value is None else f"{value:,}"


def _pick_steps(run: RunRecord) -> tuple[list[StepRecord], int]:
    if len(run.steps) <= SUMMARY_ROWS:
        return list(run.steps), 0
    bad = [s for s in run.steps if s.status in ("failed", "skipped")][:SUMMARY_ROWS]
    return bad, len(run.steps) - len(bad)


def summary_table(run: RunRecord, width: int = 80) -> Table:
    """Per-step measured figures; fits ``width`` columns without cutting a number (wider
    terminals get TPOT and input tokens too)."""
    providers = sorted({s.provider for s in run.steps if s.provider})
    emulated = " (emulated)" if run.config.emulated else ""
    table = Table(title=f"{run.task_id}: {run.status} ({', '.join(providers) or '-'})"
                        f"{emulated}", title_justify="left")
    cols = ["step", "status", "try", "TTFT", "TTR", "out", "time"]
    if width >= 100:
        cols[5:5] = ["TPOT", "in"]
    rows, hidden = _pick_steps(run)
    body: list[list[str]] = []
    for s in rows:
        last = s.attempts[-1] if s.attempts else None
        cells: dict[str, str] = {
            "step": s.step_id, "status": s.status, "try": str(len(s.attempts)),
            "TTFT": fmt_ms(s.ttft_ms), "TTR": fmt_ms(s.ttr_ms),
            "TPOT": fmt_ms(last.timing.tpot_ms) if last else "n/a",
            "in": _tokens(last.usage.input) if last else "n/a",
            "out": _tokens(last.usage.output) if last else "n/a",
            "time": fmt_ms(s.step_time_ms),
        }
        body.append([cells[c] for c in cols])
    widths = _widths(body, cols)
    step_width = fit_first_column(width, widths[1:], least=12)
    for i, col in enumerate(cols):
        table.add_column(col, no_wrap=True, justify="left" if i < 2 else "right",
                         overflow="ellipsis", max_width=step_width if i == 0 else None,
                         min_width=None if i == 0 else widths[i])
    for cells_row in body:
        table.add_row(cells_row[0], Text(cells_row[1], style=_STYLE[cells_row[1]]),
                      *cells_row[2:])
    if hidden:
        counts: Counter[str] = Counter(s.status for s in run.steps)
        table.caption = (f"{hidden:,} more steps not listed: "
                         + ", ".join(f"{counts[k]:,} {k}" for k in _ORDER if counts[k]))
    return table


def summary_footer(run: RunRecord) -> list[str]:
    """The lines under the summary table: pass rate, why steps failed, truncation, the
    schedule, where tokens came from, warnings. Each list shows at most
    :data:`SUMMARY_ROWS` entries and counts the rest (a run of thousands of steps keeps a
    summary that fits a screen; run.json holds everything)."""
    counts: Counter[str] = Counter(s.status for s in run.steps)
    denominator = counts["passed"] + counts["failed"] + counts["skipped"]
    rate = f"{counts['passed'] / denominator:.0%}" if denominator else "n/a"
    lines = [f"pass rate {rate} (passed {counts['passed']:,} of {denominator:,} checked or "
             f"skipped steps; {counts['unvalidated']:,} unvalidated, not counted)"]
    bad = [s for s in run.steps if s.status in ("failed", "skipped")]
    lines += [f"  {s.step_id}: {s.status}: {step_problem(s)}" for s in bad[:SUMMARY_ROWS]]
    if len(bad) > SUMMARY_ROWS:
        lines.append(f"  {len(bad) - SUMMARY_ROWS:,} more failed or skipped steps: "
                     f"aetherflow history show {run.run_id} --status failed,skipped")
    cut = [s.step_id for s in run.steps if s.truncated]
    if cut:
        more = f" and {len(cut) - SUMMARY_ROWS:,} more" if len(cut) > SUMMARY_ROWS else ""
        lines.append(f"cut by the token limit: {', '.join(cut[:SUMMARY_ROWS])}{more} "
                     "(raise --max-tokens)")
    sandboxes = sorted({v.sandbox for s in run.steps for v in s.validation
                        if v.method == "executed" and v.sandbox})
    if sandboxes:
        lines.append(f"checks ran in: {', '.join(sandboxes)}")
    eff = run.parallel_efficiency
    provenances = sorted({c.provenance for s in run.steps for a in s.attempts[-1:]
                          for c in (a.usage.input, a.usage.output) if c.provenance})
    lines.append(f"makespan {fmt_ms(run.makespan_ms)} ms · critical path "
                 f"{fmt_ms(run.critical_path_ms)} ms · parallel efficiency "
                 f"{'n/a' if eff is None else f'{eff:.2f}'} · tokens from "
                 f"{', '.join(provenances) or 'n/a'} · times in ms")
    if len(run.sessions) > 1:
        lines.append(f"resumed: {len(run.sessions)} sessions; makespan is the sum of their "
                     "wall times (the gaps between them are not counted)")
    lines += [f"warning: {w}" for w in run.warnings[:SUMMARY_ROWS]]
    if len(run.warnings) > SUMMARY_ROWS:
        lines.append(f"{len(run.warnings) - SUMMARY_ROWS:,} more warnings: see "
                     f"{RUN_RECORD_HINT}")
    return lines
