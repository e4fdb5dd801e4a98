"""Fuzzed stream parsing: recorded valid streams (tests/fixtures/wire/) pushed through the
byte-level SSE decoder and each provider's parser under arbitrary byte splits, truncations
and injected garbage lines.

Properties, for every wire format (OpenAI-compatible chunks incl. DeepSeek, Groq, vLLM,
Ollama; Mistral chat and FIM; Anthropic events; Gemini chunks):

* any split of the bytes gives exactly the unsplit parse (text, usage, finish);
* a truncated stream gives the complete parse or a ``ProviderStreamError`` of kind
  ``truncated`` whose partial text is a prefix of the full text;
* with garbage injected, the parser yields well-formed stream events or raises a classified
  :class:`ProviderError` (``malformed`` / ``truncated``), never any other exception; garbage
  the SSE spec says to ignore (comments, unknown fields) changes nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aetherflow.errors import ProviderError, ProviderStreamError
from aetherflow.providers.anthropic import AnthropicEventParser
from aetherflow.providers.base import ErrorEvent, Finish, StreamEvent, TextDelta, UsageReport
from aetherflow.providers.gemini import GeminiChunkParser
from aetherflow.providers.usage import normalise_mistral_usage
from aetherflow.providers.wire import (
    OpenAIChunkParser,
    StreamParser,
    decode_json_data,
    parse_sse_text,
    replay,
)
from aetherflow.transport.sse import SSEDecoder, SSEEvent, iter_sse, parse_sse_lines

WIRE = Path(__file__).parents[1] / "fixtures" / "wire"
FUZZ = settings(max_examples=40, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

ParserFactory = Callable[[], StreamParser]


def _openai(name: str) -> ParserFactory:
    return lambda: OpenAIChunkParser(name)


STREAMS: dict[str, ParserFactory] = {
    "openai_doc_example_stream.txt": _openai("openai"),
    "openai_stream.txt": _openai("openai"),
    "deepseek_doc_example_stream.txt": _openai("deepseek"),
    "deepseek_stream.txt": _openai("deepseek"),
    "groq_doc_example_stream.txt": _openai("groq"),
    "groq_stream.txt": _openai("groq"),
    "vllm_stream.txt": _openai("openai-compatible"),
    "ollama_stream.txt": _openai("openai-compatible"),
    "mistral_doc_example_stream.txt": lambda: OpenAIChunkParser("mistral",
                                                                normalise_mistral_usage),
    "mistral_stream.txt": lambda: OpenAIChunkParser("mistral", normalise_mistral_usage),
    "mistral_doc_example_fim_stream.txt": lambda: OpenAIChunkParser("mistral",
                                                                    normalise_mistral_usage),
    "anthropic_doc_example_stream.txt": AnthropicEventParser,
    "anthropic_stream.txt": AnthropicEventParser,
    "anthropic_doc_example_error_stream.txt": AnthropicEventParser,
    "gemini_doc_example_stream.txt": GeminiChunkParser,
    "gemini_stream.txt": GeminiChunkParser,
}

#: Multi-byte UTF-8 content, so byte splits land inside characters.
UTF8_STREAM = "".join(
    f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'content': piece}}]})}\n\n"
    for piece in ("héllo — ", "世界 ", "🙂\n", "```py\nprint('ü')\n```")
) + 'data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":4}}\n\ndata: [DONE]\n\n'

ALLOWED_KINDS = {"malformed", "truncated", "stream_error"}


@dataclass(frozen=True)
class Outcome:
    """What one parse produced, in comparable form."""

    text: str
    usage: Any
    finish: str | None
    errors: tuple[ErrorEvent, ...]


def _summary(events: list[StreamEvent]) -> Outcome:
    usage = [e.usage.model_dump() for e in events if isinstance(e, UsageReport)]
    finish = [e.reason for e in events if isinstance(e, Finish)]
    return Outcome(
        text="".join(e.text for e in events if isinstance(e, TextDelta)),
        usage=usage[0] if usage else None,
        finish=finish[0] if finish else None,
        errors=tuple(e for e in events if isinstance(e, ErrorEvent)),
    )


def _decode(pieces: list[bytes]) -> list[SSEEvent]:
    dec = SSEDecoder()
    events = [ev for piece in pieces for ev in dec.feed(piece)]
    return events + dec.close()


def _parse(factory: ParserFactory, pieces: list[bytes]) -> list[StreamEvent]:
    return replay(factory(), _decode(pieces))


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def _check_well_formed(events: list[StreamEvent]) -> None:
    assert all(isinstance(e, TextDelta | UsageReport | Finish | ErrorEvent) for e in events)
    assert all(isinstance(e.text, str) and e.text for e in events if isinstance(e, TextDelta))
    assert sum(isinstance(e, UsageReport) for e in events) <= 1
    assert isinstance(events[-1], Finish | ErrorEvent)
    for report in (e for e in events if isinstance(e, UsageReport)):
        for count in (report.usage.input, report.usage.output, report.usage.cache_read,
                      report.usage.cache_write):
            assert count.value is None or (isinstance(count.value, int) and count.value >= 0)
            assert count.value is not None or count.note  # unknown always says why


def _bytes(name: str) -> bytes:
    return (WIRE / name).read_bytes()


def _baseline(name: str) -> Outcome:
    return _summary(_parse(STREAMS[name], [_bytes(name)]))


# --- the byte decoder agrees with the line decoder the unit tests use -------------------
@pytest.mark.parametrize("name", sorted(STREAMS))
def test_byte_decoder_matches_recorded_text_parse(name: str) -> None:
    text_events = parse_sse_text((WIRE / name).read_text(encoding="utf-8"))
    assert [(e.event, e.data) for e in _decode([_bytes(name)])] == [
        (e.event, e.data) for e in text_events]
    assert _baseline(name) == _summary(replay(STREAMS[name](), text_events))


# --- arbitrary splits -------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(STREAMS))
@FUZZ
@given(cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=24),
       crlf=st.booleans())
def test_any_split_gives_the_unsplit_parse(name: str, cuts: list[int], crlf: bool) -> None:
    data = _bytes(name)
    if crlf:  # the same stream with CRLF line endings parses the same
        data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    assert _summary(_parse(STREAMS[name], _split(data, cuts))) == _baseline(name)


@FUZZ
@given(cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=40))
def test_utf8_split_inside_characters(cuts: list[int]) -> None:
    data = UTF8_STREAM.encode()
    out = _summary(_parse(_openai("openai"), _split(data, cuts)))
    assert out.text == "héllo — 世界 🙂\n```py\nprint('ü')\n```"
    assert out.usage["output"]["value"] == 4


# --- truncation -------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(STREAMS))
@FUZZ
@given(data=st.data())
def test_truncated_stream_is_complete_or_truncated(name: str, data: st.DataObject) -> None:
    full = _bytes(name)
    cut = data.draw(st.integers(min_value=0, max_value=len(full) - 1), label="cut")
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=cut), max_size=6))
    baseline = _baseline(name)
    try:
        events = _parse(STREAMS[name], _split(full[:cut], cuts))
    except ProviderStreamError as exc:
        assert exc.kind == "truncated", exc
        assert baseline.text.startswith(exc.partial_text)
        assert "\n" not in str(exc)
    else:
        assert _summary(events) == baseline


# --- garbage ----------------------------------------------------------------------------
_KEYS = ["choices", "delta", "content", "text", "finish_reason", "usage", "x_groq", "error",
         "object", "message", "type", "index", "candidates", "parts", "thought",
         "finishReason", "usageMetadata", "promptFeedback", "blockReason", "stop_reason",
         "prompt_tokens", "completion_tokens", "prompt_tokens_details", "cached_tokens",
         "prompt_cache_hit_tokens", "prompt_cache_miss_tokens", "input_tokens",
         "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens",
         "promptTokenCount", "candidatesTokenCount", "cachedContentTokenCount",
         "thoughtsTokenCount", "status"]
_TYPES = ["message_start", "content_block_delta", "message_delta", "message_stop", "error",
          "text_delta", "ping", "chat.completion.chunk"]
_scalars = (st.none() | st.booleans() | st.integers(-5, 10**20) | st.floats(allow_nan=True)
            | st.text(max_size=8) | st.sampled_from(_TYPES))
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(_KEYS), inner, max_size=4),
    max_leaves=12,
)
_NASTY = [b"data: [DONE]", b"data: {", b"data: null", b"data: []", b"data: 7",
          b"data: " + b"[" * 3000, b"data: 1" + b"0" * 5000, b"event: error",
          b"event: message_stop", b"data: \xff\xfe\xc3", b"data: {\"choices\": 5}",
          b"data: {\"candidates\": {\"a\": 1}}", b"data: {\"type\": \"message_start\", "
          b"\"message\": []}", b"data: {\"usage\": {\"prompt_tokens\": \"x\"}}", b"\r", b""]
_IGNORED = st.sampled_from([b":", b": keep-alive", b"id: 42", b"retry: 1000", b"foo: bar",
                            b"x"]) | st.text(max_size=20).map(
    lambda t: b":" + t.replace("\n", " ").replace("\r", " ").encode())
_garbage_line = (
    st.sampled_from(_NASTY)
    | st.binary(max_size=40)
    | _json.map(lambda v: b"data: " + json.dumps(v).encode())
    | _IGNORED
)
#: A whole garbage event (its own blank line), so the parser sees it on its own.
_garbage_event = (_json.map(lambda v: b"data: " + json.dumps(v).encode())
                  | st.sampled_from(_NASTY)).map(lambda line: line + b"\n\n")


def _inject(data: bytes, where: list[int], items: list[bytes], *, at_events: bool) -> bytes:
    """Insert ``items`` at line boundaries, or (``at_events``) between whole events."""
    sep = b"\n\n" if at_events else b"\n"
    units = [u + sep for u in data.replace(b"\r\n", b"\n").split(sep)]
    for position, item in sorted(zip(where, items, strict=False), reverse=True):
        units.insert(position % (len(units) + 1), item)
    return b"".join(units)


def _assert_events_or_classified(factory: ParserFactory, data: bytes, cuts: list[int]) -> None:
    try:
        events = _parse(factory, _split(data, cuts))
    except ProviderError as exc:  # any other exception fails the test
        assert exc.kind in ALLOWED_KINDS, exc
        assert "\n" not in str(exc)
    else:
        _check_well_formed(events)


@pytest.mark.parametrize("name", sorted(STREAMS))
@settings(FUZZ, max_examples=60)
@given(items=st.lists(_garbage_line.map(lambda line: line + b"\n"), min_size=1, max_size=4),
       where=st.lists(st.integers(min_value=0, max_value=200), min_size=4, max_size=4),
       cuts=st.lists(st.integers(min_value=0, max_value=6000), max_size=8),
       truncate=st.booleans())
def test_garbage_lines_give_events_or_a_classified_error(
        name: str, items: list[bytes], where: list[int], cuts: list[int],
        truncate: bool) -> None:
    data = _inject(_bytes(name), where, items, at_events=False)
    _assert_events_or_classified(STREAMS[name], data[: len(data) * 2 // 3] if truncate
                                 else data, cuts)


@pytest.mark.parametrize("name", sorted(STREAMS))
@settings(FUZZ, max_examples=80)
@given(items=st.lists(_garbage_event, min_size=1, max_size=3),
       where=st.lists(st.integers(min_value=0, max_value=50), min_size=3, max_size=3),
       cuts=st.lists(st.integers(min_value=0, max_value=6000), max_size=4))
def test_garbage_events_give_events_or_a_classified_error(
        name: str, items: list[bytes], where: list[int], cuts: list[int]) -> None:
    """Whole JSON events of the right vocabulary and wrong shapes reach the parser itself."""
    _assert_events_or_classified(STREAMS[name],
                                 _inject(_bytes(name), where, items, at_events=True), cuts)


@pytest.mark.parametrize("name", sorted(STREAMS))
@FUZZ
@given(items=st.lists(_IGNORED, min_size=1, max_size=5),
       where=st.lists(st.integers(min_value=0, max_value=200), min_size=5, max_size=5),
       cuts=st.lists(st.integers(min_value=0, max_value=6000), max_size=8))
def test_ignorable_lines_change_nothing(name: str, items: list[bytes], where: list[int],
                                        cuts: list[int]) -> None:
    """Comments and unknown fields are ignored by the SSE spec: same parse, any split."""
    data = _inject(_bytes(name), where, [i + b"\n" for i in items], at_events=False)
    assert _summary(_parse(STREAMS[name], _split(data, cuts))) == _baseline(name)


# --- the SSE splitter on its own --------------------------------------------------------
@settings(FUZZ, max_examples=150)
@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300), max_size=12))
def test_sse_decoder_is_split_invariant_on_any_bytes(data: bytes, cuts: list[int]) -> None:
    whole = _decode([data])
    assert _decode(_split(data, cuts)) == whole
    assert all(isinstance(e.data, str) and isinstance(e.event, str) for e in whole)


_line_text = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"]),
                     max_size=30)


@settings(FUZZ, max_examples=150)
@given(lines=st.lists(st.one_of(_line_text, st.just(""),
                                _line_text.map(lambda t: "data: " + t),
                                _line_text.map(lambda t: "event: " + t)), max_size=20),
       cuts=st.lists(st.integers(0, 800), max_size=12))
def test_sse_decoder_matches_the_line_decoder(lines: list[str], cuts: list[int]) -> None:
    raw = "".join(line + "\n" for line in lines).encode()
    got = [(e.event, e.data) for e in _decode(_split(raw, cuts))]
    assert got == [(e.event, e.data) for e in parse_sse_lines(lines)]


@settings(FUZZ, max_examples=150)
@given(lines=st.lists(st.one_of(_line_text, st.just(""),
                                _line_text.map(lambda t: "data: " + t),
                                _line_text.map(lambda t: "event: " + t)), max_size=20),
       crlf=st.booleans())
def test_one_read_per_line_pair_matches_the_line_decoder(lines: list[str], crlf: bool) -> None:
    """Reads of exactly one line and a blank line (``data: x\n\n``, how servers usually
    write an event) take the decoder's fast path: the same events as line by line."""
    end = "\r\n" if crlf else "\n"
    raw = "".join(line + end for line in lines).encode()
    pieces, rest = [], raw
    while rest:  # cut after every second line ending
        cut = rest.find(b"\n", rest.find(b"\n") + 1) + 1 or len(rest)
        pieces.append(rest[:cut])
        rest = rest[cut:]
    got = [(e.event, e.data) for e in _decode(pieces)]
    assert got == [(e.event, e.data) for e in parse_sse_lines(lines)]


@settings(FUZZ, max_examples=150)
@given(lines=st.lists(st.one_of(_line_text, st.just(""),
                                _line_text.map(lambda t: "data: " + t),
                                _line_text.map(lambda t: "event: " + t)), max_size=30),
       crlf=st.booleans(), cuts=st.lists(st.integers(1, 8), max_size=30))
def test_reads_of_many_whole_events_match_the_line_decoder(
        lines: list[str], crlf: bool, cuts: list[int]) -> None:
    """A fast server's read holds many whole ``data: x\n\n`` events (the decoder's
    whole-read path); reads cut after any number of line pairs, of any content, give the
    same events as line by line."""
    end = "\r\n" if crlf else "\n"
    raw = "".join(line + end for line in lines).encode()
    pieces, rest = [], raw
    for pairs in [*cuts, len(raw)]:
        if not rest:
            break
        cut = 0
        for _ in range(2 * pairs):
            cut = rest.find(b"\n", cut) + 1
            if cut == 0:
                cut = len(rest)
                break
        pieces.append(rest[:cut])
        rest = rest[cut:]
    got = [(e.event, e.data, e.terminated) for e in _decode(pieces)]
    assert got == [(e.event, e.data, e.terminated) for e in parse_sse_lines(lines)]
    assert _decode([raw]) == _decode(pieces)


@settings(FUZZ, max_examples=150)
@given(datas=st.lists(st.binary(max_size=12).map(
    lambda b: b.replace(b"\r", b"").replace(b"\n", b"")), min_size=1, max_size=8))
def test_invalid_utf8_in_a_read_of_whole_events_decodes_as_line_by_line(
        datas: list[bytes]) -> None:
    """Any bytes, valid UTF-8 or not, decode the same in one read of whole events as one
    line at a time (each invalid sequence becomes U+FFFD the same way)."""
    raw = b"".join(b"data: " + d + b"\n\n" for d in datas)
    one_by_one = [ev for d in datas for ev in _decode([b"data: " + d + b"\n", b"\n"])]
    assert _decode([raw]) == one_by_one


def test_a_read_of_whole_events_is_decoded_without_line_splitting() -> None:
    """The whole-read path gives each event's data, multi-byte text included, and leaves
    a read of another shape (a comment, a two-line event) to the line decoder."""
    read = 'data: {"a": 1}\n\ndata: é\n\ndata: [DONE]\n\n'.encode()
    assert SSEDecoder().feed(read) == [SSEEvent("message", '{"a": 1}'),
                                       SSEEvent("message", "é"),
                                       SSEEvent("message", "[DONE]")]
    assert SSEDecoder()._whole_events(read) is not None
    for other in (b"data: a\n\n: ping\n\n", b"data: a\ndata: b\n\n", b"data: a\r\n\r\n",
                  b"data: a\n\n\n\n"):
        assert SSEDecoder()._whole_events(other) is None
    assert SSEDecoder().feed(b"data: a\ndata: b\n\n") == [SSEEvent("message", "a\nb")]


def test_unterminated_last_event_is_flagged() -> None:
    dec = SSEDecoder()
    assert dec.feed(b'data: {"a": 1}\n\ndata: {"b"') == [SSEEvent("message", '{"a": 1}')]
    assert dec.close() == [SSEEvent("message", '{"b"', terminated=False)]
    # A last event whose lines all ended (only the blank line is missing) is complete.
    tail = SSEDecoder()
    assert tail.feed(b"data: [DONE]\n") == []
    assert tail.close() == [SSEEvent("message", "[DONE]")]


# --- iter_sse drives the same decoder over a live response ------------------------------
class _Content:
    def __init__(self, pieces: list[bytes], error: Exception | None) -> None:
        self._pieces, self._error = pieces, error

    async def iter_any(self) -> AsyncIterator[bytes]:
        for piece in self._pieces:
            await asyncio.sleep(0)
            yield piece
        if self._error is not None:
            raise self._error


class _Response:
    def __init__(self, pieces: list[bytes], error: Exception | None = None) -> None:
        self.content = _Content(pieces, error)


async def test_iter_sse_uses_the_decoder() -> None:
    data = _bytes("anthropic_stream.txt")
    pieces = _split(data, list(range(0, len(data), 7)))
    live = [ev async for ev in iter_sse(_Response(pieces))]  # type: ignore[arg-type]
    assert live == _decode([data])


async def test_iter_sse_reset_is_classified() -> None:
    resp = _Response([b"data: {}\n\n"], aiohttp.ClientPayloadError("peer closed"))
    with pytest.raises(ProviderStreamError) as info:
        _ = [ev async for ev in iter_sse(resp)]  # type: ignore[arg-type]
    assert info.value.kind == "reset"


# --- chunk JSON: pydantic-core's parser first, the standard library's result -----------------
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)
_json_like = st.sampled_from(['"\\ud800"', '{"a": NaN}', "1e999", "[1,2", '{"a":1} x', "",
                              " {} ", "-0.0", "1" * 5000, "[" * 3000 + "]" * 3000, "01",
                              '{"a":1,"a":2}', '"\\u00e9"', "Infinity", "tru"])


def _stdlib(data: str) -> tuple[str, Any]:
    try:
        return "ok", json.loads(data)
    except (ValueError, RecursionError):
        return "error", None


def _ours(data: str) -> tuple[str, Any]:
    try:
        return "ok", decode_json_data(SSEEvent("message", data), "openai", [])
    except ProviderStreamError:
        return "error", None


@settings(FUZZ, max_examples=300)
@given(data=st.one_of(_json_values.map(json.dumps),
                      _json_values.map(lambda v: json.dumps(v, ensure_ascii=False)),
                      st.text(max_size=40), _json_like))
def test_chunk_json_decodes_as_the_standard_library_does(data: str) -> None:
    """Chunks are parsed by pydantic-core (faster) with ``json.loads`` for what it
    refuses: any text, JSON or not, gives json.loads's value or a malformed-data error
    exactly when json.loads fails."""
    assert repr(_ours(data)) == repr(_stdlib(data))
