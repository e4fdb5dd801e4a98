"""AetherFlow: run LLM code-generation plans across providers and measure everything.

The Python API (:mod:`aetherflow.api`) is exported here: ``aetherflow.run_plan``,
``run_bench``, ``compare`` and ``run_suite``, each with an async twin, their result types,
:class:`~aetherflow.execution.runner.RunOptions`, and
:func:`~aetherflow.results.load.load_result` to read any result file::

    import aetherflow

    result = aetherflow.run_plan("examples/plans/calculator.json", max_tokens=128)

This module stays light: every ``aetherflow`` command imports it first, so each export (and
the version, read from the package metadata) is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aetherflow._lazy import lazy_exports

if TYPE_CHECKING:  # type checkers see the real signatures; at run time they load lazily
    from aetherflow.api import (
        BenchResult,
        ComparisonResult,
        RunResult,
        SuiteResult,
        compare,
        compare_async,
        run_bench,
        run_bench_async,
        run_plan,
        run_plan_async,
        run_suite,
        run_suite_async,
    )
    from aetherflow.errors import AetherFlowError
    from aetherflow.execution.runner import RunOptions
    from aetherflow.results.load import load_result

__all__ = [
    "AetherFlowError",
    "BenchResult",
    "ComparisonResult",
    "RunOptions",
    "RunResult",
    "SuiteResult",
    "__version__",
    "compare",
    "compare_async",
    "load_result",
    "run_bench",
    "run_bench_async",
    "run_plan",
    "run_plan_async",
    "run_suite",
    "run_suite_async",
]

#: Where each export lives (imported on first use).
_EXPORTS = {
    "AetherFlowError": "aetherflow.errors",
    "RunOptions": "aetherflow.execution.runner",
    "load_result": "aetherflow.results.load",
    **{name: "aetherflow.api" for name in (
        "BenchResult", "ComparisonResult", "RunResult", "SuiteResult", "compare",
        "compare_async", "run_bench", "run_bench_async", "run_plan", "run_plan_async",
        "run_suite", "run_suite_async")},
}
_export = lazy_exports(__name__, _EXPORTS, globals())


def __getattr__(name: str) -> Any:
    """Each export, imported on first use; ``__version__`` from the package metadata."""
    if name != "__version__":
        return _export(name)
    from importlib.metadata import PackageNotFoundError, version

    try:
        value = version("aetherflow")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        value = "0.0.0+source"
    globals()[name] = value
    return value
