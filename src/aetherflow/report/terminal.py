"""Rich terminal view of a :class:`BenchmarkData`: global figures, latency, analysis."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from aetherflow.report.analysis import analyse
from aetherflow.report.format import (
    DIST_COLUMNS,
    dist_cells,
    fmt_num,
    fmt_pct,
    fmt_tokens,
    fmt_usd,
    na,
)
from aetherflow.results.bench import BenchmarkData, LatencyTable

__all__ = ["render_terminal"]


_TERMINAL_COLUMNS = ("n", "mean", "p50", "p95", "max")  # fits 80 columns; the files have all


#: Short units for the terminal (the report files spell them out).
_SHORT_UNIT = {"ms": "ms", "ms/token": "ms/tok"}


def _short(name: str, unit: str, provenance: list[str]) -> str:
    if name == "TPOT":
        return "TPOT ms/chunk" if provenance == ["chunk_count"] else "TPOT ms/tok"
    if name == "ITL":
        return "ITL ms"
    return f"{name} {_SHORT_UNIT.get(unit, unit)}"


def _latency(table: LatencyTable) -> Table:
    provenance = ", ".join(table.tpot_provenance) or "n/a"
    notes = [f"TPOT tokens from: {provenance}. ITL: pooled gaps between chunks."]
    out = Table(title=f"Latency ({table.population})", title_justify="left",
                caption_justify="left")
    out.add_column("metric", no_wrap=True)
    for col in _TERMINAL_COLUMNS:
        out.add_column(col, justify="right", no_wrap=True)
    keep = [DIST_COLUMNS.index(c) for c in _TERMINAL_COLUMNS]
    for name, unit, d in table.rows(hide_unmeasured_server=True):
        label = _short(name, unit, table.tpot_provenance)
        if d.n == 0:  # the reason goes under the table: a cell would squeeze the numbers
            out.add_row(label, "0", *["n/a"] * (len(keep) - 1))
            notes.append(f"{label}: {na(d.note)}.")
            continue
        cells = dist_cells(d)
        out.add_row(label, *(cells[i] for i in keep))
    notes.append("p90, p99 and min (and which percentile needs what n): benchmark_report.md.")
    out.caption = " ".join(notes)
    return out


def _global(data: BenchmarkData) -> Table:
    g = data.aggregates.global_figures
    out = Table(title=f"{data.meta.task_id}: {g.runs:,} measured runs"
                + (" (EMULATED)" if data.meta.emulated else ""))
    out.add_column("figure")
    out.add_column("value")
    cost = g.cost
    n = g.steps_passed + g.steps_failed + g.steps_skipped
    out.add_row("pass rate", f"{fmt_pct(g.pass_rate)} of {n:,} steps "
                             f"({g.steps_unvalidated:,} unvalidated)")
    out.add_row("first-try pass rate", fmt_pct(g.first_try_pass_rate))
    out.add_row("plans passed", f"{g.plans_passed:,}/{g.runs:,} "
                                f"({fmt_pct(g.plan_pass_rate)})")
    if g.truncated_attempts:
        out.add_row("truncated", f"{g.truncated_attempts:,} of {g.answered_attempts:,} answers "
                                 f"({fmt_pct(g.truncation_rate)})")
    out.add_row("cost total", fmt_usd(cost.total_usd) if cost.total_usd is not None
                else na(cost.note))
    out.add_row("output tokens", fmt_tokens(g.tokens_output))
    tp = data.aggregates.throughput
    if tp is not None:
        out.add_row("throughput", f"{fmt_num(tp.output_tokens_per_s.mean)} output tok/s, "
                                  f"{fmt_num(tp.requests_per_s.mean, 2)} req/s (mean per run)")
    good = data.aggregates.goodput
    if good is not None and good.goodput is not None:
        slos = ", ".join(f"{k}<={v:g}" for k, v in good.slos.items())
        out.add_row("goodput", f"{fmt_pct(good.goodput)} of steps within {slos}"
                    + (" (default SLOs)" if data.meta.slos_default else ""))
    return out


def render_terminal(data: BenchmarkData) -> Group:
    """A renderable for ``Console.print``."""
    answers = [Text.assemble((a.question + " ", "bold"), a.answer) for a in analyse(data)]
    parts: list[Table | Text] = [_global(data), _latency(data.aggregates.latency_all), *answers]
    load = data.meta.machine_load
    if load is not None and load.busy and load.warning:
        parts.insert(0, Text(f"warning: {load.warning}", style="yellow"))
    return Group(*parts)
