"""``benchmark_report.html``: one self-contained page with interactive plotly charts.

plotly.js is inlined once (``include_plotlyjs=True``): the file opens offline, with no CDN.
The page carries the same tables as the Markdown report (rendered from the same data).
"""

from __future__ import annotations

import html

import plotly.graph_objects as go
import plotly.io as pio

from aetherflow.bench.model import BenchmarkData
from aetherflow.report.analysis import analyse
from aetherflow.report.format import DIST_COLUMNS, dist_cells
from aetherflow.report.series import gantt_bars, latency_samples, representative_run, step_totals

__all__ = ["PAGE_CSS", "html_table", "note_figure", "render_html"]

_STATUS_COLOUR = {"passed": "#2e7d32", "unvalidated": "#1565c0", "failed": "#c62828",
                 "skipped": "#f9a825"}

PAGE_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px}
th{background:#f0f0f0}.na{color:#888}
"""


def note_figure(fig: go.Figure, text: str) -> go.Figure:
    """``fig`` with ``text`` written in its middle (how a chart says n/a and why)."""
    fig.add_annotation(text=text, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    return fig


def _latency_figure(data: BenchmarkData) -> go.Figure:
    fig = go.Figure()
    for metric, name in (("ttft_ms", "TTFT"), ("ttr_ms", "TTR")):
        for provider, values in latency_samples(data, metric).items():
            fig.add_trace(go.Box(y=values, name=f"{name} · {provider}", boxmean=True,
                                 boxpoints="all"))
    fig.update_layout(title="TTFT and TTR per provider (ms, all attempts)", yaxis_title="ms")
    return fig if fig.data else note_figure(fig, "n/a: no latency measured")


def _timeline_figure(data: BenchmarkData) -> go.Figure:
    run = representative_run(data)
    bars = gantt_bars(run) if run else []
    fig = go.Figure()
    for bar in bars:
        fig.add_trace(go.Bar(
            x=[bar.end_ms - bar.start_ms], y=[bar.step_id], base=[bar.start_ms],
            orientation="h", name=bar.status, showlegend=False,
            marker_color=_STATUS_COLOUR.get(bar.status, "grey"),
            hovertemplate=f"{bar.step_id}: {bar.status}<br>%{{base:.0f}} → "
                          f"{bar.end_ms:.0f} ms<extra></extra>"))
    title = "Step timeline" + (f" of run {run.run_id} (median makespan)" if run else "")
    fig.update_layout(title=title, xaxis_title="ms after run start", barmode="overlay",
                      yaxis={"autorange": "reversed"})
    return fig if bars else note_figure(fig, "n/a: no finished step")


def _tokens_cost_figure(data: BenchmarkData) -> go.Figure:
    totals = step_totals(data)
    names = [t.step_id for t in totals]
    fig = go.Figure([
        go.Bar(x=names, y=[t.input_tokens for t in totals], name="input tokens / attempt"),
        go.Bar(x=names, y=[t.output_tokens for t in totals], name="output tokens / attempt"),
        go.Scatter(x=names, y=[t.cost_usd for t in totals], name="cost USD / run",
                   yaxis="y2", mode="markers+lines"),
    ])
    fig.update_layout(title="Tokens and cost per step", barmode="group",
                      yaxis={"title": "tokens"},
                      yaxis2={"title": "USD", "overlaying": "y", "side": "right"})
    return fig


def html_table(header: list[str], rows: list[list[str]]) -> str:
    """An HTML table with every cell escaped."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _latency_tables(data: BenchmarkData) -> str:
    parts = []
    for table in (data.aggregates.latency_all, data.aggregates.latency_successful):
        rows = [[f"{name} {unit}", *dist_cells(d)] for name, unit, d in table.rows()]
        parts.append(f"<h3>Latency: {html.escape(table.population)}</h3>"
                     + html_table(["metric", *DIST_COLUMNS], rows))
    return "".join(parts)


def render_html(data: BenchmarkData) -> str:
    """The whole self-contained HTML page."""
    figures = [_latency_figure(data), _timeline_figure(data), _tokens_cost_figure(data)]
    charts = [pio.to_html(fig, full_html=False, include_plotlyjs=(i == 0),
                          div_id=f"chart-{i}", config={"responsive": True})
              for i, fig in enumerate(figures)]
    answers = "".join(f"<li><b>{html.escape(a.question)}</b> {html.escape(a.answer)}</li>"
                      for a in analyse(data))
    title = html.escape(f"Benchmark: {data.meta.task_id}"
                        + (f" ({data.meta.label})" if data.meta.label else ""))
    emulated = "<p><b>Emulated run</b> (not a real provider).</p>" if data.meta.emulated else ""
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"
            f"<style>{PAGE_CSS}</style></head><body><h1>{title}</h1>{emulated}"
            f"<h2>Analysis</h2><ul>{answers}</ul>{_latency_tables(data)}"
            f"<h2>Charts</h2>{''.join(charts)}</body></html>\n")
