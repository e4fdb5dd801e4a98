"""``comparison_data.json``: two benches compared metric by metric (see
:mod:`aetherflow.bench.compare` for how the estimates are made, docs/statistics.md for why)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from aetherflow.metrics.stats import DiffEstimate

__all__ = [
    "COMPARISON_DATA_FILE",
    "COMPARISON_SCHEMA_VERSION",
    "FAIL_IF_MODES",
    "BenchRef",
    "Better",
    "ComparisonData",
    "FailIfMode",
    "FailResult",
    "MetricComparison",
]

#: 2: cluster-bootstrap intervals (paired by step where the design is), relative CIs,
#: pass-rate metrics, significance-aware ``--fail-if``.
COMPARISON_SCHEMA_VERSION = "2"
COMPARISON_DATA_FILE = "comparison_data.json"

FailIfMode = Literal["significant", "point"]
FAIL_IF_MODES: tuple[FailIfMode, ...] = ("significant", "point")

Better = Literal["lower", "higher"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BenchRef(_Model):
    """Which bench a side of the comparison is."""

    source: str
    task_id: str
    label: str | None = None
    provider: str
    model: str | None = None
    emulated: bool = False
    runs: int
    overlay: dict[str, str] = Field(default_factory=dict)


class MetricComparison(_Model):
    """One metric in one scope (``global``, ``provider:NAME`` or ``task_type:TYPE``).

    ``unit`` says how to print the values (``rate``/``share`` are fractions, ``usd`` dollars);
    ``better`` which direction is an improvement (None: neither). The CI's method is
    ``estimate.method``.
    """

    metric: str
    scope: str
    description: str
    estimate: DiffEstimate
    unit: str | None = None
    better: Better | None = None


class FailResult(_Model):
    """The outcome of one ``--fail-if`` rule.

    ``mode`` is what decided (``significant``: point beyond the threshold *and* a significant
    change; ``point``: the point estimate alone). ``beyond_threshold`` and ``significant``
    are the two inputs (None: could not be computed); ``detail`` says why, in words.
    """

    expression: str
    triggered: bool
    value: float | None
    detail: str
    mode: FailIfMode = "point"
    beyond_threshold: bool | None = None
    significant: bool | None = None


class ComparisonData(_Model):
    """``comparison_data.json``.

    ``design`` is ``paired`` when both benches ran the same step ids (step-level and
    attempt-level metrics are then compared step by step), else ``independent``;
    ``design_note`` says why.
    """

    schema_version: str = COMPARISON_SCHEMA_VERSION
    kind: Literal["comparison"] = "comparison"
    a: BenchRef
    b: BenchRef
    rows: list[MetricComparison]
    fail_if: list[FailResult] = Field(default_factory=list)
    design: Literal["paired", "independent"] = "independent"
    design_note: str | None = None
    confidence: float = 0.95
    n_resamples: int | None = None
    seed: int | None = None
    fail_if_mode: FailIfMode | None = None

    def row(self, metric: str, scope: str = "global") -> MetricComparison | None:
        """The comparison of ``metric`` in ``scope``, if present."""
        return next((r for r in self.rows if r.metric == metric and r.scope == scope), None)
