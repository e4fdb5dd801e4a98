"""The focused-benchmark building blocks: pairs, headline tables, cache accounting inputs."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_report_model import make_data, make_run, make_step

from aetherflow.bench.compare import compare_benches
from aetherflow.bench.pairs import Pair, Side, bench_pair, headline_rows
from aetherflow.bench.prompt_cache import run_prompt_cache
from aetherflow.bench.runner import BenchSpec
from aetherflow.emulator.profile import cloud_profile
from aetherflow.errors import ConfigError
from aetherflow.providers.local import parse_prefix_reuse
from aetherflow.report.focused import headline_table
from aetherflow.results.bench import BenchmarkData


def _cached_bench(reads: list[int], total: int = 1000) -> BenchmarkData:
    steps = []
    for i, read in enumerate(reads):
        step = make_step(f"s{i}", [100.0 + i])
        usage = step.attempts[0].usage.model_copy(update={
            "input": step.attempts[0].usage.input.model_copy(update={"value": total}),
            "cache_read": step.attempts[0].usage.cache_read.model_copy(
                update={"value": read, "provenance": "server"})})
        step.attempts[0] = step.attempts[0].model_copy(update={"usage": usage})
        steps.append(step)
    return make_data([make_run("r1", steps), make_run("r2", steps)])


def test_parse_prefix_reuse_reads_llama_cpp_log_lines() -> None:
    line = "Llama.generate: 2610 prefix-match hit, remaining 81 prompt tokens to eval\n"
    assert parse_prefix_reuse("INFO: 127.0.0.1 POST /v1/chat/completions\n" + line) == 2610
    assert parse_prefix_reuse("no hit logged\n") == 0
    assert parse_prefix_reuse(line + line) is None  # two generations: not attributable


def test_cached_share_metric_known_truth() -> None:
    a, b = _cached_bench([0, 0, 0]), _cached_bench([0, 500, 1000])
    row = compare_benches(a, b).row("cached_input_share")
    assert row is not None
    assert row.estimate.a_value == 0.0
    assert row.estimate.b_value == pytest.approx(0.5)  # mean of 0, 0.5, 1.0 over both runs
    tokens = compare_benches(a, b).row("cached_tokens_mean")
    assert tokens is not None and tokens.estimate.b_value == pytest.approx(500.0)


def test_bench_pair_runs_a_then_b_and_writes_the_comparison(tmp_path: Path) -> None:
    seen: list[BenchSpec] = []
    resets: list[int] = []

    def execute(spec: BenchSpec) -> BenchmarkData:
        seen.append(spec)
        return _cached_bench([0, 0] if spec.overlay["cache"] == "off" else [0, 900])

    pair = bench_pair("p", Path("plan.json"), tmp_path, 2, Side({"cache": "off"}),
                      Side({"cache": "on"}), execute, before_each=lambda: resets.append(1))
    assert [s.output.name for s in seen] == ["A", "B"] and len(resets) == 2
    assert not (tmp_path / "comparison_report.md").exists()  # the report code writes it
    table = headline_table(headline_rows([pair], ["cached_tokens_mean", "nope"]))
    assert "| p | cached_tokens_mean | 0.00 | 450.00 | 450.00 |" in table
    assert "nope" not in table


def test_headline_table_says_why_a_ci_is_missing() -> None:
    one = make_data([make_run("r", [make_step("a", [100.0])])])
    pair = Pair(title="x", directory=Path("."), a=one, b=one,
                comparison=compare_benches(one, one))
    pair_rows = headline_rows([pair], ["cost_total"])
    assert "n/a (no CI: a cluster bootstrap needs at least 2 runs" in headline_table(pair_rows)


def test_headline_drops_server_rows_only_when_neither_side_measured_them() -> None:
    one = make_data([make_run("r", [make_step("a", [100.0])])])  # no server timings
    pair = Pair(title="x", directory=Path("."), a=one, b=one,
                comparison=compare_benches(one, one))
    metrics = ["ttft_p50", "server_prefill_mean"]
    assert [r.metric for r in headline_rows([pair], metrics)] == metrics  # kept as n/a
    kept = headline_rows([pair], metrics, only_if_measured=["server_prefill_mean"])
    assert [r.metric for r in kept] == ["ttft_p50"]


def test_prompt_cache_refuses_overlays_it_sets_itself(tmp_path: Path) -> None:
    def never(spec: BenchSpec) -> BenchmarkData:
        raise AssertionError("must not run")

    for bad in ({"cache": "on"}, {"provider": "openai"}):
        with pytest.raises(ConfigError, match="sets"):
            run_prompt_cache(Path("p.json"), tmp_path, 1, bad, never)
    with pytest.raises(ConfigError, match="nothing to run"):
        run_prompt_cache(Path("p.json"), tmp_path, 1, {}, never, providers=(), emulated=())


def test_cloud_profile_models_documented_cache_floors() -> None:
    profile = cloud_profile()
    floors = {p: profile.for_provider(p).cache.min_cached_tokens
              for p in ("openai", "anthropic", "deepseek", "gemini")}
    assert floors == {"openai": 1024, "anthropic": 1024, "deepseek": 64, "gemini": 1024}
    assert profile.for_provider("openai").cache.block_tokens == 128
    assert not profile.for_provider("mistral").cache.enabled


def test_prompt_cache_finding_says_na_never_zero_for_unmeasured_side() -> None:
    from aetherflow.report.focused import _cache_finding

    unmeasured = make_data([make_run(f"r{i}", [make_step("a", [100.0 + i])]) for i in (1, 2)])
    measured = _cached_bench([0, 900])
    pair = Pair(title="x", directory=Path("."), a=unmeasured, b=measured,
                comparison=compare_benches(unmeasured, measured))
    line = _cache_finding(pair.result(Path(".")))
    assert "cached share of input n/a defeated → 45% used" in line
    assert "0% defeated" not in line
