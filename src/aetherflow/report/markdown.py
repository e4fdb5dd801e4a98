"""``benchmark_report.md``: the Markdown view of a :class:`BenchmarkData`.

The sections are built once in :mod:`aetherflow.report.sections` (the HTML report renders
the same ones). Deterministic: the same JSON renders the same text (no render-time clock),
so a report re-rendered later from the stored JSON is identical.
"""

from __future__ import annotations

from collections.abc import Sequence

from aetherflow.report.sections import (
    CHART_FILES,
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

__all__ = ["md_block", "md_section", "md_table", "render_markdown"]


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in row) + " |"
              for row in rows]
    return "\n".join(lines)


def md_block(block: Block) -> str:
    """One block of a section as Markdown."""
    if isinstance(block, Paragraph):
        return f"> **Warning:** {block.text}" if block.tone == "warning" else block.text
    if isinstance(block, Table):
        table = md_table(block.header, block.rows)
        return f"**{block.caption}**\n\n{table}" if block.caption else table
    if isinstance(block, Items):
        return "\n".join(f"- **{lead}** {text}" for lead, text in block.items)
    if isinstance(block, Chart):
        return f"![{block.alt}]({CHART_FILES[block.key]})"
    raise TypeError(f"not a report block: {block!r}")


def md_section(section: Section) -> str:
    """A section: its heading, then its blocks."""
    head = "#" * section.level + " " + section.title
    return "\n\n".join([head, *(md_block(b) for b in section.blocks)])


def render_markdown(data: BenchmarkData) -> str:
    """The whole report as Markdown."""
    parts = [f"# {bench_title(data)}", *(md_block(p) for p in banner(data)),
             *(md_section(s) for s in bench_sections(data))]
    return "\n\n".join(parts) + "\n"
