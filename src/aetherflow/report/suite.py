"""A suite's views: ``comparison_report.md`` and ``comparison_report.html``, rendered from
its :class:`~aetherflow.results.suite.SuiteData` alone (``suite_data.json``)."""

from __future__ import annotations

from pathlib import Path

from aetherflow.report.format import fmt_num, fmt_pct, fmt_usd
from aetherflow.report.markdown import md_table
from aetherflow.results.suite import SUITE_DATA_FILE, SuiteBench, SuiteData

__all__ = [
    "SUITE_HEADER",
    "VARIANT_COMPARISON_HEADER",
    "render_suite_markdown",
    "suite_row",
    "suite_totals",
    "variant_comparisons",
    "write_suite_reports",
]

SUITE_HEADER = ["plan", "variant", "runs", "plans passed", "pass rate (n)", "unvalidated",
                "first try", "TTFT p50 ms", "TTR p50 ms", "makespan mean ms", "cost total"]
VARIANT_COMPARISON_HEADER = ["metric", "A", "B", "B − A", "significant"]


def suite_row(e: SuiteBench) -> list[str]:
    """The cells of one bench in the suite table (columns of :data:`SUITE_HEADER`)."""
    a = e.aggregates
    g = a.global_figures
    n = g.steps_passed + g.steps_failed + g.steps_skipped
    return [e.meta.task_id, e.variant, str(g.runs), f"{g.plans_passed}/{g.runs}",
            f"{fmt_pct(g.pass_rate)} ({n})", str(g.steps_unvalidated),
            fmt_pct(g.first_try_pass_rate), fmt_num(a.latency_all.ttft_ms.p50),
            fmt_num(a.latency_all.ttr_ms.p50), fmt_num(g.makespan_ms.mean),
            fmt_usd(g.cost.total_usd)]


def suite_totals(data: SuiteData) -> str:
    """The totals sentence over every run of every bench (failed plans included)."""
    figures = [e.aggregates.global_figures for e in data.benches]
    runs = sum(g.runs for g in figures)
    ok = sum(g.plans_passed for g in figures)
    n = sum(g.steps_passed + g.steps_failed + g.steps_skipped for g in figures)
    ok_steps = sum(g.steps_passed for g in figures)
    unvalidated = sum(g.steps_unvalidated for g in figures)
    return (f"Totals (failed plans included): {ok} of {runs} plan runs passed; "
            f"{ok_steps:,} of {n:,} steps passed their executed checks "
            f"({fmt_pct(ok_steps / n if n else None)}); {unvalidated:,} steps unvalidated "
            "(nothing checkable, not counted).")


def variant_comparisons(data: SuiteData) -> list[tuple[str, list[list[str]]]]:
    """``(title, rows)`` per variant compared with the first variant of the same plan
    (global scope; columns of :data:`VARIANT_COMPARISON_HEADER`)."""
    out: list[tuple[str, list[list[str]]]] = []
    for c in data.comparisons:
        rows = [[r.metric, fmt_num(r.estimate.a_value, 3), fmt_num(r.estimate.b_value, 3),
                 fmt_num(r.estimate.difference, 3),
                 {True: "yes", False: "no", None: "n/a"}[r.estimate.significant]]
                for r in c.comparison.rows if r.scope == "global"]
        out.append((f"{c.task_id}: {c.variant} vs {c.base}", rows))
    return out


def render_suite_markdown(data: SuiteData) -> str:
    """The suite's ``comparison_report.md``: one row per bench, totals, comparisons."""
    comparisons = [f"### {title}\n\n" + md_table(VARIANT_COMPARISON_HEADER, rows)
                   for title, rows in variant_comparisons(data)]
    parts = ["# Suite comparison",
             md_table(SUITE_HEADER, [suite_row(e) for e in data.benches]),
             suite_totals(data),
             "## Variants against the first variant of each plan (95% CIs in each bench's "
             "`aetherflow compare`)", *comparisons]
    return "\n\n".join(parts) + "\n"


def write_suite_reports(data: SuiteData, out: Path) -> list[Path]:
    """Write ``suite_data.json``, ``comparison_report.md`` and ``comparison_report.html``
    into ``out``; return the files written."""
    from aetherflow.report.comparison import COMPARISON_HTML, COMPARISON_MD
    from aetherflow.report.comparison_html import render_suite_html

    out.mkdir(parents=True, exist_ok=True)
    files = [out / SUITE_DATA_FILE, out / COMPARISON_MD, out / COMPARISON_HTML]
    files[0].write_text(data.model_dump_json(indent=1), encoding="utf-8")
    files[1].write_text(render_suite_markdown(data), encoding="utf-8")
    files[2].write_text(render_suite_html(data), encoding="utf-8")
    return files
