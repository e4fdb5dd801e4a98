"""Cost = uncached input × input + cache reads × read + cache writes × write + output × output.

Hand-computed figures use an override table (prices in USD per million tokens) so they do
not depend on genai-prices data drift.
"""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import genai_prices
import pytest

from aetherflow.errors import ConfigError
from aetherflow.providers.pricing import (
    LOCAL_PRICE_SOURCE,
    UNKNOWN_PRICE_DATE,
    load_price_overrides,
    price_attempt,
)
from aetherflow.providers.usage import (
    normalise_anthropic_usage,
    normalise_gemini_usage,
    normalise_mistral_usage,
    normalise_openai_usage,
)
from aetherflow.results.run import TokenCount, Usage

OVERRIDES_TOML = """
date = "2025-06-01"

[openai."gpt-4o-mini"]
input = 0.15
cached_input = 0.075
output = 0.60

[deepseek."deepseek-chat"]
input = 0.27
cached_input = 0.07
output = 1.10

[groq."llama-3.3-70b-versatile"]
input = 0.59
output = 0.79

[mistral."codestral-latest"]
input = 0.30
output = 0.90

[anthropic."claude-haiku-4-5"]
input = 1.00
cached_input = 0.10
cache_write = 1.25
output = 5.00

[gemini."gemini-2.5-flash"]
input = 0.30
cached_input = 0.03
output = 2.50
"""


@pytest.fixture
def overrides_path(tmp_path: Path) -> Path:
    path = tmp_path / "prices.toml"
    path.write_text(OVERRIDES_TOML, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pricing must never touch the network (genai-prices auto-update stays off)."""
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("pricing tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _server(value: int) -> TokenCount:
    return TokenCount(value=value, provenance="server")


def _usage(inp: int, out: int, read: int = 0, write: int = 0) -> Usage:
    return Usage(input=_server(inp), output=_server(out), cache_read=_server(read),
                 cache_write=_server(write))


def test_openai_hand_computed(overrides_path: Path) -> None:
    ov = load_price_overrides(overrides_path)
    usage = normalise_openai_usage({"prompt_tokens": 2006, "completion_tokens": 300,
                                    "prompt_tokens_details": {"cached_tokens": 1920}})
    cost = price_attempt("openai", "gpt-4o-mini", usage, overrides=ov)
    # (2006-1920)×0.15 + 1920×0.075 + 300×0.60 = 12.9 + 144 + 180 = 336.9 per 1e6
    assert cost.total_usd == pytest.approx(336.9e-6)
    assert cost.input_usd == pytest.approx(12.9e-6)
    assert cost.cache_read_usd == pytest.approx(144e-6)
    assert cost.output_usd == pytest.approx(180e-6)
    assert cost.price_source == f"override file {overrides_path}"
    assert cost.price_date == "2025-06-01"


def test_deepseek_hand_computed(overrides_path: Path) -> None:
    usage = normalise_openai_usage({"prompt_tokens": 1216, "completion_tokens": 12,
                                    "prompt_cache_hit_tokens": 1152,
                                    "prompt_cache_miss_tokens": 64})
    cost = price_attempt("deepseek", "deepseek-chat", usage,
                         overrides=load_price_overrides(overrides_path))
    # 64×0.27 + 1152×0.07 + 12×1.10 = 17.28 + 80.64 + 13.2 = 111.12 per 1e6
    assert cost.total_usd == pytest.approx(111.12e-6)


def test_groq_hand_computed(overrides_path: Path) -> None:
    usage = normalise_openai_usage({"prompt_tokens": 41, "completion_tokens": 27})
    cost = price_attempt("groq", "llama-3.3-70b-versatile", usage,
                         overrides=load_price_overrides(overrides_path))
    # 41×0.59 + 27×0.79 = 24.19 + 21.33 = 45.52 per 1e6
    assert cost.total_usd == pytest.approx(45.52e-6)


def test_mistral_hand_computed(overrides_path: Path) -> None:
    usage = normalise_mistral_usage({"prompt_tokens": 34, "completion_tokens": 100})
    cost = price_attempt("mistral", "codestral-latest", usage,
                         overrides=load_price_overrides(overrides_path))
    # 34×0.30 + 100×0.90 = 10.2 + 90 = 100.2 per 1e6
    assert cost.total_usd == pytest.approx(100.2e-6)


def test_anthropic_hand_computed(overrides_path: Path) -> None:
    usage = normalise_anthropic_usage({"input_tokens": 50, "cache_read_input_tokens": 2000,
                                       "cache_creation_input_tokens": 1000,
                                       "output_tokens": 200})
    cost = price_attempt("anthropic", "claude-haiku-4-5", usage,
                         overrides=load_price_overrides(overrides_path))
    # 50×1.00 + 2000×0.10 + 1000×1.25 + 200×5.00 = 50 + 200 + 1250 + 1000 = 2500 per 1e6
    assert cost.total_usd == pytest.approx(2500e-6)
    assert cost.cache_write_usd == pytest.approx(1250e-6)


def test_gemini_hand_computed(overrides_path: Path) -> None:
    usage = normalise_gemini_usage({"promptTokenCount": 2048, "cachedContentTokenCount": 1536,
                                    "candidatesTokenCount": 120, "thoughtsTokenCount": 30})
    cost = price_attempt("gemini", "gemini-2.5-flash", usage,
                         overrides=load_price_overrides(overrides_path))
    # (2048-1536)×0.30 + 1536×0.03 + (120+30)×2.50 = 153.6 + 46.08 + 375 = 574.68 per 1e6
    assert cost.total_usd == pytest.approx(574.68e-6)


def test_missing_cache_read_price_falls_back_to_input_price(overrides_path: Path) -> None:
    cost = price_attempt("groq", "llama-3.3-70b-versatile", _usage(100, 10, read=40),
                         overrides=load_price_overrides(overrides_path))
    # 60×0.59 + 40×0.59 + 10×0.79 = 35.4 + 23.6 + 7.9 = 66.9 per 1e6
    assert cost.total_usd == pytest.approx(66.9e-6)
    assert cost.note and "input price" in cost.note


def test_genai_prices_offline_for_well_known_model() -> None:
    usage = _usage(1000, 100, read=200)
    cost = price_attempt("openai", "gpt-4o-mini", usage)
    assert cost.total_usd is not None and cost.total_usd > 0
    assert cost.price_source is not None
    assert cost.price_source.startswith(f"genai-prices {genai_prices.__version__}")
    assert cost.price_date


@pytest.mark.parametrize(("provider", "model", "usage"), [
    ("openai", "gpt-4o-mini", _usage(1000, 100, read=200)),
    ("anthropic", "claude-sonnet-4-5", _usage(1150, 10, read=1000, write=50)),
    ("anthropic", "claude-sonnet-4-5", _usage(250_000, 10, read=1000, write=50)),  # top tier
])
def test_formula_matches_genai_prices_calc(provider: str, model: str, usage: Usage) -> None:
    at = datetime.now(tz=UTC)
    ours = price_attempt(provider, model, usage, at=at)
    theirs = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=usage.input.value, output_tokens=usage.output.value,
                           cache_read_tokens=usage.cache_read.value,
                           cache_write_tokens=usage.cache_write.value),
        model, provider_id=provider, genai_request_timestamp=at)
    assert ours.total_usd == pytest.approx(float(theirs.total_price))


def test_unknown_model_is_none_not_zero() -> None:
    cost = price_attempt("openai", "no-such-model-xyz", _usage(10, 10))
    assert cost.total_usd is None
    assert cost.note == "no price for openai/no-such-model-xyz"
    generic = price_attempt("openai-compatible", "qwen", _usage(10, 10))
    assert generic.total_usd is None and generic.note == "no price for openai-compatible/qwen"


def test_local_is_free_and_says_so() -> None:
    cost = price_attempt("local", "SmolLM2-135M-Instruct", Usage())
    assert cost.total_usd == 0.0
    assert cost.price_source == LOCAL_PRICE_SOURCE == "local model: no per-token charge"


def test_a_cut_stream_is_priced_from_what_is_known_as_a_lower_bound(
        overrides_path: Path) -> None:
    """Output known (e.g. counted chunks), input unknown: the output part, marked a lower
    bound with the provenance; never null, never pretending to be the whole cost."""
    usage = Usage(output=TokenCount(value=1_000_000, provenance="chunk_count"))
    cost = price_attempt("groq", "llama-3.3-70b-versatile", usage,
                         overrides=load_price_overrides(overrides_path))
    assert cost.total_usd == pytest.approx(0.79) and cost.output_usd == pytest.approx(0.79)
    assert cost.lower_bound and cost.input_usd is None
    assert cost.note is not None and "lower bound" in cost.note and "chunk_count" in cost.note


def test_unknown_output_cannot_be_priced(overrides_path: Path) -> None:
    usage = Usage(input=TokenCount(value=5, provenance="server"))
    cost = price_attempt("groq", "llama-3.3-70b-versatile", usage,
                         overrides=load_price_overrides(overrides_path))
    assert cost.total_usd is None and cost.note == "output tokens unknown: cannot price"


def test_override_file_json(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"openai": {"gpt-x": {"input": 1, "output": 2}}}),
                    encoding="utf-8")
    cost = price_attempt("openai", "gpt-x", _usage(1_000_000, 500_000),
                         overrides=load_price_overrides(path))
    assert cost.total_usd == pytest.approx(1.0 + 1.0)
    assert cost.price_source == f"override file {path}"


def test_override_file_errors_name_the_path(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text('[openai."gpt-x"]\ninput = 1\noutput = 2\ncached = 0.5\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"openai\.gpt-x\.cached"):
        load_price_overrides(path)
    path.write_text('[openai."gpt-x"]\ninput = -1\noutput = 2\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"openai\.gpt-x\.input"):
        load_price_overrides(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_price_overrides(tmp_path / "missing.toml")


def test_override_without_date_records_unknown(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text('[openai."gpt-x"]\ninput = 1\noutput = 2\n', encoding="utf-8")
    cost = price_attempt("openai", "gpt-x", _usage(10, 10), overrides=load_price_overrides(path))
    assert cost.price_date == UNKNOWN_PRICE_DATE == "unknown"  # not today's date


def test_genai_prices_date_is_the_pricing_day() -> None:
    at = datetime(2025, 3, 1, tzinfo=UTC)
    cost = price_attempt("openai", "gpt-4o-mini", _usage(1000, 100), at=at)
    assert cost.price_date == "2025-03-01"


def test_unreported_cache_reads_price_as_uncached_and_say_so(overrides_path: Path) -> None:
    # Groq's documented usage has no cached-token field: reads unknown -> upper bound.
    usage = normalise_openai_usage({"prompt_tokens": 41, "completion_tokens": 27}, "groq")
    cost = price_attempt("groq", "llama-3.3-70b-versatile", usage,
                         overrides=load_price_overrides(overrides_path))
    assert cost.total_usd == pytest.approx(45.52e-6)
    assert cost.note == ("cache reads not reported: all input priced as uncached "
                         "(an upper bound)")


def test_unreported_cache_writes_without_a_write_price_are_exact(overrides_path: Path) -> None:
    usage = normalise_openai_usage({"prompt_tokens": 2006, "completion_tokens": 300,
                                    "prompt_tokens_details": {"cached_tokens": 1920}})
    assert usage.cache_write.value is None
    cost = price_attempt("openai", "gpt-4o-mini", usage,
                         overrides=load_price_overrides(overrides_path))
    assert cost.note is None  # OpenAI bills no separate cache write: nothing is guessed


def test_unreported_cache_writes_with_a_write_price_are_noted(overrides_path: Path) -> None:
    usage = normalise_anthropic_usage({"input_tokens": 50, "output_tokens": 200,
                                       "cache_read_input_tokens": 0})
    cost = price_attempt("anthropic", "claude-haiku-4-5", usage,
                         overrides=load_price_overrides(overrides_path))
    assert cost.total_usd == pytest.approx((50 * 1.00 + 200 * 5.00) * 1e-6)
    assert cost.note is not None and "cache writes not reported" in cost.note
