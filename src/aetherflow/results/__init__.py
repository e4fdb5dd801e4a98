"""Every result AetherFlow writes, as versioned pydantic models: the one source of truth that
every view (terminal, Markdown, HTML, PNG) renders and ``aetherflow report`` re-renders.

* :mod:`~aetherflow.results.run` -- ``run.json``: one run of one plan (:class:`RunRecord`);
* :mod:`~aetherflow.results.bench` -- ``benchmark_data.json``: a plan repeated
  (:class:`BenchmarkData`);
* :mod:`~aetherflow.results.comparison` -- ``comparison_data.json``: two benches compared
  (:class:`ComparisonData`);
* :mod:`~aetherflow.results.suite` -- ``suite_data.json``: plans x variants
  (:class:`SuiteData`);
* :mod:`~aetherflow.results.focused` -- ``focused_data.json``: a focused benchmark's pairs
  and headline (:class:`FocusedData`);
* :func:`~aetherflow.results.load.load_result` reads any of them by its ``kind``.

The benchmark code produces these; the report code renders them; neither imports the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aetherflow._lazy import lazy_exports

if TYPE_CHECKING:
    from aetherflow.results.bench import BenchmarkData
    from aetherflow.results.comparison import ComparisonData
    from aetherflow.results.focused import FocusedData
    from aetherflow.results.load import Result, load_result
    from aetherflow.results.run import RunRecord
    from aetherflow.results.suite import SuiteData

__all__ = [
    "BenchmarkData",
    "ComparisonData",
    "FocusedData",
    "Result",
    "RunRecord",
    "SuiteData",
    "load_result",
]

_EXPORTS = {
    "BenchmarkData": "aetherflow.results.bench",
    "ComparisonData": "aetherflow.results.comparison",
    "FocusedData": "aetherflow.results.focused",
    "Result": "aetherflow.results.load",
    "RunRecord": "aetherflow.results.run",
    "SuiteData": "aetherflow.results.suite",
    "load_result": "aetherflow.results.load",
}


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
