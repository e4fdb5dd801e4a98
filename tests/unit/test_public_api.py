"""The public surface is pinned: ``aetherflow.__all__`` and the exports of every public
subpackage change only on purpose (edit this list in the same commit, and say so in the
changelog), every export resolves, and ``import aetherflow`` stays light."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PUBLIC: dict[str, list[str]] = {
    'aetherflow': [
        'AetherFlowError', 'BenchResult', 'ComparisonResult', 'RunOptions', 'RunResult',
        'SuiteResult', '__version__', 'compare', 'compare_async', 'load_result', 'run_bench',
        'run_bench_async', 'run_plan', 'run_plan_async', 'run_suite', 'run_suite_async',
    ],
    'aetherflow.api': [
        'BenchResult', 'ComparisonResult', 'RunResult', 'SuiteResult', 'bench_spec_async',
        'compare', 'compare_async', 'run_bench', 'run_bench_async', 'run_plan', 'run_plan_async',
        'run_suite', 'run_suite_async',
    ],
    'aetherflow.bench': [
        'BenchObserver', 'BenchSpec', 'FailRule', 'METRICS', 'SuiteEntry', 'VALID_KEYS',
        'Variant', 'apply_overlay', 'bench_from_runs', 'build_benchmark_data', 'compare_benches',
        'compute_aggregates', 'evaluate_rules', 'load_benchmark_data', 'load_variants',
        'parse_fail_if', 'parse_overlay', 'resolve_bench', 'resume_suite', 'run_bench_async',
        'run_suite', 'suite_data', 'write_benchmark_data',
    ],
    'aetherflow.emulator': [
        'BASE_PATHS', 'CacheModel', 'CacheOutcome', 'EmulatorProcess', 'EmulatorProfile',
        'EmulatorServer', 'FaultKind', 'FaultRule', 'LatencyModelConfig', 'PROVIDERS',
        'PrefixCache', 'ProviderProfile', 'ReplyRule', 'RequestRecord', 'TimingPlan',
        'build_app', 'count_tokens', 'describe', 'ensure_loopback', 'load_profile',
        'plan_timing', 'profile_from_data', 'run_emulator_in_subprocess', 'serve_forever',
        'sleep_until', 'tokenize',
    ],
    'aetherflow.execution': [
        'ExecutionSettings', 'NullObserver', 'PlanExecutor', 'ProviderPool', 'RunObserver',
        'RunOptions', 'backoff_delay', 'run_plan', 'run_plan_async',
    ],
    'aetherflow.metrics': [
        'DiffEstimate', 'Distribution', 'RequestTimeline', 'capture_environment', 'sample_load',
        'summarize',
    ],
    'aetherflow.plan': [
        'Criterion', 'PatchSpec', 'Plan', 'PlanCheck', 'PlanProblem', 'Step', 'StepContext',
        'StepType', 'check_plan', 'check_plan_file', 'critical_path', 'find_cycle', 'load_plan',
        'parse_plan', 'plan_json_schema', 'plan_warnings', 'topological_batches',
    ],
    'aetherflow.providers': [
        'ChatMessage', 'ChatRequest', 'ENTRY_POINT_GROUP', 'ErrorEvent', 'Finish', 'Provider',
        'ProviderRegistry', 'ProviderSettings', 'ProviderSpec', 'StreamEvent', 'TextDelta',
        'UsageReport', 'create_provider', 'provider_names', 'register_provider',
    ],
    'aetherflow.report': [
        'Answer', 'HTML_REPORT', 'MD_REPORT', 'analyse', 'render_html', 'render_markdown',
        'render_terminal', 'write_bench_reports',
    ],
    'aetherflow.results': [
        'BenchmarkData', 'ComparisonData', 'FocusedData', 'Result', 'RunRecord', 'SuiteData',
        'load_result',
    ],
    'aetherflow.store': [
        'AmbiguousReferenceError', 'BUSY_TIMEOUT_MS', 'BenchSummary', 'BusyPolicy',
        'CorruptRecordError', 'DB_FILENAME', 'HOME_ENV_VAR', 'HistoryError', 'HistoryStore',
        'MIGRATIONS', 'ResolvedRef', 'RunNotFoundError', 'RunSummary', 'SavedRun', 'data_dir',
        'default_db_path', 'migrate', 'short_run_id', 'validation_summary',
    ],
    'aetherflow.transport': [
        'SSEDecoder', 'SSEEvent', 'TimedSession', 'iter_sse', 'parse_retry_after',
        'parse_sse_bytes', 'parse_sse_lines',
    ],
    'aetherflow.validation': [
        'LimitHit', 'Sandbox', 'SandboxLimits', 'SandboxMode', 'SandboxResult', 'get_sandbox',
        'scrub_secrets',
    ],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_exports_are_pinned_and_resolve(module: str) -> None:
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == PUBLIC[module]
    for name in mod.__all__:
        assert getattr(mod, name) is not None, f"{module}.{name}"


def test_top_level_api_is_the_api_module() -> None:
    import aetherflow
    import aetherflow.api as api

    for name in ("run_plan", "run_plan_async", "run_bench", "run_bench_async", "compare",
                 "compare_async", "run_suite", "run_suite_async"):
        assert getattr(aetherflow, name) is getattr(api, name)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        aetherflow.nope  # noqa: B018


def test_import_aetherflow_loads_no_engine() -> None:
    """The CLI imports the package on every start: the exports load on first use."""
    code = ("import sys, aetherflow, aetherflow.results, aetherflow.providers, "
            "aetherflow.metrics; "
            "print(sorted(m for m in sys.modules if m.startswith(('aetherflow.', 'numpy', "
            "'aiohttp', 'pydantic'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == ("['aetherflow._lazy', 'aetherflow.metrics', "
                           "'aetherflow.providers', 'aetherflow.results']")


def test_the_run_path_loads_no_bench_statistics_or_emulator_server() -> None:
    """`aetherflow run` pays for what a run needs only: the bench, comparison and
    statistics code (numpy) and the emulator's server stay unloaded, --emulator included."""
    code = ("import sys, aetherflow.api\n"
            "from aetherflow.config import emulated_provider_settings\n"
            "emulated_provider_settings('openai', 'http://127.0.0.1:1')\n"
            "print(sorted(m for m in sys.modules if m.startswith(('aetherflow.bench', "
            "'aetherflow.emulator.server', 'aetherflow.metrics.stats', 'numpy'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
