"""Replays documented wire examples (tests/fixtures/wire/*_doc_example*) through each
provider's stream parser - the same parser object the live ``stream()`` drives.

Sources of the recorded examples:
* OpenAI: chat streaming with ``stream_options.include_usage`` (final chunk has
  ``choices: []`` and ``usage``); usage numbers from the prompt-caching guide.
* DeepSeek: OpenAI chunk format; usage with ``prompt_cache_hit_tokens`` /
  ``prompt_cache_miss_tokens`` (api-docs.deepseek.com, context caching guide).
* Groq: final chunk carrying ``x_groq.usage`` (Groq OpenAI-compatible streaming).
* Mistral: docs.mistral.ai streaming example (usage in the last chunk, then ``[DONE]``);
  FIM response from the Codestral FIM example.
* Anthropic: the Messages streaming example (message_start ... message_stop, ping) and an
  in-stream ``overloaded_error`` event.
* Gemini: ``streamGenerateContent?alt=sse`` chunks (CRLF framed) ending with
  ``finishReason: STOP`` and ``usageMetadata``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aetherflow.errors import ProviderStreamError
from aetherflow.providers.anthropic import AnthropicEventParser
from aetherflow.providers.base import ErrorEvent, Finish, StreamEvent, TextDelta, UsageReport
from aetherflow.providers.gemini import GeminiChunkParser
from aetherflow.providers.usage import normalise_mistral_usage
from aetherflow.providers.wire import OpenAIChunkParser, parse_sse_text, replay
from aetherflow.transport.sse import SSEEvent

WIRE = Path(__file__).parents[1] / "fixtures" / "wire"


def _events(name: str) -> list[SSEEvent]:
    return parse_sse_text((WIRE / name).read_text(encoding="utf-8"))


def _text(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def _usage(events: list[StreamEvent]) -> UsageReport:
    reports = [e for e in events if isinstance(e, UsageReport)]
    assert len(reports) == 1, "exactly one usage report per stream"
    return reports[0]


def test_openai_stream_text_usage_and_finish() -> None:
    out = replay(OpenAIChunkParser("openai"), _events("openai_doc_example_stream.txt"))
    assert _text(out) == "Hello!"
    usage = _usage(out).usage
    assert (usage.input.value, usage.output.value, usage.cache_read.value) == (2006, 300, 1920)
    assert usage.uncached_input == 2006 - 1920
    assert out[-1] == Finish("stop")
    assert not any(isinstance(e, TextDelta) and not e.text for e in out)


def test_deepseek_stream_uses_cache_hit_fields() -> None:
    out = replay(OpenAIChunkParser("deepseek"), _events("deepseek_doc_example_stream.txt"))
    assert _text(out) == "def add(a, b):\n    return a + b\n"
    usage = _usage(out).usage
    assert usage.input.value == 1216  # = hit 1152 + miss 64
    assert usage.cache_read.value == 1152
    assert usage.uncached_input == 64
    assert out[-1] == Finish("stop")


def test_groq_stream_reads_x_groq_usage() -> None:
    out = replay(OpenAIChunkParser("groq"), _events("groq_doc_example_stream.txt"))
    assert _text(out) == "Hello, world!"
    usage = _usage(out).usage
    assert (usage.input.value, usage.output.value) == (18, 439)
    assert usage.input.provenance == "server"


def test_mistral_chat_stream() -> None:
    parser = OpenAIChunkParser("mistral", normalise_mistral_usage)
    out = replay(parser, _events("mistral_doc_example_stream.txt"))
    assert _text(out) == "Coca-Cola"
    usage = _usage(out).usage
    # Mistral's example usage has no prompt_tokens_details: cache reads unknown, not 0.
    assert (usage.input.value, usage.output.value, usage.cache_read.value) == (34, 100, None)
    assert out[-1] == Finish("length")


def test_mistral_fim_stream() -> None:
    parser = OpenAIChunkParser("mistral", normalise_mistral_usage)
    out = replay(parser, _events("mistral_doc_example_fim_stream.txt"))
    assert _text(out) == "\n assert is_odd(1)\n assert"
    assert (_usage(out).usage.input.value, _usage(out).usage.output.value) == (5, 7)


def test_openai_stream_without_done_is_truncated_with_partial_text() -> None:
    events = [e for e in _events("openai_doc_example_stream.txt") if e.data != "[DONE]"]
    with pytest.raises(ProviderStreamError) as info:
        replay(OpenAIChunkParser("openai"), events)
    assert info.value.kind == "truncated"
    assert info.value.partial_text == "Hello!"


def test_openai_malformed_chunk() -> None:
    events = [SSEEvent("message", '{"choices": [{"delta": {"content": "ok"}}]}'),
              SSEEvent("message", '{"choices": [')]
    with pytest.raises(ProviderStreamError) as info:
        replay(OpenAIChunkParser("openai"), events)
    assert info.value.kind == "malformed"
    assert info.value.partial_text == "ok"


def test_openai_in_stream_error_ends_stream() -> None:
    events = [SSEEvent("message", '{"error": {"message": "rate limited"}}'),
              SSEEvent("message", "[DONE]")]
    out = replay(OpenAIChunkParser("openai"), events)
    assert out == [ErrorEvent(kind="stream_error", message="rate limited")]


def test_anthropic_stream() -> None:
    out = replay(AnthropicEventParser(), _events("anthropic_doc_example_stream.txt"))
    assert _text(out) == "Hello!"
    usage = _usage(out).usage
    # message_start input_tokens=25; message_delta's cumulative output_tokens=15 wins.
    assert (usage.input.value, usage.output.value) == (25, 15)
    # This (older) documented example sends no cache fields: unknown, not 0.
    assert (usage.cache_read.value, usage.cache_write.value) == (None, None)
    assert out[-1] == Finish("end_turn")


def test_anthropic_recorded_stream_sends_cache_zeros() -> None:
    out = replay(AnthropicEventParser(), _events("anthropic_stream.txt"))
    usage = _usage(out).usage
    assert (usage.input.value, usage.output.value) == (36, 265)
    # cache_read_input_tokens / cache_creation_input_tokens were sent as 0: measured.
    assert (usage.cache_read.value, usage.cache_write.value) == (0, 0)
    assert usage.cache_read.provenance == "server"


def test_anthropic_error_event() -> None:
    out = replay(AnthropicEventParser(), _events("anthropic_doc_example_error_stream.txt"))
    assert _text(out) == "Par"
    assert out[-1] == ErrorEvent(kind="stream_error", message="overloaded_error: Overloaded")
    assert not any(isinstance(e, Finish) for e in out)


def test_anthropic_missing_message_stop_is_truncated() -> None:
    events = [e for e in _events("anthropic_doc_example_stream.txt") if e.event != "message_stop"]
    with pytest.raises(ProviderStreamError) as info:
        replay(AnthropicEventParser(), events)
    assert info.value.kind == "truncated"
    assert info.value.partial_text == "Hello!"


def test_anthropic_ignores_non_text_deltas() -> None:
    events = [
        SSEEvent("message_start", '{"type":"message_start","message":{"usage":'
                                  '{"input_tokens":3,"output_tokens":1}}}'),
        SSEEvent("content_block_delta", '{"type":"content_block_delta","index":0,'
                                        '"delta":{"type":"thinking_delta","thinking":"hm"}}'),
        SSEEvent("content_block_delta", '{"type":"content_block_delta","index":1,'
                                        '"delta":{"type":"text_delta","text":"x"}}'),
        SSEEvent("message_delta", '{"type":"message_delta","delta":{"stop_reason":'
                                  '"max_tokens"},"usage":{"output_tokens":4}}'),
        SSEEvent("message_stop", '{"type":"message_stop"}'),
    ]
    out = replay(AnthropicEventParser(), events)
    assert _text(out) == "x"
    assert out[-1] == Finish("max_tokens")


def test_gemini_stream() -> None:
    out = replay(GeminiChunkParser(), _events("gemini_doc_example_stream.txt"))
    assert _text(out) == "The opposite of hot is cold.\n"
    usage = _usage(out).usage
    assert (usage.input.value, usage.output.value, usage.cache_read.value) == (8, 8, 0)
    assert out[-1] == Finish("STOP")


def test_gemini_without_finish_reason_is_truncated() -> None:
    events = _events("gemini_doc_example_stream.txt")[:2]
    with pytest.raises(ProviderStreamError) as info:
        replay(GeminiChunkParser(), events)
    assert info.value.kind == "truncated"
    assert info.value.partial_text == "The opposite of hot is cold."


def test_gemini_blocked_prompt_is_complete() -> None:
    events = [SSEEvent("message", '{"promptFeedback": {"blockReason": "SAFETY"},'
                                  '"usageMetadata": {"promptTokenCount": 5,'
                                  ' "totalTokenCount": 5}}')]
    out = replay(GeminiChunkParser(), events)
    assert out[-1] == Finish("blocked:SAFETY")
    assert _usage(out).usage.output.value is None


def test_gemini_error_chunk() -> None:
    events = [SSEEvent("message", '{"error": {"code": 429, "message": "quota",'
                                  ' "status": "RESOURCE_EXHAUSTED"}}')]
    out = replay(GeminiChunkParser(), events)
    assert out == [ErrorEvent(kind="stream_error", message="RESOURCE_EXHAUSTED: quota")]


def test_gemini_skips_thought_parts() -> None:
    events = [SSEEvent("message", '{"candidates": [{"content": {"parts": ['
                                  '{"text": "thinking", "thought": true}, {"text": "answer"}]},'
                                  '"finishReason": "STOP"}]}')]
    assert _text(replay(GeminiChunkParser(), events)) == "answer"
