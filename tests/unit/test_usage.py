"""Usage normalisation: every provider's documented example to the one convention
(normalised ``input`` includes cache reads and writes), and absent means unknown: a 0 is
recorded only when the server sent it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aetherflow.providers.base import StreamEvent, UsageReport
from aetherflow.providers.usage import (
    normalise_anthropic_usage,
    normalise_gemini_usage,
    normalise_mistral_usage,
    normalise_openai_usage,
    normalise_usage,
    token_count,
)
from aetherflow.providers.wire import OpenAIChunkParser, parse_sse_text, replay

WIRE = Path(__file__).parents[1] / "fixtures" / "wire"


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((WIRE / name).read_text(encoding="utf-8"))
    return data


def _stream_usage(name: str, provider: str) -> UsageReport:
    events = parse_sse_text((WIRE / name).read_text(encoding="utf-8"))
    out: list[StreamEvent] = replay(OpenAIChunkParser(provider), events)
    reports = [e for e in out if isinstance(e, UsageReport)]
    assert len(reports) == 1
    return reports[0]


def test_openai_cached_tokens_are_a_subset_of_prompt_tokens() -> None:
    u = normalise_openai_usage(_load("openai_doc_example_usage.json"), "openai")
    assert (u.input.value, u.output.value, u.cache_read.value) == (2006, 300, 1920)
    assert u.uncached_input == 86
    assert u.input.provenance == u.cache_read.provenance == "server"
    # OpenAI has no cache-write field: unknown, not a measured 0.
    assert u.cache_write.value is None and u.cache_write.provenance is None
    assert u.cache_write.note is not None and "openai" in u.cache_write.note


def test_vllm_without_cached_tokens_is_unknown_not_zero() -> None:
    """vLLM's recorded usage has ``prompt_tokens_details: null``: cache reads unknown."""
    u = _stream_usage("vllm_stream.txt", "openai-compatible").usage
    assert (u.input.value, u.output.value) == (29, 100)
    assert u.cache_read.value is None and u.cache_read.provenance is None
    note = u.cache_read.note or ""
    assert "prompt_tokens_details.cached_tokens" in note and "openai-compatible" in note
    assert u.uncached_input == 29  # billed as all uncached: the honest upper bound


def test_ollama_without_details_is_unknown_not_zero() -> None:
    u = _stream_usage("ollama_stream.txt", "ollama").usage
    assert (u.input.value, u.output.value) == (32, 4)
    assert u.cache_read.value is None
    assert "ollama" in (u.cache_read.note or "")


def test_sent_zero_is_a_measurement() -> None:
    """Newer Ollama sends ``prompt_tokens_details: {"cached_tokens": 0}``: that 0 counts."""
    u = normalise_openai_usage({"prompt_tokens": 13889, "completion_tokens": 33,
                                "prompt_tokens_details": {"cached_tokens": 0}}, "ollama")
    assert (u.cache_read.value, u.cache_read.provenance) == (0, "server")
    null = normalise_openai_usage({"prompt_tokens": 5, "completion_tokens": 1,
                                   "prompt_tokens_details": {"cached_tokens": None}})
    assert null.cache_read.value is None


def test_deepseek_hit_and_miss() -> None:
    u = normalise_openai_usage(_load("deepseek_doc_example_usage.json"))
    assert (u.input.value, u.cache_read.value, u.uncached_input) == (1216, 1152, 64)


def test_deepseek_without_prompt_tokens_sums_hit_and_miss() -> None:
    u = normalise_openai_usage({"prompt_cache_hit_tokens": 100, "prompt_cache_miss_tokens": 28,
                                "completion_tokens": 5})
    assert (u.input.value, u.cache_read.value, u.output.value) == (128, 100, 5)


def test_groq_usage() -> None:
    u = normalise_usage("groq", _load("groq_doc_example_usage.json"))
    assert (u.input.value, u.output.value) == (41, 27)
    # Groq's documented x_groq.usage has no cached-token field: unknown, named as such.
    assert u.cache_read.value is None
    assert u.cache_read.note == ("groq: usage has no prompt_tokens_details.cached_tokens field "
                                 "(the server does not report prompt-cache reads)")


def test_groq_stream_x_groq_usage_cache_read_unknown() -> None:
    u = _stream_usage("groq_doc_example_stream.txt", "groq").usage
    assert (u.input.value, u.output.value, u.cache_read.value) == (18, 439, None)


def test_groq_cached_tokens_when_sent() -> None:
    """Groq's caching models report ``prompt_tokens_details.cached_tokens``."""
    u = normalise_usage("groq", {"prompt_tokens": 2100, "completion_tokens": 9,
                                 "prompt_tokens_details": {"cached_tokens": 1792}})
    assert (u.cache_read.value, u.uncached_input) == (1792, 308)


def test_mistral_usage() -> None:
    u = normalise_mistral_usage(_load("mistral_doc_example_usage.json"))
    assert (u.input.value, u.output.value, u.uncached_input) == (34, 100, 34)
    assert u.cache_read.value is None and "mistral" in (u.cache_read.note or "")
    cached = normalise_mistral_usage({"prompt_tokens": 640, "completion_tokens": 3,
                                      "prompt_tokens_details": {"cached_tokens": 576}})
    assert (cached.cache_read.value, cached.uncached_input) == (576, 64)


def test_deepseek_stream_is_measured() -> None:
    u = _stream_usage("deepseek_doc_example_stream.txt", "deepseek").usage
    assert (u.cache_read.value, u.cache_read.provenance) == (1152, "server")


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


def test_anthropic_explicit_zero_is_measured_absent_is_unknown() -> None:
    # The recorded stream's message_start sends both cache fields as 0: measured.
    sent = normalise_anthropic_usage({"input_tokens": 36, "cache_creation_input_tokens": 0,
                                      "cache_read_input_tokens": 0, "output_tokens": 265})
    assert (sent.cache_read.value, sent.cache_read.provenance) == (0, "server")
    assert (sent.cache_write.value, sent.cache_write.provenance) == (0, "server")
    # The documented older example omits them: unknown, and the input says what it lacks.
    absent = normalise_anthropic_usage({"input_tokens": 25, "output_tokens": 15})
    assert absent.cache_read.value is None and absent.cache_write.value is None
    assert absent.cache_read.note == "anthropic: usage has no cache_read_input_tokens field"
    assert absent.input.value == 25
    assert "cache_read_input_tokens" in (absent.input.note or "")


def test_gemini_cached_is_subset_and_thoughts_are_output() -> None:
    u = normalise_gemini_usage(_load("gemini_doc_example_usage.json"))
    assert (u.input.value, u.cache_read.value, u.uncached_input) == (2048, 1536, 512)
    assert u.output.value == 120 + 30
    assert u.cache_write.value is None  # Gemini has no cache-write field


def test_gemini_omitted_cached_count_is_protobuf_zero() -> None:
    """proto3 JSON omits a zero int32: with promptTokenCount present, no
    cachedContentTokenCount means the server reported 0 (the documented stream)."""
    u = normalise_gemini_usage({"promptTokenCount": 8, "candidatesTokenCount": 8,
                                "totalTokenCount": 16})
    assert (u.cache_read.value, u.cache_read.provenance) == (0, "server")
    assert "proto3" in (u.cache_read.note or "")
    empty = normalise_gemini_usage({})
    assert empty.cache_read.value is None  # nothing was reported at all


def test_missing_fields_are_unknown() -> None:
    u = normalise_openai_usage({})
    assert u.input.value is None and u.output.value is None
    g = normalise_gemini_usage({"promptTokenCount": 8, "totalTokenCount": 8})
    assert g.input.value == 8 and g.output.value is None


def test_non_count_values_are_unknown() -> None:
    u = normalise_openai_usage({"prompt_tokens": "12", "completion_tokens": -3,
                                "prompt_tokens_details": {"cached_tokens": True}}, "x")
    assert u.input.value == 12  # a digit string is a count
    assert u.output.value is None and "completion_tokens" in (u.output.note or "")
    assert u.cache_read.value is None
    values: list[object] = [3, 3.0, 3.5, "7", "7x", None, [], "9" * 40]
    assert [token_count(v) for v in values] == [
        3, 3, None, 7, None, None, None, None]


def test_unknown_convention() -> None:
    with pytest.raises(ValueError):
        normalise_usage("nope", {})
