"""``comparison_report.html``: side-by-side charts of a comparison (two benches) or a suite.

Like ``benchmark_report.html`` the page is self-contained (:mod:`aetherflow.report.page`:
plotly.js inlined once, compressed; no network) and carries the same tables as
``comparison_report.md`` (built from the same cells).

Comparison charts (global scope):

* relative change ``(B − A) / A`` per metric in %, with the 95 % CI of ``B − A`` converted
  to % of A; one shared axis is fine here because every metric is in % of its own baseline.
  Metrics whose baseline is 0 or not measured are listed as n/a, a missing CI says "CI n/a";
* one small-multiple panel per metric (its own unit, its own axis): A, B and ``B − A`` with
  the CI as asymmetric error bar; ★ marks a significant difference (CI excludes 0);
* with the raw :class:`BenchmarkData` of both sides: step statuses per side (passed,
  failed, skipped, unvalidated stacked, with n), TTFT and TTR distributions per side and
  provider (n per box, a legend of the box marks), and the makespan of every measured run,
  A next to B.

Suite charts: step statuses, makespan mean, TTFT p50 and cost total per plan × variant.
Every axis of a non-negative figure starts at 0; a cost that is $0 everywhere is said
("no charge"), not drawn as an empty chart.
"""

from __future__ import annotations

import html
import math
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import replace
from itertools import groupby

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from aetherflow.report.comparison import (
    METHOD_NOTE,
    ROW_HEADER,
    SIDE_HEADER,
    row_cells,
    side_cells,
)
from aetherflow.report.figures import PALETTE, box_legend, say_in_panel, status_figure
from aetherflow.report.page import chart_html, html_table, note_figure, page_html
from aetherflow.report.series import (
    CHART_ROWS,
    StatusCounts,
    latency_samples,
    others_note,
    status_counts,
    summed,
    top_indices,
)
from aetherflow.report.suite import (
    SUITE_HEADER,
    VARIANT_COMPARISON_HEADER,
    suite_row,
    suite_totals,
    variant_comparisons,
)
from aetherflow.results.bench import BenchmarkData, GroupStats
from aetherflow.results.comparison import ComparisonData, MetricComparison
from aetherflow.results.suite import SuiteBench, SuiteData

__all__ = ["render_comparison_html", "render_suite_html"]

_SIDE_COLOUR = {"A": "#1f77b4", "B": "#ff7f0e"}
_SIGNIFICANT = "#6a1b9a"
_NOT_SIGNIFICANT = "#90a4ae"
_NO_CI = "#cfd8dc"
_PANELS_PER_ROW = 4
_CSS_EXTRA = ".triggered{color:#c62828;font-weight:bold}.ok{color:#2e7d32}"


def _has_ci(r: MetricComparison) -> bool:
    return r.estimate.ci_low is not None and r.estimate.ci_high is not None


def _pct_of_a(r: MetricComparison) -> tuple[float, float | None, float | None] | None:
    """``(relative %, CI low %, CI high %)`` of a row; None when A is 0 or not measured.

    The relative CI is the one computed on the log-ratio scale (always above -100 % for a
    positive metric), never the absolute CI divided by A."""
    e = r.estimate
    if e.relative_difference is None or not e.a_value:
        return None
    rel = 100 * e.relative_difference
    if e.relative_ci_low is None or e.relative_ci_high is None:
        return rel, None, None
    return rel, 100 * e.relative_ci_low, 100 * e.relative_ci_high


def _unmeasured(r: MetricComparison) -> str | None:
    """Why a side has no value (``not measured on A`` ...), or None when both have one."""
    sides = [s for s, v in (("A", r.estimate.a_value), ("B", r.estimate.b_value)) if v is None]
    return None if not sides else "not measured on " + " and ".join(sides)


def _relative_label(r: MetricComparison) -> str:
    pct = _pct_of_a(r)
    if pct is None:
        return f"n/a ({_unmeasured(r) or 'baseline A is 0'})"
    rel, low, high = pct
    ci = "CI n/a" if low is None or high is None else f"CI [{low:+.1f}, {high:+.1f}]"
    return f"{rel:+.1f}%  {ci}" + ("  ★" if r.estimate.significant else "")


def _relative_figure(rows: Sequence[MetricComparison]) -> go.Figure:
    fig = go.Figure()
    order = [r.metric for r in rows]
    groups: dict[str, tuple[str, list[MetricComparison]]] = {
        "significant (CI excludes 0) ★": (_SIGNIFICANT, []),
        "not significant (CI includes 0)": (_NOT_SIGNIFICANT, []),
        "CI n/a": (_NO_CI, []),
    }
    for r in rows:
        if _pct_of_a(r) is None:
            continue
        if not _has_ci(r):
            groups["CI n/a"][1].append(r)
        elif r.estimate.significant:
            groups["significant (CI excludes 0) ★"][1].append(r)
        else:
            groups["not significant (CI includes 0)"][1].append(r)
    for name, (colour, members) in groups.items():
        if not members:
            continue
        pcts = [p for p in (_pct_of_a(r) for r in members) if p is not None]
        fig.add_trace(go.Bar(
            x=[p[0] for p in pcts], y=[r.metric for r in members], orientation="h", name=name,
            marker_color=colour, customdata=[r.description for r in members],
            hovertemplate="%{y}: %{x:+.2f}% of A<br>%{customdata}<extra></extra>",
            error_x={"type": "data", "symmetric": False, "color": "#333",
                     "array": [None if p[2] is None else p[2] - p[0] for p in pcts],
                     "arrayminus": [None if p[1] is None else p[0] - p[1] for p in pcts],
                     "visible": name != "CI n/a"}))
    for r in rows:  # a value column right of the plot: the change, its CI, or why n/a
        fig.add_annotation(text=_relative_label(r), x=1.01, y=r.metric, xref="paper", yref="y",
                           xanchor="left", showarrow=False,
                           font={"size": 11,
                                 "color": "#888" if _pct_of_a(r) is None else "#333"})
    fig.update_layout(
        title="Relative change (B − A) / A per metric, %, with the 95% CI of B − A in % of A",
        xaxis_title="% of A", barmode="overlay", margin={"r": 260},
        yaxis={"categoryorder": "array", "categoryarray": order, "autorange": "reversed",
               "type": "category"},
        height=max(300, 28 * len(order) + 160), legend={"orientation": "h", "y": -0.15})
    fig.add_vline(x=0, line_color="#333", line_width=1)
    _clip_relative_axis(fig, [p for p in (_pct_of_a(r) for r in rows) if p is not None])
    return fig if fig.data else note_figure(fig, "n/a: no relative change could be computed")


#: Relative changes beyond this (in %) would squash every other bar: the axis stops there.
_REL_AXIS_LIMIT = 300.0


def _clip_relative_axis(fig: go.Figure,
                        pcts: Sequence[tuple[float, float | None, float | None]]) -> None:
    """Stop the % axis at ±``_REL_AXIS_LIMIT`` when a change goes beyond it (e.g. a cache
    share rising from ~0), so the other metrics stay readable; the value column keeps the
    exact figures and the title says the axis is clipped."""
    extremes = [v for p in pcts for v in p if v is not None]
    if not extremes or max(abs(v) for v in extremes) <= _REL_AXIS_LIMIT:
        return
    low = max(min(extremes), -_REL_AXIS_LIMIT) - 10
    high = min(max(extremes), _REL_AXIS_LIMIT) + 10
    fig.update_xaxes(range=[low, high])
    fig.update_layout(title=fig.layout.title.text + f"<br><sup>axis clipped at "
                      f"±{_REL_AXIS_LIMIT:.0f}%: bars that run off it are larger; exact "
                      "values on the right</sup>")


def _panel_title(r: MetricComparison) -> str:
    e = r.estimate
    if e.a_value is None or e.b_value is None:
        return f"{r.metric} (n/a)"
    if not _has_ci(r):
        return f"{r.metric} (CI n/a)"
    return r.metric + (" ★" if e.significant else "")


def _zero_both(r: MetricComparison) -> str | None:
    """What to say instead of an empty panel when A and B are both 0, else None."""
    e = r.estimate
    if e.a_value != 0 or e.b_value != 0:
        return None
    return "no charge on either side ($0)" if r.unit == "usd" else "0 on both sides"


def _panels_figure(rows: Sequence[MetricComparison]) -> go.Figure:
    n_rows = max(1, math.ceil(len(rows) / _PANELS_PER_ROW))
    fig = make_subplots(rows=n_rows, cols=_PANELS_PER_ROW,
                        subplot_titles=[_panel_title(r) for r in rows],
                        vertical_spacing=0.5 / n_rows, horizontal_spacing=0.07)
    for i, r in enumerate(rows):
        row, col = i // _PANELS_PER_ROW + 1, i % _PANELS_PER_ROW + 1
        e = r.estimate
        zero = _zero_both(r)
        if e.a_value is None or e.b_value is None or zero:  # nothing to draw: say why
            why = zero or f"n/a: {_unmeasured(r)}" + (f" ({e.note})" if e.note else "")
            say_in_panel(fig, i, "<br>".join(textwrap.wrap(html.escape(why), 30)), size=11)
            continue
        fig.add_trace(go.Bar(
            x=["A", "B"], y=[e.a_value, e.b_value], showlegend=False,
            marker_color=[_SIDE_COLOUR["A"], _SIDE_COLOUR["B"]],
            hovertemplate=f"{html.escape(r.description)}<br>%{{x}} = %{{y:.4g}}<extra></extra>"),
            row=row, col=col)
        ci = _has_ci(r)
        colour = _SIGNIFICANT if e.significant else (_NOT_SIGNIFICANT if ci else _NO_CI)
        error = {"type": "data", "symmetric": False, "color": "#333",
                 "array": [(e.ci_high or 0.0) - (e.difference or 0.0)],
                 "arrayminus": [(e.difference or 0.0) - (e.ci_low or 0.0)], "visible": ci}
        ci_text = (f"95% CI [{e.ci_low:.4g}, {e.ci_high:.4g}]"
                   if e.ci_low is not None and e.ci_high is not None else "95% CI n/a")
        fig.add_trace(go.Bar(
            x=["B − A"], y=[e.difference], showlegend=False, marker_color=colour,
            error_y=error,
            hovertemplate=f"B − A = %{{y:.4g}}<br>{ci_text}<extra></extra>"),
            row=row, col=col)
        # 0 always on the axis; below 0 only when B − A (or its CI) is really negative
        fig.update_yaxes(rangemode="tozero", row=row, col=col,
                         tickformat="$.2~g" if r.unit == "usd" else None)
        fig.add_hline(y=0, line_color="#333", line_width=1, row=row, col=col)
    fig.update_layout(
        title="A, B and B − A per metric (each in its own unit); error bar = 95% CI of "
              "B − A; ★ = significant; (CI n/a) = no interval",
        height=260 * n_rows + 80, bargap=0.3)
    return fig if rows else note_figure(fig, "n/a: no global comparison rows")


def _side_counts(a: Sequence[GroupStats], b: Sequence[GroupStats]
                 ) -> tuple[list[StatusCounts], str]:
    """Step statuses of each group key, A then B (``A · emu``, ``B · emu``, ...), and a note.
    Past :data:`CHART_ROWS` rows, the keys with the most failed and skipped steps on both
    sides are drawn and the note gives each side's others (``A: 980 others not drawn:
    ...``)."""
    by_side = [{c.key: c for c in status_counts(groups)} for groups in (a, b)]
    keys = list(dict.fromkeys([*by_side[0], *by_side[1]]))
    notes: list[str] = []
    if len(by_side[0]) + len(by_side[1]) > CHART_ROWS:
        bad = [sum(c[k].failed + c[k].skipped for c in by_side if k in c) for k in keys]
        keys = [keys[i] for i in top_indices([(n,) for n in bad], CHART_ROWS // 2)]
        kept = set(keys)
        for side, counts in zip("AB", by_side, strict=True):
            rest = [c for k, c in counts.items() if k not in kept]
            if rest:
                notes.append(f"{side}: {others_note(summed(rest, f'{len(rest):,} others'))}")
    rows = [replace(counts[k], key=f"{side} · {k}") for k in keys
            for side, counts in zip("AB", by_side, strict=True) if k in counts]
    return rows, "; ".join(notes)


def _panel(title: str, fitted: tuple[list[StatusCounts], str]) -> tuple[str, list[StatusCounts]]:
    rows, note = fitted
    return (f"{title} ({note})" if note else title), rows


def _status_figure(a: BenchmarkData, b: BenchmarkData) -> go.Figure:
    pa, pb = a.aggregates, b.aggregates
    return status_figure(
        [_panel("per provider", _side_counts(pa.per_provider, pb.per_provider)),
         _panel("per task type", _side_counts(pa.per_task_type, pb.per_task_type)),
         _panel("per step", _side_counts(pa.per_step, pb.per_step))],
        "Step statuses, A and B: passed, failed, skipped and unvalidated (unvalidated is not "
        "a success and not in the pass rate)")


def _distribution_figure(a: BenchmarkData, b: BenchmarkData) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=("TTFT (ms)", "TTR (ms)"))
    for col, metric in ((1, "ttft_ms"), (2, "ttr_ms")):
        drawn = False
        for side, data in (("A", a), ("B", b)):
            for provider, values in latency_samples(data, metric).items():
                drawn = True
                fig.add_trace(go.Box(
                    y=values, name=f"{side} · {provider} (n={len(values)})", boxmean=True,
                    boxpoints="all", jitter=0.35, pointpos=-1.7, marker={"size": 4},
                    marker_color=_SIDE_COLOUR[side], showlegend=False), row=1, col=col)
        if drawn:
            fig.update_yaxes(title_text="ms", rangemode="tozero", row=1, col=col)
        else:
            say_in_panel(fig, col - 1, "n/a: not measured")
    if not fig.data:
        return note_figure(fig, "n/a: no latency measured on either side")
    box_legend(fig)
    fig.update_layout(title="TTFT and TTR per side and provider (ms, all attempts)",
                      height=480, margin={"b": 120})
    return fig


def _makespan_figure(a: BenchmarkData, b: BenchmarkData) -> go.Figure:
    fig = go.Figure()
    missing: list[str] = []
    for side, data in (("A", a), ("B", b)):
        runs = data.measured_runs()
        xs = [f"run {i}" for i in range(1, len(runs) + 1)]
        ys = [r.makespan_ms for r in runs]
        missing += [f"{side} {x}" for x, y in zip(xs, ys, strict=True) if y is None]
        if any(y is not None for y in ys):
            fig.add_trace(go.Bar(
                x=xs, y=ys, name=side, marker_color=_SIDE_COLOUR[side],
                customdata=[r.run_id for r in runs],
                hovertemplate=f"{side} %{{x}} (%{{customdata}}): %{{y:.0f}} ms<extra></extra>"))
            measured = [y for y in ys if y is not None]
            fig.add_hline(y=sum(measured) / len(measured), line_dash="dot",
                          line_color=_SIDE_COLOUR[side], annotation_text=f"{side} mean",
                          annotation_position="top left" if side == "A" else "top right")
    fig.update_layout(title="Makespan per measured run, A vs B (ms; dotted: mean)",
                      barmode="group", yaxis={"title": "ms", "rangemode": "tozero"})
    if missing:
        fig.add_annotation(text="n/a (no makespan): " + ", ".join(missing), showarrow=False,
                           x=0, y=1.02, xref="paper", yref="paper", xanchor="left",
                           yanchor="bottom", font={"color": "#888"})
    return fig if fig.data else note_figure(fig, "n/a: no run has a makespan")


def _charts(figures: Sequence[go.Figure]) -> str:
    return "".join(chart_html(fig, f"chart-{i}") for i, fig in enumerate(figures))


def _page(title: str, body: str) -> str:
    return page_html(title, f"<h1>{html.escape(title)}</h1>{body}", extra_css=_CSS_EXTRA)


def render_comparison_html(data: ComparisonData, a: BenchmarkData | None = None,
                           b: BenchmarkData | None = None) -> str:
    """The whole self-contained ``comparison_report.html`` of B against the baseline A.

    ``a`` and ``b`` are the raw benches; with both, the page also shows the TTFT/TTR
    distributions and the makespan per run side by side. Without them it says why not.
    """
    rows = [r for r in data.rows if r.scope == "global"]
    figures = [_relative_figure(rows), _panels_figure(rows)]
    if a is not None and b is not None:
        figures += [_status_figure(a, b), _distribution_figure(a, b), _makespan_figure(a, b)]
        raw = ""
    else:
        raw = ("<p class='na'>n/a: step statuses, TTFT/TTR distributions and makespan per run "
               "need both benches' data (comparison_data.json holds no raw samples).</p>")
    sides = html_table(SIDE_HEADER, [side_cells("A", data.a), side_cells("B", data.b)])
    scopes = "".join(f"<h3>{html.escape(scope)}</h3>"
                     + html_table(ROW_HEADER, [row_cells(r) for r in scope_rows])
                     for scope, scope_rows in groupby(data.rows, key=lambda r: r.scope))
    fail_if = ""
    if data.fail_if:
        items = "".join(
            f"<li><code>{html.escape(f.expression)}</code>: "
            + ("<span class='triggered'>TRIGGERED</span>" if f.triggered
               else "<span class='ok'>ok</span>")
            + f" — {html.escape(f.detail)}</li>" for f in data.fail_if)
        fail_if = f"<h2 id='fail-if'>--fail-if</h2><ul>{items}</ul>"
    body = (f"{sides}<p>{html.escape(METHOD_NOTE)}</p>{fail_if}"
            f"<h2 id='charts'>Charts (global scope)</h2>{raw}{_charts(figures)}"
            f"<h2 id='scopes'>Every scope</h2>{scopes}")
    return _page("Comparison: B against baseline A", body)


def _suite_labels(entries: Sequence[SuiteBench]) -> list[str]:
    """``task · variant`` per bench; a repeated one gets its plan file appended."""
    labels = [f"{e.meta.task_id} · {e.variant}" for e in entries]
    return [f"{lab} ({e.plan})" if labels.count(lab) > 1 else lab
            for lab, e in zip(labels, entries, strict=True)]


def _suite_figure(entries: Sequence[SuiteBench], title: str, axis: str,
                  value: Callable[[SuiteBench], float | None], fmt: str,
                  zero_text: str = "0") -> go.Figure:
    """Bars per plan × variant (one colour per variant) on an axis from 0; n/a written where
    not measured, ``zero_text`` where the value is 0 (a bar of height 0 is invisible)."""
    labels = _suite_labels(entries)
    variants = list(dict.fromkeys(e.variant for e in entries))
    fig = go.Figure()
    for k, variant in enumerate(variants):
        members = [(lab, e) for lab, e in zip(labels, entries, strict=True)
                   if e.variant == variant]
        fig.add_trace(go.Bar(
            x=[lab for lab, _ in members], y=[value(e) for _, e in members], name=variant,
            marker_color=PALETTE[k % len(PALETTE)],
            hovertemplate=f"%{{x}}: %{{y:{fmt}}}<extra>{html.escape(variant)}</extra>"))
    missing = [lab for lab, e in zip(labels, entries, strict=True) if value(e) is None]
    zeros = [lab for lab, e in zip(labels, entries, strict=True) if value(e) == 0]
    for lab, text in [(m, "n/a") for m in missing] + [(z, zero_text) for z in zeros]:
        fig.add_annotation(text=text, x=lab, y=0, yanchor="bottom", yshift=2,
                           showarrow=False, font={"color": "#888"})
    fig.update_layout(title=title, yaxis={"title": axis, "rangemode": "tozero"},
                      barmode="overlay", legend_title="variant",
                      xaxis={"categoryorder": "array", "categoryarray": labels})
    if entries and len(missing) == len(entries):
        fig.update_yaxes(range=[0, 1])
        return note_figure(fig, "n/a: not measured in any bench")
    return fig if entries else note_figure(fig, "n/a: no bench")


def _suite_cost_figure(entries: Sequence[SuiteBench]) -> go.Figure:
    """Cost total per bench; a sentence instead of a flat chart when every bench cost $0."""
    costs = [e.aggregates.global_figures.cost for e in entries]
    if costs and all(c.total_usd == 0 for c in costs):
        sources = {s for c in costs for s in c.price_sources}
        local = bool(sources) and all(s.startswith("local model") for s in sources)
        return note_figure(go.Figure(layout={"title": "Cost total (USD)"}),
                           "local model: no charge in any bench" if local else
                           "no charge: every bench cost $0 (" + ", ".join(sorted(sources))
                           + ")")
    fig = _suite_figure(entries, "Cost total (USD)", "USD",
                        lambda e: e.aggregates.global_figures.cost.total_usd, "$.6f",
                        zero_text="$0 (no charge)")
    if fig.data:
        fig.update_yaxes(tickformat="$.2~g")
    return fig


def _suite_status_figure(entries: Sequence[SuiteBench]) -> go.Figure:
    counts = [StatusCounts(lab, g.steps_passed, g.steps_failed, g.steps_skipped,
                           g.steps_unvalidated)
              for lab, g in zip(_suite_labels(entries),
                                (e.aggregates.global_figures for e in entries),
                                strict=True)]
    return status_figure([("per plan · variant", counts)],
                         "Step statuses per plan · variant (executed checks; failed plans "
                         "kept; unvalidated is not a success)")


def render_suite_html(data: SuiteData) -> str:
    """The whole self-contained ``comparison_report.html`` of a suite (plan × variant)."""
    entries = data.benches
    figures = [
        _suite_status_figure(entries),
        _suite_figure(entries, "Makespan mean (ms)", "ms",
                      lambda e: e.aggregates.global_figures.makespan_ms.mean, ".0f"),
        _suite_figure(entries, "TTFT p50 (ms, all attempts)", "ms",
                      lambda e: e.aggregates.latency_all.ttft_ms.p50, ".0f"),
        _suite_cost_figure(entries),
    ]
    comparisons = "".join(f"<h3>{html.escape(title)}</h3>"
                          + html_table(VARIANT_COMPARISON_HEADER, rows)
                          for title, rows in variant_comparisons(data))
    body = (html_table(SUITE_HEADER, [suite_row(e) for e in entries])
            + f"<p>{html.escape(suite_totals(data))}</p>"
            + f"<h2 id='charts'>Charts</h2>{_charts(figures)}"
            + "<h2 id='variants'>Variants against the first variant of each plan (95% CIs in "
              "each bench's <code>aetherflow compare</code>)</h2>" + comparisons)
    return _page("Suite comparison", body)
