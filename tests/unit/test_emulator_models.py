"""Pure parts of the emulator: tokenizer, profiles, cache, latency, faults, replies, CLI."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

import aetherflow.emulator as emulator
from aetherflow.cli.emulate import register
from aetherflow.emulator import (
    CacheModel,
    EmulatorProfile,
    EmulatorServer,
    FaultRule,
    LatencyModelConfig,
    PrefixCache,
    ReplyRule,
    count_tokens,
    ensure_loopback,
    load_profile,
    plan_timing,
    tokenize,
)
from aetherflow.emulator.faults import FaultInjector
from aetherflow.emulator.replies import choose_reply, filler_tokens
from aetherflow.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "emulator"


# --------------------------------------------------------------------------- tokenizer
@given(st.text())
def test_tokens_concatenate_to_the_text(text: str) -> None:
    assert "".join(tokenize(text)) == text


def test_tokenizer_pieces() -> None:
    assert tokenize("def f(x):\n  return x") == [
        "def",
        " f",
        "(",
        "x",
        ")",
        ":",
        "\n  return",
        " x",
    ]
    assert count_tokens("") == 0 and count_tokens("a  ") == 2


# --------------------------------------------------------------------------- profiles
def test_example_profiles_load() -> None:
    files = sorted(EXAMPLES.glob("*.json")) + sorted(EXAMPLES.glob("*.toml"))
    assert files
    for file in files:
        assert isinstance(load_profile(file), EmulatorProfile)


def test_bad_profile_names_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"providers": {"openai": {"latency": {"ttft_base": 3}}}}))
    with pytest.raises(ConfigError, match=r"bad\.json: \$\.providers\.openai\.latency\.ttft_base"):
        load_profile(bad)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"seed": 1,', "line 1"),
        ('{"faults": [{"fault": "explode"}]}', r"\$\.faults\[0\]\.fault"),
        ('{"providers": {"acme": {}}}', "unknown provider"),
        ('{"replies": [{"reply": "x"}]}', "contains.*regex"),
    ],
)
def test_bad_profiles(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_profile(path)


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("seed = ")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_profile(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_profile(tmp_path / "missing.json")


def test_provider_profile_replaces_default() -> None:
    profile = EmulatorProfile.model_validate(
        {"default": {"default_output_tokens": 5}, "providers": {"groq": {"latency": {}}}}
    )
    assert profile.for_provider("openai").default_output_tokens == 5
    assert profile.for_provider("groq").default_output_tokens == 32


# --------------------------------------------------------------------------- cache
def test_prefix_cache_reads_longest_seen_block_prefix() -> None:
    cache, model = PrefixCache(), CacheModel(block_tokens=4)
    tokens = [f"t{i}" for i in range(10)]
    assert cache.access("openai", tokens, model).read_tokens == 0
    assert cache.lookup("openai", tokens, model) == 8
    assert cache.lookup("openai", [*tokens[:6], "x", "y", "z"], model) == 4
    assert cache.lookup("deepseek", tokens, model) == 0  # per provider
    assert cache.lookup("openai", tokens, CacheModel(block_tokens=4, min_cached_tokens=9)) == 0
    assert cache.lookup("openai", tokens, CacheModel(block_tokens=4, enabled=False)) == 0


def test_prefix_cache_reports_writes_once() -> None:
    cache, model = PrefixCache(), CacheModel(block_tokens=2)
    assert cache.access("anthropic", list("abcde"), model).written_tokens == 4
    again = cache.access("anthropic", list("abcdefg"), model)
    assert (again.read_tokens, again.written_tokens) == (4, 2)
    cache.reset()
    assert cache.lookup("anthropic", list("abcde"), model) == 0


# --------------------------------------------------------------------------- latency
def test_timing_follows_the_formula_without_jitter() -> None:
    cfg = LatencyModelConfig(
        ttft_base_ms=50, prefill_ms_per_input_token=1, decode_ms_per_output_token=5
    )
    plan = plan_timing(
        cfg,
        CacheModel(cached_prefill_fraction=0.5),
        random.Random(0),
        uncached_tokens=10,
        cached_tokens=20,
        output_tokens=4,
    )
    assert plan.ttft_s == pytest.approx(0.070)
    assert plan.token_offsets_s == pytest.approx((0.070, 0.075, 0.080, 0.085))
    assert plan_timing(cfg, CacheModel(), random.Random(0), 0, 0, 0).token_offsets_s == ()


@pytest.mark.parametrize("distribution", ["uniform", "normal"])
def test_jitter_is_seeded_and_never_negative(distribution: str) -> None:
    cfg = LatencyModelConfig.model_validate(
        {
            "ttft_base_ms": 1,
            "ttft_jitter_ms": 5,
            "decode_ms_per_output_token": 1,
            "decode_jitter_ms": 3,
            "jitter_distribution": distribution,
        }
    )
    a = plan_timing(cfg, CacheModel(), random.Random(1), 5, 0, 50)
    b = plan_timing(cfg, CacheModel(), random.Random(1), 5, 0, 50)
    assert a == b and a.ttft_s >= 0
    assert all(y >= x for x, y in itertools.pairwise(a.token_offsets_s))
    if distribution == "uniform":
        assert a.ttft_s <= 0.006


# --------------------------------------------------------------------------- faults & replies
def test_fault_injector_counts_and_caps() -> None:
    rules = [FaultRule(fault="reset", provider="groq", every=2, times=2)]
    inj = FaultInjector(rules, random.Random(0))
    got = [inj.choose(p, "") for p in ["groq", "openai", "groq", "groq", "groq", "groq"]]
    assert [r.fault if r else None for r in got] == [None, None, "reset", None, "reset", None]
    inj.reset()
    assert inj.choose("groq", "") is None and inj.choose("groq", "") is not None


def test_replies_and_filler() -> None:
    rules = [
        ReplyRule(regex=r"add\(", reply="A"),
        ReplyRule(contains="x", reply="B", provider="gemini"),
    ]
    assert choose_reply(rules, "openai", "def add(a)") == "A"
    assert choose_reply(rules, "openai", "x") is None
    assert choose_reply(rules, "gemini", "x") == "B"
    assert len(filler_tokens(100)) == 100 and filler_tokens(0) == []


# --------------------------------------------------------------------------- loopback & CLI
@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.5"])
def test_loopback_hosts_are_accepted(host: str) -> None:
    ensure_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.2", "example.com", "::"])
def test_other_hosts_are_refused(host: str) -> None:
    with pytest.raises(ConfigError, match="loopback"):
        ensure_loopback(host)
    with pytest.raises(ConfigError):
        EmulatorServer(host=host)


def _cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Test root."""

    register(app)
    return app


def test_cli_help() -> None:
    result = CliRunner().invoke(_cli(), ["emulate", "--help"])
    assert result.exit_code == 0
    for option in ("--port", "--host", "--profile", "--seed"):
        assert option in result.output


def test_cli_refuses_non_loopback_host() -> None:
    result = CliRunner().invoke(_cli(), ["emulate", "--host", "0.0.0.0"])
    assert isinstance(result.exception, ConfigError)


def test_cli_reports_bad_profile(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"sed": 1}')
    result = CliRunner().invoke(_cli(), ["emulate", "--port", "0", "--profile", str(bad)])
    assert isinstance(result.exception, ConfigError) and "$.sed" in str(result.exception)


def test_public_api_is_pinned() -> None:
    # Exports are lazy (importing the package loads no server): every name in __all__
    # resolves, and nothing else is exported.
    assert sorted(emulator.__all__) == sorted(emulator._EXPORTS)
    for name in emulator.__all__:
        assert getattr(emulator, name) is not None, name
