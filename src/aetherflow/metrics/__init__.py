"""Measurement: the request timeline every latency is derived from, the statistics every
report and comparison uses (docs/statistics.md), and the machine's state at measurement
time. Exports load on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aetherflow._lazy import lazy_exports

if TYPE_CHECKING:
    from aetherflow.metrics.environment import capture_environment, sample_load
    from aetherflow.metrics.stats import DiffEstimate, Distribution, summarize
    from aetherflow.metrics.timeline import RequestTimeline

__all__ = ["DiffEstimate", "Distribution", "RequestTimeline", "capture_environment",
           "sample_load", "summarize"]

_EXPORTS = {
    "DiffEstimate": "aetherflow.metrics.stats",
    "Distribution": "aetherflow.metrics.stats",
    "summarize": "aetherflow.metrics.stats",
    "RequestTimeline": "aetherflow.metrics.timeline",
    "capture_environment": "aetherflow.metrics.environment",
    "sample_load": "aetherflow.metrics.environment",
}
__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
