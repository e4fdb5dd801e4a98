"""``focused_data.json``: a focused benchmark (``bench parallel``, ``speculative``,
``workflow``, ``prompt-cache``, ``slm-local``): its A/B pairs, each with its comparison, and
the headline metrics it is about. Each side's full bench is in the pair's ``A/`` and ``B/``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from aetherflow.metrics.stats import DiffEstimate
from aetherflow.results.bench import PlanStructure
from aetherflow.results.comparison import ComparisonData

__all__ = [
    "FOCUSED_DATA_FILE",
    "FOCUSED_SCHEMA_VERSION",
    "FocusedBenchmark",
    "FocusedData",
    "FocusedPair",
    "HeadlineRow",
]

FOCUSED_SCHEMA_VERSION = "1"
FOCUSED_DATA_FILE = "focused_data.json"
FocusedBenchmark = Literal["parallel", "speculative", "workflow", "prompt-cache", "slm-local"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HeadlineRow(_Model):
    """One metric of one pair, as shown in a focused benchmark's headline table."""

    pair: str
    metric: str
    description: str
    estimate: DiffEstimate


class FocusedPair(_Model):
    """One A/B pair: where its benches are, its comparison, and each side's schedule."""

    title: str
    directory: str
    emulated: bool = False
    comparison: ComparisonData
    a_structure: PlanStructure
    b_structure: PlanStructure


class FocusedData(_Model):
    """``focused_data.json``: what a focused benchmark measured (the source of its report)."""

    schema_version: str = FOCUSED_SCHEMA_VERSION
    kind: Literal["focused"] = "focused"
    benchmark: FocusedBenchmark
    plan: str
    title: str
    #: What A and B are and how to read the figures (the report's opening paragraphs).
    intro: list[str] = Field(default_factory=list)
    pairs: list[FocusedPair]
    headline: list[HeadlineRow] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    #: The Markdown report's file name in the benchmark's directory.
    report_file: str = "focused_report.md"
