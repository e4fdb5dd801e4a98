"""PNG charts with matplotlib (Agg backend, no display needed).

Three charts: TTFT/TTR distributions per provider, the step-timeline Gantt of the
median-makespan run, and per-step tokens and cost. A chart with nothing measured says so
on the image instead of drawing zeros.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from aetherflow.bench.model import BenchmarkData
from aetherflow.report.series import (
    gantt_bars,
    latency_samples,
    representative_run,
    step_totals,
)

__all__ = ["CHART_FILES", "write_charts"]

CHART_FILES = {"latency": "latency.png", "timeline": "timeline.png",
               "tokens_cost": "tokens_cost.png"}

_STATUS_COLOUR = {"passed": "#2e7d32", "unvalidated": "#1565c0", "failed": "#c62828",
                 "skipped": "#f9a825"}


def _empty(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _latency_chart(data: BenchmarkData) -> Figure:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric, title in ((axes[0], "ttft_ms", "TTFT"), (axes[1], "ttr_ms", "TTR")):
        samples = latency_samples(data, metric)
        ax.set_title(f"{title} per provider (ms, all attempts)")
        if not samples:
            _empty(ax, f"n/a: no {title} measured")
            continue
        ax.boxplot(list(samples.values()), showmeans=True)
        ax.set_xticks(range(1, len(samples) + 1), list(samples))
        ax.set_ylabel("ms")
    fig.tight_layout()
    return fig


def _timeline_chart(data: BenchmarkData) -> Figure:
    run = representative_run(data)
    bars = gantt_bars(run) if run else []
    fig, ax = plt.subplots(figsize=(10, max(2.5, 0.5 * len(bars) + 1.5)))
    if run is None or not bars:
        _empty(ax, "n/a: no finished step to draw")
        return fig
    ax.set_title(f"Step timeline of run {run.run_id} (median makespan "
                 f"{run.makespan_ms or 0:,.0f} ms)")
    for i, bar in enumerate(bars):
        ax.barh(i, bar.end_ms - bar.start_ms, left=bar.start_ms,
                color=_STATUS_COLOUR.get(bar.status, "grey"))
        if bar.first_token_ms is not None:
            ax.plot([bar.first_token_ms], [i], marker="|", color="black", markersize=14)
    ax.set_yticks(range(len(bars)), [b.step_id for b in bars])
    ax.invert_yaxis()
    ax.set_xlabel("ms after run start (bar: ready → finished; tick: first token)")
    fig.tight_layout()
    return fig


def _tokens_cost_chart(data: BenchmarkData) -> Figure:
    totals = step_totals(data)
    fig, (tok_ax, cost_ax) = plt.subplots(1, 2, figsize=(10, 4))
    names = [t.step_id for t in totals]
    tok_ax.set_title("mean tokens per attempt")
    if any(t.input_tokens is not None or t.output_tokens is not None for t in totals):
        x = range(len(totals))
        tok_ax.bar([i - 0.2 for i in x], [t.input_tokens or 0 for t in totals], 0.4,
                   label="input")
        tok_ax.bar([i + 0.2 for i in x], [t.output_tokens or 0 for t in totals], 0.4,
                   label="output")
        tok_ax.set_xticks(list(x), names, rotation=30, ha="right")
        tok_ax.legend()
    else:
        _empty(tok_ax, "n/a: no token count measured")
    cost_ax.set_title("mean cost per run (USD)")
    priced = [t for t in totals if t.cost_usd is not None]
    if priced:
        cost_ax.bar([t.step_id for t in priced], [t.cost_usd or 0.0 for t in priced])
        cost_ax.tick_params(axis="x", labelrotation=30)
    else:
        _empty(cost_ax, "n/a: no priced attempt")
    fig.tight_layout()
    return fig


def write_charts(data: BenchmarkData, out_dir: Path) -> dict[str, Path]:
    """Write every PNG chart into ``out_dir``; return ``{chart: path}``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    builders = {"latency": _latency_chart, "timeline": _timeline_chart,
                "tokens_cost": _tokens_cost_chart}
    paths: dict[str, Path] = {}
    for key, build in builders.items():
        fig = build(data)
        path = out_dir / CHART_FILES[key]
        fig.savefig(path, dpi=100, metadata={"Software": None})
        plt.close(fig)
        paths[key] = path
    return paths
