"""Benchmarks: repeat a plan (``bench``), run plan × variant grids (``suite``), compare two
benches, and the focused A/B benchmarks. This code produces results (the models of
:mod:`aetherflow.results`); :mod:`aetherflow.report` renders them."""

from aetherflow.bench.aggregate import compute_aggregates
from aetherflow.bench.compare import (
    METRICS,
    FailRule,
    compare_benches,
    evaluate_rules,
    parse_fail_if,
)
from aetherflow.bench.overlay import VALID_KEYS, apply_overlay, parse_overlay
from aetherflow.bench.runner import (
    BenchObserver,
    BenchSpec,
    build_benchmark_data,
    load_benchmark_data,
    run_bench_async,
    write_benchmark_data,
)
from aetherflow.bench.sources import bench_from_runs, resolve_bench
from aetherflow.bench.suite import (
    SuiteEntry,
    Variant,
    load_variants,
    resume_suite,
    run_suite,
    suite_data,
)

__all__ = [
    "METRICS",
    "VALID_KEYS",
    "BenchObserver",
    "BenchSpec",
    "FailRule",
    "SuiteEntry",
    "Variant",
    "apply_overlay",
    "bench_from_runs",
    "build_benchmark_data",
    "compare_benches",
    "compute_aggregates",
    "evaluate_rules",
    "load_benchmark_data",
    "load_variants",
    "parse_fail_if",
    "parse_overlay",
    "resolve_bench",
    "resume_suite",
    "run_bench_async",
    "run_suite",
    "suite_data",
    "write_benchmark_data",
]
