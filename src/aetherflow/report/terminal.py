"""Rich terminal view of a :class:`BenchmarkData`: global figures, latency, analysis."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from aetherflow.bench.model import BenchmarkData, LatencyTable
from aetherflow.report.analysis import analyse
from aetherflow.report.format import DIST_COLUMNS, dist_cells, fmt_pct, fmt_tokens, fmt_usd, na

__all__ = ["render_terminal"]


_TERMINAL_COLUMNS = ("n", "mean", "p50", "p95", "max")  # fits 80 columns; the files have all


def _latency(table: LatencyTable) -> Table:
    out = Table(title=f"Latency ({table.population})",
                caption="p90, p99 and min: benchmark_report.md")
    out.add_column("metric", no_wrap=True)
    for col in _TERMINAL_COLUMNS:
        out.add_column(col, justify="right")
    keep = [DIST_COLUMNS.index(c) for c in _TERMINAL_COLUMNS]
    for name, unit, d in table.rows(hide_unmeasured_server=True):
        cells = dist_cells(d)
        out.add_row(f"{name} {unit}", *(cells[i] for i in keep))
    return out


def _global(data: BenchmarkData) -> Table:
    g = data.aggregates.global_figures
    out = Table(title=f"{data.meta.task_id}: {g.runs} measured runs"
                + (" (EMULATED)" if data.meta.emulated else ""))
    out.add_column("figure")
    out.add_column("value")
    cost = g.cost
    n = g.steps_passed + g.steps_failed + g.steps_skipped
    out.add_row("pass rate", f"{fmt_pct(g.pass_rate)} of {n} steps "
                             f"({g.steps_unvalidated} unvalidated)")
    out.add_row("first-try pass rate", fmt_pct(g.first_try_pass_rate))
    out.add_row("plans passed", f"{g.plans_passed}/{g.runs} ({fmt_pct(g.plan_pass_rate)})")
    if g.truncated_attempts:
        out.add_row("truncated", f"{g.truncated_attempts} of {g.answered_attempts} answers "
                                 f"({fmt_pct(g.truncation_rate)})")
    out.add_row("cost total", fmt_usd(cost.total_usd) if cost.total_usd is not None
                else na(cost.note))
    out.add_row("output tokens", fmt_tokens(g.tokens_output))
    return out


def render_terminal(data: BenchmarkData) -> Group:
    """A renderable for ``Console.print``."""
    answers = [Text.assemble((a.question + " ", "bold"), a.answer) for a in analyse(data)]
    return Group(_global(data), _latency(data.aggregates.latency_all), *answers)
