"""The documentation names what the code has: every compared metric is defined in
docs/benchmarks.md, every command in the README, every doc page linked from it."""

from __future__ import annotations

import re
from pathlib import Path

from aetherflow.bench.compare import METRICS

ROOT = Path(__file__).resolve().parents[2]


def test_every_compared_metric_is_defined_in_the_benchmarks_doc() -> None:
    text = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([a-z0-9_]+)` \|", text, re.MULTILINE))
    assert set(METRICS) <= documented, sorted(set(METRICS) - documented)


def test_the_readme_links_every_doc_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    pages = {p.name for p in (ROOT / "docs").glob("*.md")}
    linked = set(re.findall(r"\(docs/([a-z\-]+\.md)\)", readme))
    assert pages <= linked, sorted(pages - linked)
