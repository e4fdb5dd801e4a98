"""Usage normalisation: every provider's documented example to the one convention
(normalised ``input`` includes cache reads and writes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aetherflow.providers.usage import (
    normalise_anthropic_usage,
    normalise_gemini_usage,
    normalise_mistral_usage,
    normalise_openai_usage,
    normalise_usage,
)

WIRE = Path(__file__).parents[1] / "fixtures" / "wire"


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((WIRE / name).read_text(encoding="utf-8"))
    return data


def test_openai_cached_tokens_are_a_subset_of_prompt_tokens() -> None:
    u = normalise_openai_usage(_load("openai_doc_example_usage.json"))
    assert (u.input.value, u.output.value, u.cache_read.value, u.cache_write.value) == (
        2006, 300, 1920, 0)
    assert u.uncached_input == 86
    assert u.input.provenance == "server"


def test_deepseek_hit_and_miss() -> None:
    u = normalise_openai_usage(_load("deepseek_doc_example_usage.json"))
    assert (u.input.value, u.cache_read.value, u.uncached_input) == (1216, 1152, 64)


def test_deepseek_without_prompt_tokens_sums_hit_and_miss() -> None:
    u = normalise_openai_usage({"prompt_cache_hit_tokens": 100, "prompt_cache_miss_tokens": 28,
                                "completion_tokens": 5})
    assert (u.input.value, u.cache_read.value, u.output.value) == (128, 100, 5)


def test_groq_usage() -> None:
    u = normalise_usage("groq", _load("groq_doc_example_usage.json"))
    assert (u.input.value, u.output.value, u.cache_read.value) == (41, 27, 0)
    assert u.cache_read.note  # says the provider reported no cache read


def test_mistral_usage() -> None:
    u = normalise_mistral_usage(_load("mistral_doc_example_usage.json"))
    assert (u.input.value, u.output.value, u.uncached_input) == (34, 100, 34)


def test_anthropic_input_re_includes_cache_tokens() -> None:
    u = normalise_anthropic_usage(_load("anthropic_doc_example_usage.json"))
    # input_tokens 29 excludes cache read (1) and cache creation (1): normalised input = 31.
    assert (u.input.value, u.cache_read.value, u.cache_write.value, u.output.value) == (
        31, 1, 1, 2)
    assert u.uncached_input == 29


def test_anthropic_missing_input_is_unknown_not_zero() -> None:
    u = normalise_anthropic_usage({"output_tokens": 15})
    assert u.input.value is None and u.input.note
    assert u.uncached_input is None


def test_gemini_cached_is_subset_and_thoughts_are_output() -> None:
    u = normalise_gemini_usage(_load("gemini_doc_example_usage.json"))
    assert (u.input.value, u.cache_read.value, u.uncached_input) == (2048, 1536, 512)
    assert u.output.value == 120 + 30
    assert u.cache_write.value == 0


def test_missing_fields_are_unknown() -> None:
    u = normalise_openai_usage({})
    assert u.input.value is None and u.output.value is None
    g = normalise_gemini_usage({"promptTokenCount": 8, "totalTokenCount": 8})
    assert g.input.value == 8 and g.output.value is None


def test_unknown_convention() -> None:
    with pytest.raises(ValueError):
        normalise_usage("nope", {})
