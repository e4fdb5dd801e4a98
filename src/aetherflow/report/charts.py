"""PNG charts of the Markdown report, with matplotlib (Agg backend, no display needed).

One PNG per chart key of :data:`~aetherflow.report.sections.CHART_FILES`, drawn from the
same series as the HTML charts and held to the same rules: step statuses (passed, failed,
skipped, unvalidated) as separate stacked parts with n; box plots with n per box and a
legend of their marks; a timeline that tells waiting from running from checking; a cost
axis from 0; a sentence instead of an empty chart when there is nothing to draw (nothing
measured, or a local model that costs nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from aetherflow.report.sections import CHART_FILES
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
from aetherflow.results.bench import BenchmarkData

__all__ = ["CHART_FILES", "chart_figures", "write_charts"]


def _say(ax: Axes, message: str) -> None:
    """Write ``message`` in place of a chart (no empty axes)."""
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, wrap=True,
            fontsize=11, color="#444",
            bbox={"boxstyle": "round,pad=0.8", "facecolor": "#f5f5f5", "edgecolor": "#ccc"})
    ax.set_axis_off()


def _status_panel(ax: Axes, title: str, counts: Sequence[StatusCounts]) -> None:
    keys = [c.key for c in counts]
    left = [0] * len(counts)
    for status in STATUS_ORDER:
        values = [c.count(status) for c in counts]
        bars = ax.barh(keys, values, left=left, color=STATUS_COLOUR[status], label=status)
        ax.bar_label(bars, labels=[f"{v:,}" if v else "" for v in values], label_type="center",
                     color="white", fontsize=8)
        left = [a + b for a, b in zip(left, values, strict=True)]
    for y, (c, total) in enumerate(zip(counts, left, strict=True)):
        ax.text(total, y, "  " + c.label(), va="center", fontsize=8)
    ax.set_xlim(0, max(left) * 2.1 if max(left) else 1)
    ax.invert_yaxis()
    ax.set_title(title, fontsize=10, loc="left")


def _quality_chart(data: BenchmarkData) -> Figure:
    a = data.aggregates
    panels = []
    for title, groups in (("per provider", a.per_provider), ("per task type", a.per_task_type),
                          ("per step", a.per_step)):
        if groups:
            rows, rest = fit_status_rows(status_counts(groups))
            panels.append((title + (f" ({others_note(rest)})" if rest else ""), rows))
    if not panels:
        fig, ax = plt.subplots(figsize=(10, 2.5))
        _say(ax, "n/a: no step measured")
        return fig
    sizes = [len(c) for _, c in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 1.6 + 0.42 * sum(sizes)
                                                      + 0.5 * len(panels)),
                             gridspec_kw={"height_ratios": [s + 0.8 for s in sizes]},
                             squeeze=False)
    for ax, (title, counts) in zip(axes[:, 0], panels, strict=True):
        _status_panel(ax, title, counts)
    axes[-1, 0].set_xlabel("steps (over every measured run)")
    axes[0, 0].legend(ncols=4, loc="lower right", bbox_to_anchor=(1, 1.12), fontsize=8,
                      frameon=False)
    fig.suptitle("Step statuses (unvalidated is not a success and not in the pass rate)",
                 fontsize=11)
    fig.tight_layout()
    return fig


def _latency_chart(data: BenchmarkData) -> Figure:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
    for ax, metric, title in ((axes[0], "ttft_ms", "TTFT"), (axes[1], "ttr_ms", "TTR")):
        samples = latency_samples(data, metric)
        ax.set_title(f"{title} per provider (ms, all attempts)", fontsize=10)
        if not samples:
            _say(ax, f"n/a: no {title} measured")
            continue
        ax.boxplot(list(samples.values()), showmeans=True, meanline=True, whis=1.5,
                   meanprops={"linestyle": "--", "color": "black"},
                   medianprops={"color": "#d84315"}, showfliers=False)
        for i, values in enumerate(samples.values(), start=1):
            # every value, left of its box, spread over 5 fixed lanes (deterministic jitter)
            offsets = [i - 0.38 + 0.03 * (k % 5) for k in range(len(values))]
            ax.scatter(offsets, values, s=8, color="#1f77b4", alpha=0.6, zorder=3)
        ax.set_xticks(range(1, len(samples) + 1),
                      [f"{p}\n(n={len(v)})" for p, v in samples.items()])
        ax.set_ylabel("ms")
        ax.set_ylim(bottom=0)
    handles = [Patch(facecolor="white", edgecolor="black", label="p25–p75"),
               Line2D([], [], color="#d84315", label="median"),
               Line2D([], [], color="black", linestyle="--", label="mean"),
               Line2D([], [], color="black", label="whiskers: within 1.5 × box"),
               Line2D([], [], marker="o", linestyle="", color="#1f77b4", markersize=4,
                      label="every attempt")]
    fig.legend(handles=handles, loc="lower center", ncols=5, fontsize=8, frameon=False)
    fig.text(0.5, 0.075, BOX_LEGEND, ha="center", fontsize=7, color="#444", wrap=True)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    return fig


def _timeline_chart(data: BenchmarkData) -> Figure:
    run = representative_run(data)
    lanes, missing = timeline_lanes(run) if run else ([], [])
    lanes, hidden = fit_lanes(lanes)
    fig, ax = plt.subplots(figsize=(10, max(2.8, 0.55 * len(lanes) + 2.2)))
    if run is None or not lanes:
        _say(ax, "n/a: no finished step to draw")
        return fig
    ax.set_title(f"Step timeline of run {run.run_id} (median makespan "
                 f"{run.makespan_ms or 0:,.0f} ms of {len(data.measured_runs())} runs)"
                 + (f"\nthe {len(lanes)} longest of {len(lanes) + hidden:,} steps drawn"
                    if hidden else ""), fontsize=10)
    for i, lane in enumerate(lanes):
        ax.barh(i, lane.finished_ms - lane.ready_ms, left=lane.ready_ms, height=0.8,
                color=PHASE_COLOUR["span"])
        for seg in lane.segments:
            ax.barh(i, seg.end_ms - seg.start_ms, left=seg.start_ms, height=0.45,
                    color=PHASE_COLOUR[seg.kind])
        for t in lane.first_tokens_ms:
            ax.plot([t], [i], marker="|", color="black", markersize=14, markeredgewidth=2)
    ax.set_yticks(range(len(lanes)), [lane.label() for lane in lanes], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(left=0)
    ax.set_xlabel("ms after run start")
    handles: list[Artist] = [Patch(color=PHASE_COLOUR[k], label=PHASE_LABEL[k])
                             for k in ("span", "waiting", "running", "checks")]
    handles.append(Line2D([], [], marker="|", linestyle="", color="black", markersize=10,
                          markeredgewidth=2, label="first token"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncols=3,
              fontsize=8, frameon=False)
    if missing:
        fig.text(0.01, 0.01, "not drawn (never started): " + listed(missing), fontsize=8,
                 color="#666")
    fig.tight_layout(rect=(0, 0.04 if missing else 0, 1, 1))
    return fig


def _tokens_cost_chart(data: BenchmarkData) -> Figure:
    totals, hidden = fit_totals(step_totals(data))
    view = cost_view(data)
    fig, (tok_ax, cost_ax) = plt.subplots(1, 2, figsize=(10, 4))
    if hidden:
        fig.suptitle(f"the {len(totals)} costliest of {len(totals) + hidden:,} steps (then the "
                     "most tokens)", fontsize=9)
    tokens = [t for t in totals if t.input_tokens is not None or t.output_tokens is not None]
    tok_ax.set_title("mean tokens per attempt", fontsize=10)
    if tokens:
        x = range(len(tokens))
        for offset, attr, label, colour in ((-0.2, "input_tokens", "input", "#5c6bc0"),
                                            (0.2, "output_tokens", "output", "#ef6c00")):
            present = [(i, getattr(t, attr)) for i, t in zip(x, tokens, strict=True)
                       if getattr(t, attr) is not None]
            tok_ax.bar([i + offset for i, _ in present], [v for _, v in present], 0.4,
                       label=label, color=colour)
        tok_ax.set_xticks(list(x), [t.step_id for t in tokens], rotation=30, ha="right")
        tok_ax.set_ylim(bottom=0)
        tok_ax.legend(fontsize=8)
    else:
        _say(tok_ax, "n/a: no token count measured")
    cost_ax.set_title("mean cost per run (USD)", fontsize=10)
    priced = [t for t in totals if t.cost_usd is not None]
    if view.state == "no_charge" or not priced:
        _say(cost_ax, view.text)
    else:
        bars = cost_ax.bar([t.step_id for t in priced], [t.cost_usd or 0.0 for t in priced],
                           color="#00897b")
        cost_ax.bar_label(bars, labels=[f"${t.cost_usd:.6f}" if t.cost_usd else "no charge"
                                        for t in priced], fontsize=7)
        cost_ax.set_ylim(bottom=0)
        cost_ax.tick_params(axis="x", labelrotation=30)
        unpriced = [t.step_id for t in totals if t.cost_usd is None]
        if unpriced:
            cost_ax.set_xlabel("n/a (unpriced attempt): " + listed(unpriced), fontsize=8)
    fig.tight_layout()
    return fig


def chart_figures(data: BenchmarkData) -> dict[str, Figure]:
    """Every chart as a matplotlib figure, keyed like :data:`CHART_FILES` (close them)."""
    return {"quality": _quality_chart(data), "latency": _latency_chart(data),
            "timeline": _timeline_chart(data), "tokens_cost": _tokens_cost_chart(data)}


def write_charts(data: BenchmarkData, out_dir: Path) -> dict[str, Path]:
    """Write every PNG chart into ``out_dir``; return ``{chart: path}``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for key, fig in chart_figures(data).items():
        path = out_dir / CHART_FILES[key]
        fig.savefig(path, dpi=100, metadata={"Software": None})
        plt.close(fig)
        paths[key] = path
    return paths
