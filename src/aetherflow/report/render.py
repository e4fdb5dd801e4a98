"""Write every file view of a bench (Markdown, PNG, HTML) from its :class:`BenchmarkData`."""

from __future__ import annotations

from pathlib import Path

from aetherflow.report.charts import write_charts
from aetherflow.report.html import render_html
from aetherflow.report.markdown import render_markdown
from aetherflow.results.bench import BenchmarkData

__all__ = ["HTML_REPORT", "MD_REPORT", "write_bench_reports"]

MD_REPORT = "benchmark_report.md"
HTML_REPORT = "benchmark_report.html"


def write_bench_reports(data: BenchmarkData, out_dir: Path) -> list[Path]:
    """Render ``benchmark_report.md``, the PNG charts and ``benchmark_report.html``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / MD_REPORT
    md.write_text(render_markdown(data), encoding="utf-8")
    charts = list(write_charts(data, out_dir).values())
    page = out_dir / HTML_REPORT
    page.write_text(render_html(data), encoding="utf-8")
    return [md, *charts, page]
