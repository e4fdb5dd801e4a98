"""Views of the report model: Markdown, PNG charts, self-contained HTML, terminal tables."""

from aetherflow.report.analysis import Answer, analyse
from aetherflow.report.html import render_html
from aetherflow.report.markdown import render_markdown
from aetherflow.report.render import HTML_REPORT, MD_REPORT, write_bench_reports
from aetherflow.report.terminal import render_terminal

__all__ = [
    "HTML_REPORT",
    "MD_REPORT",
    "Answer",
    "analyse",
    "render_html",
    "render_markdown",
    "render_terminal",
    "write_bench_reports",
]
