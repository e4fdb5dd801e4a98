"""Read any result AetherFlow writes, from its file or the directory that holds it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from aetherflow.errors import CorruptResultError, ResultNotFoundError, one_line_error
from aetherflow.results.bench import BENCH_DATA_FILE, BenchmarkData
from aetherflow.results.comparison import COMPARISON_DATA_FILE, ComparisonData
from aetherflow.results.focused import FOCUSED_DATA_FILE, FocusedData
from aetherflow.results.run import RUN_FILE, RunRecord
from aetherflow.results.suite import SUITE_DATA_FILE, SuiteData

__all__ = ["RESULT_FILES", "Result", "load_result", "result_file"]

Result = RunRecord | BenchmarkData | ComparisonData | SuiteData | FocusedData

#: Each result's file name and model, in the order a directory is searched: a focused
#: benchmark or a suite directory also holds comparisons, a bench directory holds runs.
RESULT_FILES: tuple[tuple[str, type[BaseModel]], ...] = (
    (FOCUSED_DATA_FILE, FocusedData),
    (SUITE_DATA_FILE, SuiteData),
    (BENCH_DATA_FILE, BenchmarkData),
    (COMPARISON_DATA_FILE, ComparisonData),
    (RUN_FILE, RunRecord),
)


def result_file(path: Path) -> Path:
    """The result file ``path`` names: itself when it is a file, else the first of
    :data:`RESULT_FILES` in that directory."""
    if path.is_file():
        return path
    if not path.is_dir():
        raise ResultNotFoundError(f"{path}: not found")
    for name, _ in RESULT_FILES:
        if (path / name).is_file():
            return path / name
    names = ", ".join(name for name, _ in RESULT_FILES)
    raise ResultNotFoundError(f"{path}: holds no AetherFlow result ({names})")


def load_result(path: Path) -> Result:
    """The result in ``path`` (a result file, or a directory holding one), validated.

    A missing file is "not found"; one that is not JSON, or not a valid result of its kind,
    is "corrupt", in one line. A ``benchmark_data.json`` of schema 1 (written before checks
    were executed) is re-aggregated from its runs by the bench code.
    """
    file = result_file(path)
    try:
        raw: Any = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CorruptResultError(f"{file}: corrupt (not JSON: {exc})") from None
    model = dict(RESULT_FILES).get(file.name) or _by_kind(raw)
    if model is None:
        raise CorruptResultError(f"{file}: not an AetherFlow result (no known kind)")
    if model is BenchmarkData and isinstance(raw, dict) and raw.get("schema_version") == "1":
        # The migration needs the aggregator, which lives with the bench code.
        from aetherflow.bench.runner import load_benchmark_data

        return load_benchmark_data(file)
    try:
        return model.model_validate(raw)  # type: ignore[return-value]
    except ValidationError as exc:
        raise CorruptResultError(f"{file}: corrupt ({one_line_error(exc)})") from None


def _by_kind(raw: Any) -> type[BaseModel] | None:
    """The model of a renamed result file, by its ``kind`` (a run record has none)."""
    kinds: dict[str, type[BaseModel]] = {"bench": BenchmarkData, "comparison": ComparisonData,
                                         "suite": SuiteData, "focused": FocusedData}
    if not isinstance(raw, dict):
        return None
    kind = raw.get("kind")
    if isinstance(kind, str):
        return kinds.get(kind)
    return RunRecord if "steps" in raw and "run_id" in raw else None
