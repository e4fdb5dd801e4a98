"""Wire-format parsing shared by the remote providers: one parser object per stream.

A :class:`StreamParser` turns decoded SSE events into provider-neutral
:data:`~aetherflow.providers.base.StreamEvent` values. It does no I/O, so a recorded
stream can be replayed through it in a unit test (:func:`replay`) exactly as the live
provider runs it (:func:`run_parser`):

* :meth:`StreamParser.feed` parses one SSE event and returns the events it yields;
* ``finished`` turns True when the wire format's end marker arrived (stop reading);
* :meth:`StreamParser.close` is called once the stream ends: it returns the final usage
  report and :class:`~aetherflow.providers.base.Finish`, or raises
  :class:`~aetherflow.errors.ProviderStreamError` (kind ``truncated``, with the partial
  text) when the stream ended before it was complete.

An :class:`~aetherflow.providers.base.ErrorEvent` ends the stream: nothing follows it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any, Protocol

from pydantic_core import from_json

from aetherflow.errors import ProviderStreamError
from aetherflow.providers.base import (
    ErrorEvent,
    Finish,
    StreamEvent,
    TextDelta,
    UsageReport,
)
from aetherflow.providers.usage import UsageNormaliser, normalise_openai_usage
from aetherflow.transport.sse import SSEEvent, parse_sse_lines

__all__ = [
    "OpenAIChunkParser",
    "StreamParser",
    "as_dict",
    "as_list",
    "decode_json_data",
    "error_message",
    "parse_sse_text",
    "replay",
    "run_parser",
    "truncated",
]


class StreamParser(Protocol):
    """Incremental, I/O-free parser of one response stream."""

    finished: bool

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        """Parse one SSE event."""
        ...

    def close(self) -> list[StreamEvent]:
        """End of stream: final usage and finish, or raise ``ProviderStreamError``."""
        ...


def decode_json_data(event: SSEEvent, provider: str, text_so_far: Sequence[str]) -> Any:
    """The JSON in ``event.data``.

    Data that is not JSON raises ``ProviderStreamError`` of kind ``malformed``, or of kind
    ``truncated`` when the event was cut off by the end of the stream
    (``event.terminated`` False): the server stopped mid-event. ``text_so_far`` (the
    content pieces received before) is joined only then, as the error's partial text:
    joining it for every chunk would make a stream quadratic in its length.

    pydantic-core's JSON parser decodes it (a chunk in about 1 us, 2.5x faster than
    ``json.loads``, and a stream has one per token); what it refuses goes to ``json.loads``
    (which accepts, e.g., a lone surrogate escape such as ``"\\ud800"``). Any data thus
    gives the value ``json.loads`` gives, or fails where it fails (fuzzed in the tests).
    """
    try:
        return from_json(event.data)
    except ValueError:
        pass
    try:
        return json.loads(event.data)
    except (ValueError, RecursionError):  # JSONDecodeError, int-digit limit, deep nesting
        partial_text = "".join(text_so_far)
        if not event.terminated:
            raise truncated(provider, "the end of its last event", partial_text) from None
        raise ProviderStreamError(
            f"malformed SSE data from {provider}: {event.data[:120]!r}",
            kind="malformed", partial_text=partial_text,
        ) from None


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (wire data is never trusted)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a JSON array, else an empty one (wire data is never trusted)."""
    return value if isinstance(value, list) else []


def error_message(err: Any) -> str:
    """The human message of an in-stream error object (or the value itself)."""
    if isinstance(err, dict):
        return str(err.get("message", err))
    return str(err)


def truncated(provider: str, what: str, partial_text: str) -> ProviderStreamError:
    """The error for a stream that ended before its completion marker."""
    return ProviderStreamError(
        f"stream from {provider} ended before {what}",
        kind="truncated", partial_text=partial_text,
    )


async def run_parser(parser: StreamParser,
                     events: AsyncIterator[SSEEvent]) -> AsyncIterator[StreamEvent]:
    """Drive ``parser`` over a live event stream (what each provider's ``stream`` does)."""
    async for ev in events:
        for out in parser.feed(ev):
            yield out
            if isinstance(out, ErrorEvent):
                return
        if parser.finished:
            break
    for out in parser.close():
        yield out


def replay(parser: StreamParser, events: Iterable[SSEEvent]) -> list[StreamEvent]:
    """Run ``parser`` over recorded events, exactly like :func:`run_parser` (for tests)."""
    produced: list[StreamEvent] = []
    for ev in events:
        for out in parser.feed(ev):
            produced.append(out)
            if isinstance(out, ErrorEvent):
                return produced
        if parser.finished:
            break
    produced.extend(parser.close())
    return produced


def parse_sse_text(text: str) -> list[SSEEvent]:
    """Decode a recorded ``text/event-stream`` body into events."""
    return parse_sse_lines([line.rstrip("\r") for line in text.split("\n")])


class OpenAIChunkParser:
    """OpenAI ``chat.completion.chunk`` streams (OpenAI, DeepSeek, Groq, Mistral chat + FIM).

    Text comes from ``choices[].delta.content`` (FIM-style ``choices[].text`` is accepted
    too); ``data: [DONE]`` is the end marker. Usage is taken from the chunk's ``usage``
    object or, when that is absent, from Groq's ``x_groq.usage``; the latest one is
    reported once, at the end, normalised with ``normalise`` (whose notes name
    ``provider``). An ``error`` object in a chunk becomes an ``ErrorEvent``. Values of an
    unexpected JSON type are ignored, never trusted.
    """

    def __init__(self, provider: str,
                 normalise: UsageNormaliser = normalise_openai_usage) -> None:
        self.provider = provider
        self._normalise = normalise
        self.finished = False
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self.text: list[str] = []

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        """Parse one ``data:`` chunk."""
        if event.data[:1] != "{" and event.data.strip() == "[DONE]":
            self.finished = True
            return []
        chunk = decode_json_data(event, self.provider, self.text)
        if not isinstance(chunk, dict):
            return []
        if chunk.get("error"):
            return [ErrorEvent(kind="stream_error", message=error_message(chunk["error"]))]
        if chunk.get("object") == "error":  # Mistral's flat error object
            return [ErrorEvent(kind="stream_error", message=str(chunk.get("message", chunk)))]
        out: list[StreamEvent] = []
        for choice in as_list(chunk.get("choices")):
            if not isinstance(choice, dict):
                continue
            content = as_dict(choice.get("delta")).get("content")
            if content is None:
                content = choice.get("text")
            if isinstance(content, str) and content:
                self.text.append(content)
                out.append(TextDelta(content))
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
        usage = chunk.get("usage")
        groq = as_dict(chunk.get("x_groq")).get("usage")
        if isinstance(usage, dict) and usage:
            self.usage = usage
        elif isinstance(groq, dict):
            self.usage = groq
        return out

    def close(self) -> list[StreamEvent]:
        """Report usage and finish, or raise ``truncated`` without ``[DONE]``."""
        if not self.finished:
            raise truncated(self.provider, "its [DONE] marker", "".join(self.text))
        out: list[StreamEvent] = []
        if self.usage is not None:
            out.append(UsageReport(self._normalise(self.usage, self.provider)))
        out.append(Finish(self.finish_reason))
        return out
