"""The interactive plotly charts of ``benchmark_report.html``, one per chart key.

The same keys as the PNG charts (:data:`~aetherflow.report.sections.CHART_FILES`), drawn
from the same series (:mod:`aetherflow.report.series`), with the same honesty rules: step
statuses as separate stacked parts with n; box plots that say what their marks mean and
how many values each box holds; timelines that tell waiting from running from checking; a
cost axis that never goes below 0, and a sentence instead of an empty chart for a bench
that cost nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from aetherflow.report.page import note_figure
from aetherflow.report.series import (
    BOX_LEGEND,
    PHASE_COLOUR,
    PHASE_LABEL,
    STATUS_COLOUR,
    STATUS_ORDER,
    StatusCounts,
    cost_view,
    fit_lanes,
    fit_status_rows,
    fit_totals,
    latency_samples,
    listed,
    others_note,
    representative_run,
    status_counts,
    step_totals,
    timeline_lanes,
)
from aetherflow.results.bench import BenchmarkData, GroupStats

__all__ = ["PALETTE", "bench_figures", "box_legend", "say_in_panel", "status_figure"]

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
_FONT = {"family": "system-ui, sans-serif", "size": 12}


def _axis(i: int) -> str:
    """The axis suffix of subplot ``i`` (0-based): ``""``, ``"2"``, ..."""
    return "" if i == 0 else str(i + 1)


def say_in_panel(fig: go.Figure, i: int, text: str, *, hide_axes: bool = True,
                 size: int = 14) -> None:
    """Write ``text`` in the middle of subplot ``i`` (0-based) in place of a chart.

    Placed in paper coordinates from the panel's domain (a panel without traces has no
    usable axis to anchor on); ``hide_axes`` drops the panel's empty axes.
    """
    xd = fig.layout[f"xaxis{_axis(i)}"].domain or (0, 1)
    yd = fig.layout[f"yaxis{_axis(i)}"].domain or (0, 1)
    fig.add_annotation(text=text, showarrow=False, x=(xd[0] + xd[1]) / 2,
                       y=(yd[0] + yd[1]) / 2, xref="paper", yref="paper", xanchor="center",
                       yanchor="middle", font={"size": size, "color": "#555"}, bgcolor="#f5f5f5",
                       bordercolor="#ccc", borderpad=10)
    if hide_axes:
        fig.layout[f"xaxis{_axis(i)}"].visible = False
        fig.layout[f"yaxis{_axis(i)}"].visible = False


def box_legend(fig: go.Figure, y: float = -0.18) -> None:
    """Write what the box-plot marks mean under the plot."""
    fig.add_annotation(text=BOX_LEGEND, showarrow=False, x=0, y=y, xref="paper", yref="paper",
                       xanchor="left", yanchor="top", align="left",
                       font={"size": 12, "color": "#444"})


def status_figure(panels: Sequence[tuple[str, Sequence[StatusCounts]]], title: str
                  ) -> go.Figure:
    """Horizontal stacked bars of step statuses, one panel per grouping; each bar ends with
    its pass rate, its n and its unvalidated count (never folded into the pass rate). A panel
    of more than :data:`CHART_ROWS` rows draws the ones with the most failures and gives
    the others' statuses in its title. Each panel has its own scale."""
    fitted = [(t, fit_status_rows(c)) for t, c in panels if c]
    panels = [(t + (f" ({others_note(rest)})" if rest else ""), rows)
              for t, (rows, rest) in fitted]
    if not panels:
        return note_figure(go.Figure(layout={"title": title}), "n/a: no step measured")
    sizes = [len(c) for _, c in panels]
    height = 170 + 34 * sum(sizes) + 100 * len(panels)
    plot_area = height - 110 - 80  # minus the top and bottom margins
    fig = make_subplots(rows=len(panels), cols=1, subplot_titles=[t for t, _ in panels],
                        row_heights=[s + 1.2 for s in sizes],
                        vertical_spacing=min(0.3, 80 / plot_area) if len(panels) > 1 else 0)
    for i, (_, counts) in enumerate(panels):
        widest = max(c.passed + c.failed + c.skipped + c.unvalidated for c in counts)
        keys = [c.key for c in counts]
        for status in STATUS_ORDER:
            values = [c.count(status) for c in counts]
            fig.add_trace(go.Bar(
                x=values, y=keys, orientation="h", name=status, legendgroup=status,
                showlegend=i == 0, marker_color=STATUS_COLOUR[status],
                text=[f"{v:,}" if v else "" for v in values], textposition="inside",
                insidetextanchor="middle",
                hovertemplate=f"%{{y}}: %{{x}} {status}<extra></extra>"), row=i + 1, col=1)
        for c in counts:
            total = c.passed + c.failed + c.skipped + c.unvalidated
            fig.add_annotation(text=c.label(), x=total, y=c.key, xref=f"x{_axis(i)}",
                               yref=f"y{_axis(i)}", xanchor="left", xshift=6, showarrow=False,
                               font={"size": 11})
        fig.update_yaxes(autorange="reversed", type="category", row=i + 1, col=1)
        fig.update_xaxes(range=[0, widest * 1.9], rangemode="tozero", row=i + 1, col=1)
    fig.update_xaxes(title_text="steps (over every measured run)", row=len(panels), col=1)
    fig.update_layout(title=title, barmode="stack", font=_FONT,
                      height=height,
                      legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 1,
                              "xanchor": "right", "traceorder": "normal"},
                      margin={"t": 110, "b": 80})
    return fig


def _quality_figure(data: BenchmarkData) -> go.Figure:
    a = data.aggregates
    groups: list[tuple[str, Sequence[GroupStats]]] = [
        ("per provider", a.per_provider), ("per task type", a.per_task_type),
        ("per step", a.per_step)]
    return status_figure([(t, status_counts(g)) for t, g in groups],
                         "Step statuses: passed, failed, skipped and unvalidated (unvalidated "
                         "is not a success and not in the pass rate)")


def _latency_figure(data: BenchmarkData) -> go.Figure:
    metrics = (("ttft_ms", "TTFT per provider (ms)"), ("ttr_ms", "TTR per provider (ms)"))
    fig = make_subplots(rows=1, cols=2, subplot_titles=[t for _, t in metrics],
                        horizontal_spacing=0.1)
    colours: dict[str, str] = {}
    for col, (metric, _) in enumerate(metrics, start=1):
        samples = latency_samples(data, metric)
        for provider, values in samples.items():
            colour = colours.setdefault(provider, PALETTE[len(colours) % len(PALETTE)])
            fig.add_trace(go.Box(
                y=values, name=f"{provider} (n={len(values)})", boxmean=True,
                boxpoints="all", jitter=0.35, pointpos=-1.7, marker={"size": 4},
                marker_color=colour, showlegend=False,
                hovertemplate="%{y:,.1f} ms<extra>" + provider + "</extra>"), row=1, col=col)
        if samples:
            fig.update_yaxes(title_text="ms", rangemode="tozero", row=1, col=col)
        else:
            say_in_panel(fig, col - 1, "n/a: not measured")
    if not fig.data:
        return note_figure(fig, "n/a: no latency measured")
    box_legend(fig)
    fig.update_layout(title="TTFT and TTR per provider (all attempts)", font=_FONT,
                      height=460, margin={"b": 110}, boxgap=0.5)
    return fig


def _timeline_figure(data: BenchmarkData) -> go.Figure:
    run = representative_run(data)
    lanes, missing = timeline_lanes(run) if run else ([], [])
    lanes, hidden = fit_lanes(lanes)
    fig = go.Figure()
    if run is None or not lanes:
        return note_figure(fig, "n/a: no finished step to draw")
    labels = [lane.label() for lane in lanes]
    fig.add_trace(go.Bar(
        x=[lane.finished_ms - lane.ready_ms for lane in lanes], base=[lane.ready_ms for lane
                                                                     in lanes],
        y=labels, orientation="h", width=0.8, name=PHASE_LABEL["span"],
        marker_color=PHASE_COLOUR["span"],
        hovertemplate="%{y}: ready %{base:,.0f} → finished %{x:,.0f} ms later<extra></extra>"))
    for kind in ("waiting", "running", "checks"):
        segs = [(lab, seg) for lab, lane in zip(labels, lanes, strict=True)
                for seg in lane.segments if seg.kind == kind]
        if not segs:
            continue
        fig.add_trace(go.Bar(
            x=[s.end_ms - s.start_ms for _, s in segs], base=[s.start_ms for _, s in segs],
            y=[lab for lab, _ in segs], orientation="h", width=0.45, name=PHASE_LABEL[kind],
            marker_color=PHASE_COLOUR[kind], customdata=[s.attempt for _, s in segs],
            hovertemplate=f"%{{y}}, attempt %{{customdata}}: {kind} %{{x:,.0f}} ms from "
                          "%{base:,.0f} ms<extra></extra>"))
    ticks = [(lab, t) for lab, lane in zip(labels, lanes, strict=True)
             for t in lane.first_tokens_ms]
    if ticks:
        fig.add_trace(go.Scatter(
            x=[t for _, t in ticks], y=[lab for lab, _ in ticks], mode="markers",
            name="first token", marker={"symbol": "line-ns-open", "size": 18, "color": "#000",
                                        "line": {"width": 2}},
            hovertemplate="%{y}: first token at %{x:,.0f} ms<extra></extra>"))
    title = (f"Step timeline of run {run.run_id} (the median makespan, "
             f"{run.makespan_ms or 0:,.0f} ms, of {len(data.measured_runs())} measured runs)")
    if hidden:
        title += (f"<br><sup>the {len(lanes)} longest of {len(lanes) + hidden:,} steps "
                  "drawn</sup>")
    if missing:
        title += "<br><sup>not drawn (never started): " + listed(missing) + "</sup>"
    fig.update_layout(title=title, barmode="overlay", font=_FONT,
                      xaxis={"title": "ms after run start", "rangemode": "tozero"},
                      yaxis={"autorange": "reversed", "type": "category",
                             "categoryorder": "array", "categoryarray": labels},
                      height=max(320, 46 * len(lanes) + 210),
                      legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0},
                      margin={"t": 100 + 20 * bool(missing) + 20 * bool(hidden), "b": 50})
    return fig


def _tokens_cost_figure(data: BenchmarkData) -> go.Figure:
    totals, hidden = fit_totals(step_totals(data))
    view = cost_view(data)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12, subplot_titles=(
        "Mean tokens per attempt", "Mean cost per run (USD)"))
    tokens = [t for t in totals if t.input_tokens is not None or t.output_tokens is not None]
    for name, attr, colour in (("input tokens", "input_tokens", "#5c6bc0"),
                               ("output tokens", "output_tokens", "#ef6c00")):
        fig.add_trace(go.Bar(x=[t.step_id for t in tokens],
                             y=[getattr(t, attr) for t in tokens], name=name,
                             marker_color=colour,
                             hovertemplate="%{x}: %{y:,.0f} " + name + "<extra></extra>"),
                      row=1, col=1)
    if tokens:
        fig.update_yaxes(title_text="tokens", rangemode="tozero", row=1, col=1)
    else:
        say_in_panel(fig, 0, "n/a: no token count measured")
    priced = [t for t in totals if t.cost_usd is not None]
    if view.state == "priced" or (priced and view.state != "no_charge"):
        fig.add_trace(go.Bar(
            x=[t.step_id for t in priced], y=[t.cost_usd for t in priced], name="cost / run",
            marker_color="#00897b", showlegend=False,
            text=[f"${t.cost_usd:.6f}" if t.cost_usd else "no charge" for t in priced],
            textposition="outside", cliponaxis=False,
            hovertemplate="%{x}: $%{y:.6f} per run<extra></extra>"), row=1, col=2)
        fig.update_yaxes(title_text="USD", rangemode="tozero", tickformat="$.2~g", row=1,
                         col=2)
        unpriced = [t.step_id for t in totals if t.cost_usd is None]
        if unpriced:
            fig.add_annotation(text="n/a (unpriced attempt): " + listed(unpriced),
                               showarrow=False, x=0, y=1.0, xref="x2 domain",
                               yref="y2 domain", xanchor="left", font={"color": "#888"})
    else:
        say_in_panel(fig, 1, view.text)
    title = "Tokens and cost per step"
    if hidden:
        title += (f"<br><sup>the {len(totals)} costliest of {len(totals) + hidden:,} steps "
                  "(then the most tokens)</sup>")
    fig.update_layout(title=title, barmode="group", font=_FONT,
                      height=440, legend={"orientation": "h", "y": 1.08, "yanchor": "bottom",
                                          "x": 0}, margin={"t": 110})
    return fig


def bench_figures(data: BenchmarkData) -> dict[str, go.Figure]:
    """Every chart of the benchmark report, keyed like the PNG charts."""
    return {"quality": _quality_figure(data), "latency": _latency_figure(data),
            "timeline": _timeline_figure(data), "tokens_cost": _tokens_cost_figure(data)}
