"""``benchmark_report.html``: one self-contained page a person can send to a colleague.

It renders the same sections as the Markdown report (built once in
:mod:`aetherflow.report.sections`), with the interactive charts of
:mod:`aetherflow.report.figures` where the Markdown links its PNGs. The page needs no
network and stays small: see :mod:`aetherflow.report.page` for how plotly.js is inlined.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import plotly.graph_objects as go

from aetherflow.report.figures import bench_figures
from aetherflow.report.page import (
    PAGE_CSS,
    chart_html,
    html_table,
    inline_markup,
    note_figure,
    page_html,
)
from aetherflow.report.sections import (
    Block,
    Chart,
    Items,
    Paragraph,
    Section,
    Table,
    banner,
    bench_sections,
    bench_title,
)
from aetherflow.results.bench import BenchmarkData

__all__ = ["PAGE_CSS", "ChartSlots", "html_block", "html_sections", "html_table",
           "note_figure", "render_html"]


class ChartSlots:
    """Numbers the chart places of a page in order: ``chart-0``, ``chart-1``, ..."""

    def __init__(self, figures: dict[str, go.Figure]) -> None:
        self.figures = figures
        self.count = 0

    def place(self, key: str) -> str:
        """The chart ``key`` as the page's next chart (its ``<div>`` and drawing call)."""
        div = chart_html(self.figures[key], f"chart-{self.count}")
        self.count += 1
        return div


def html_block(block: Block, charts: ChartSlots) -> str:
    """One block of a section as HTML (every text escaped)."""
    if isinstance(block, Paragraph):
        cls = {"plain": "", "note": " class='note'", "warning": " class='warning'"}[block.tone]
        lead = "<b>Warning:</b> " if block.tone == "warning" else ""
        return f"<p{cls}>{lead}{inline_markup(block.text)}</p>"
    if isinstance(block, Table):
        caption = (f"<div class='caption'>{inline_markup(block.caption)}</div>"
                   if block.caption else "")
        return caption + html_table(block.header, block.rows, block.status_column)
    if isinstance(block, Items):
        items = "".join(f"<li><b>{inline_markup(lead)}</b> {inline_markup(text)}</li>"
                        for lead, text in block.items)
        return f"<ul class='answers'>{items}</ul>"
    if isinstance(block, Chart):
        return charts.place(block.key)
    raise TypeError(f"not a report block: {block!r}")


def html_sections(sections: Sequence[Section], charts: ChartSlots) -> str:
    """The sections, each under a heading with an anchor (``id`` = the section key)."""
    parts = []
    for s in sections:
        tag = f"h{s.level}"
        parts.append(f"<{tag} id='{html.escape(s.key)}'>{html.escape(s.title)}</{tag}>"
                     + "".join(html_block(b, charts) for b in s.blocks))
    return "".join(parts)


def _toc(sections: Sequence[Section]) -> str:
    links = " ".join(f"<a href='#{html.escape(s.key)}'>{html.escape(s.title)}</a>"
                    for s in sections if s.level == 2)
    return f"<nav class='toc'>{links}</nav>"


def _subtitle(data: BenchmarkData) -> str:
    m = data.meta
    kind = "emulated provider" if m.emulated else "real provider"
    runs = len(data.measured_runs())
    return (f"<p class='sub'>{html.escape(m.provider)} · {html.escape(m.model or 'model n/a')}"
            f" · {kind} · {runs} measured run{'s' * (runs != 1)} + {m.warmup} warm-up · "
            f"plan {html.escape(m.plan)} · started {html.escape(m.started_at)}</p>")


def render_html(data: BenchmarkData) -> str:
    """The whole self-contained HTML page."""
    sections = bench_sections(data)
    charts = ChartSlots(bench_figures(data))
    title = bench_title(data)
    body = (f"<h1>{html.escape(title)}</h1>{_subtitle(data)}"
            + "".join(html_block(p, charts) for p in banner(data))
            + _toc(sections) + html_sections(sections, charts))
    return page_html(title, body)
