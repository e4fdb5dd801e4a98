"""``suite_data.json``: a suite (``aetherflow suite``): one bench per plan x variant, the
figures of each, and every variant compared with the first variant of the same plan.

Each bench's runs are in its own directory (``output``, relative to the suite directory);
this file holds what the suite's views need, so ``aetherflow report`` re-renders them from
it alone."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from aetherflow.results.bench import Aggregates, BenchMeta
from aetherflow.results.comparison import ComparisonData

__all__ = ["SUITE_DATA_FILE", "SUITE_SCHEMA_VERSION", "SuiteBench", "SuiteComparison",
           "SuiteData"]

SUITE_SCHEMA_VERSION = "1"
SUITE_DATA_FILE = "suite_data.json"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SuiteBench(_Model):
    """One plan x variant bench of the suite: where it is and its figures."""

    plan: str
    variant: str
    #: The bench's directory, relative to the suite directory.
    output: str
    meta: BenchMeta
    aggregates: Aggregates


class SuiteComparison(_Model):
    """A variant against the first variant of the same plan."""

    task_id: str
    base: str
    variant: str
    comparison: ComparisonData


class SuiteData(_Model):
    """``suite_data.json``: what a suite measured (the source of its report)."""

    schema_version: str = SUITE_SCHEMA_VERSION
    kind: Literal["suite"] = "suite"
    benches: list[SuiteBench]
    comparisons: list[SuiteComparison]
