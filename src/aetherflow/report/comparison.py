"""``comparison_report.md`` (and its HTML twin): the views of a :class:`ComparisonData`."""

from __future__ import annotations

from itertools import groupby
from pathlib import Path

from aetherflow.report.format import fmt_pct
from aetherflow.report.markdown import md_table
from aetherflow.results.bench import BenchmarkData
from aetherflow.results.comparison import (
    COMPARISON_DATA_FILE,
    BenchRef,
    ComparisonData,
    MetricComparison,
)

__all__ = [
    "COMPARISON_HTML",
    "COMPARISON_MD",
    "METHOD_NOTE",
    "ROW_HEADER",
    "SIDE_HEADER",
    "render_comparison_markdown",
    "row_cells",
    "side_cells",
    "write_comparison",
]

COMPARISON_MD = "comparison_report.md"
COMPARISON_HTML = "comparison_report.html"

SIDE_HEADER = ["side", "source", "label", "task", "provider", "model", "emulated", "runs",
               "overlay"]
ROW_HEADER = ["metric", "A", "B", "B − A", "95% CI", "relative (95% CI)", "significant",
              "n A/B", "missing A/B", "method", "note"]
METHOD_NOTE = ("Differences are B − A with 95 % intervals. Runs are resampled as clusters (a "
               "bootstrap of whole runs; paired by step when both sides ran the same steps), "
               "the interval is the difference ± t·SE with Welch's degrees of freedom; a "
               "relative change is bounded on the log-ratio scale (never below −100 %); rates "
               "from independent samples use Newcombe's score interval. 'significant' means the "
               "interval excludes 0; n/a when a side has too few runs to say. Definitions: "
               "docs/statistics.md.")


def _g(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.4g}"


def row_cells(r: MetricComparison) -> list[str]:
    """The cells of one comparison row (columns of :data:`ROW_HEADER`)."""
    e = r.estimate
    ci = "n/a" if e.ci_low is None or e.ci_high is None else f"[{_g(e.ci_low)}, {_g(e.ci_high)}]"
    rel = fmt_pct(e.relative_difference) if e.relative_difference is not None else "n/a"
    if e.relative_ci_low is not None and e.relative_ci_high is not None:
        rel += f" [{fmt_pct(e.relative_ci_low)}, {fmt_pct(e.relative_ci_high)}]"
    sig = {True: "yes", False: "no (CI includes 0)", None: "n/a"}[e.significant]
    return [r.metric, _g(e.a_value), _g(e.b_value), _g(e.difference), ci, rel, sig,
            f"{e.n_a}/{e.n_b}", f"{e.missing_a}/{e.missing_b}", e.method, e.note or ""]


def side_cells(name: str, ref: BenchRef) -> list[str]:
    """The cells of one side of the comparison (columns of :data:`SIDE_HEADER`)."""
    overlay = ", ".join(f"{k}={v}" for k, v in ref.overlay.items()) or "none"
    return [name, ref.source, ref.label or "-", ref.task_id, ref.provider, ref.model or "n/a",
            "yes" if ref.emulated else "no", str(ref.runs), overlay]


def render_comparison_markdown(data: ComparisonData) -> str:
    """The comparison as Markdown: one table per scope, then the --fail-if outcomes."""
    parts = [
        "# Comparison: B against baseline A",
        md_table(SIDE_HEADER, [side_cells("A", data.a), side_cells("B", data.b)]),
        METHOD_NOTE + (f" Design: {data.design_note}" if data.design_note else ""),
    ]
    for scope, rows in groupby(data.rows, key=lambda r: r.scope):
        parts.append(f"## {scope}\n\n" + md_table(ROW_HEADER, [row_cells(r) for r in rows]))
    if data.fail_if:
        lines = [f"- `{f.expression}`: {'TRIGGERED' if f.triggered else 'ok'} — {f.detail}"
                 for f in data.fail_if]
        mode = f" (mode: {data.fail_if_mode})" if data.fail_if_mode else ""
        parts.append(f"## --fail-if{mode}\n\n" + "\n".join(lines))
    return "\n\n".join(parts) + "\n"


def write_comparison(data: ComparisonData, out_dir: Path, a: BenchmarkData | None = None,
                     b: BenchmarkData | None = None) -> Path:
    """Write ``comparison_data.json``, ``comparison_report.md`` and ``comparison_report.html``.

    ``a`` and ``b`` are the benches compared, when the caller has them: the HTML then also
    draws their TTFT/TTR distributions and makespans (the JSON holds no raw samples).
    Returns the Markdown path.
    """
    # Imported here: the HTML view reuses this module's table cells.
    from aetherflow.report.comparison_html import render_comparison_html

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / COMPARISON_DATA_FILE).write_text(data.model_dump_json(indent=2),
                                                  encoding="utf-8")
    md = out_dir / COMPARISON_MD
    md.write_text(render_comparison_markdown(data), encoding="utf-8")
    (out_dir / COMPARISON_HTML).write_text(render_comparison_html(data, a, b),
                                           encoding="utf-8")
    return md
