"""Benchmarks: repeat a plan (``bench``), run plan × variant grids (``suite``), compare."""

from aetherflow.bench.aggregate import compute_aggregates
from aetherflow.bench.compare import (
    METRICS,
    ComparisonData,
    FailRule,
    compare_benches,
    evaluate_rules,
    parse_fail_if,
)
from aetherflow.bench.overlay import VALID_KEYS, apply_overlay, parse_overlay
from aetherflow.bench.runner import (
    BENCH_DATA_FILE,
    BenchObserver,
    BenchSpec,
    build_benchmark_data,
    load_benchmark_data,
    run_bench_async,
    write_benchmark_data,
)
from aetherflow.bench.sources import bench_from_runs, resolve_bench
from aetherflow.results.bench import BENCH_SCHEMA_VERSION, BenchmarkData, BenchMeta, Thresholds

__all__ = [
    "BENCH_DATA_FILE",
    "BENCH_SCHEMA_VERSION",
    "METRICS",
    "VALID_KEYS",
    "BenchMeta",
    "BenchObserver",
    "BenchSpec",
    "BenchmarkData",
    "ComparisonData",
    "FailRule",
    "Thresholds",
    "apply_overlay",
    "bench_from_runs",
    "build_benchmark_data",
    "compare_benches",
    "compute_aggregates",
    "evaluate_rules",
    "load_benchmark_data",
    "parse_fail_if",
    "parse_overlay",
    "resolve_bench",
    "run_bench_async",
    "write_benchmark_data",
]
