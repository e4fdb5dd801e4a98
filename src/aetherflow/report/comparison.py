"""``comparison_report.md``: the Markdown view of a :class:`ComparisonData`."""

from __future__ import annotations

from itertools import groupby
from pathlib import Path

from aetherflow.bench.compare import BenchRef, ComparisonData, MetricComparison
from aetherflow.report.format import fmt_pct
from aetherflow.report.markdown import md_table

__all__ = ["COMPARISON_MD", "render_comparison_markdown", "write_comparison"]

COMPARISON_MD = "comparison_report.md"


def _g(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.4g}"


def _row(r: MetricComparison) -> list[str]:
    e = r.estimate
    ci = "n/a" if e.ci_low is None or e.ci_high is None else f"[{_g(e.ci_low)}, {_g(e.ci_high)}]"
    sig = {True: "yes", False: "no (CI includes 0)", None: "n/a"}[e.significant]
    return [r.metric, _g(e.a_value), _g(e.b_value), _g(e.difference),
            fmt_pct(e.relative_difference) if e.relative_difference is not None else "n/a",
            ci, sig, f"{e.n_a}/{e.n_b}", e.note or ""]


def _side(name: str, ref: BenchRef) -> list[str]:
    overlay = ", ".join(f"{k}={v}" for k, v in ref.overlay.items()) or "none"
    return [name, ref.source, ref.label or "-", ref.task_id, ref.provider, ref.model or "n/a",
            "yes" if ref.emulated else "no", str(ref.runs), overlay]


def render_comparison_markdown(data: ComparisonData) -> str:
    """The comparison as Markdown: one table per scope, then the --fail-if outcomes."""
    parts = [
        "# Comparison: B against baseline A",
        md_table(["side", "source", "label", "task", "provider", "model", "emulated", "runs",
                  "overlay"], [_side("A", data.a), _side("B", data.b)]),
        "Differences are B − A. CIs are 95 %: percentile bootstrap (2000 resamples, seed 0) "
        "of the mean or median for samples, Newcombe's score interval for rates. "
        "'significant' means the CI excludes 0.",
    ]
    header = ["metric", "A", "B", "B − A", "relative", "95% CI", "significant", "n A/B", "note"]
    for scope, rows in groupby(data.rows, key=lambda r: r.scope):
        parts.append(f"## {scope}\n\n" + md_table(header, [_row(r) for r in rows]))
    if data.fail_if:
        lines = [f"- `{f.expression}`: {'TRIGGERED' if f.triggered else 'ok'} — {f.detail}"
                 for f in data.fail_if]
        parts.append("## --fail-if\n\n" + "\n".join(lines))
    return "\n\n".join(parts) + "\n"


def write_comparison(data: ComparisonData, out_dir: Path) -> Path:
    """Write ``comparison_data.json`` and ``comparison_report.md``; return the md path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "comparison_data.json").write_text(data.model_dump_json(indent=2),
                                                  encoding="utf-8")
    md = out_dir / COMPARISON_MD
    md.write_text(render_comparison_markdown(data), encoding="utf-8")
    return md
