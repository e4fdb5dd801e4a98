"""Server-sent events decoding that never collapses on long lines.

:class:`SSEDecoder` is the I/O-free core: it takes bytes in whatever pieces the socket
gives (``iter_any``), splits lines itself (LF or CRLF; a CRLF split across two pieces is
handled), and yields one :class:`SSEEvent` per blank-line-terminated event, per the WHATWG
spec: ``data`` lines are joined with newlines, comments starting with ``:`` are skipped,
``id``/``retry``/unknown fields are ignored. Bytes are decoded per complete line, so a
UTF-8 character split across pieces is never broken; invalid UTF-8 becomes U+FFFD.

At end of stream, an event that was never terminated by a blank line is still delivered
(some servers omit the last blank line) but marked ``terminated=False``; when its last line
was cut mid-line, parsers classify bad data in it as a *truncated* stream rather than a
malformed one. :func:`iter_sse` drives the decoder over an aiohttp response.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

import aiohttp

from aetherflow.errors import ProviderStreamError

__all__ = ["SSEDecoder", "SSEEvent", "iter_sse", "iter_sse_batches", "parse_sse_bytes",
           "parse_sse_lines"]


@dataclass(frozen=True)
class SSEEvent:
    """One server-sent event.

    ``terminated`` is False only for an event flushed at end of stream whose last line
    had no line ending (the connection closed mid-line): its data may be cut short.
    """

    event: str
    data: str
    terminated: bool = True


class _LineDecoder:
    """Field-level SSE state machine: one decoded line at a time."""

    def __init__(self) -> None:
        self.event = ""
        self.data: list[str] = []

    def feed_line(self, line: str, *, terminated: bool = True) -> SSEEvent | None:
        if line.startswith("data: "):  # the common case first
            self.data.append(line[6:])
            return None
        if line == "":
            if not self.data and not self.event:
                return None
            ev = SSEEvent(event=self.event or "message", data="\n".join(self.data),
                          terminated=terminated)
            self.event, self.data = "", []
            return ev
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self.data.append(value)
        elif name == "event":
            self.event = value
        return None  # id / retry / unknown fields are ignored


class SSEDecoder:
    """Incremental bytes-to-events decoder (no I/O): :meth:`feed` pieces, then :meth:`close`."""

    def __init__(self) -> None:
        self._lines = _LineDecoder()
        self._buf = b""

    @staticmethod
    def _decode(raw: bytes) -> str:
        return raw.decode("utf-8", "replace").removesuffix("\r")

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Events completed by ``chunk``. Every complete line in it is handled in one pass
        (``bytes.split``): the per-chunk cost matters at thousands of streams a second."""
        if (not self._buf and chunk.startswith(b"data: ") and chunk.endswith(b"\n\n")
                and not self._lines.data and not self._lines.event):
            events = self._whole_events(chunk)
            if events is not None:
                return events
        self._buf += chunk
        if b"\n" not in chunk:
            return []
        *lines, self._buf = self._buf.split(b"\n")
        out: list[SSEEvent] = []
        for raw in lines:
            if (ev := self._lines.feed_line(self._decode(raw))) is not None:
                out.append(ev)
        return out

    def _whole_events(self, chunk: bytes) -> list[SSEEvent] | None:
        """The events of a read made only of whole one-line ``data: x`` events, each
        followed by one blank line (how servers write a stream, and a fast server's read
        holds dozens of them), without splitting it into lines; None for any other read
        (the line-by-line path then decodes it the same way). Every line ending in such a
        read is one of the ``\\n\\n`` separators, so counting them proves the shape."""
        if b"\r" in chunk:
            return None
        # Decoding the read at once is decoding each line: it ends with a line ending, and
        # a line ending is never part of a multi-byte character or of an invalid sequence.
        parts = chunk.decode("utf-8", "replace").split("\n\n")
        parts.pop()  # the empty remainder after the final separator
        if chunk.count(b"\n") != 2 * len(parts):
            return None
        events: list[SSEEvent] = []
        for part in parts:
            if not part.startswith("data: "):
                return None
            events.append(SSEEvent("message", part[6:]))
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream: the pending event, if any (``terminated=False`` when cut mid-line)."""
        cut = bool(self._buf)
        if cut:
            self._lines.feed_line(self._decode(self._buf))
            self._buf = b""
        ev = self._lines.feed_line("", terminated=not cut)
        return [ev] if ev is not None else []


def parse_sse_bytes(chunks: Iterable[bytes]) -> list[SSEEvent]:
    """Decode a recorded byte stream, given in any pieces, into events (tests, replays)."""
    dec = SSEDecoder()
    out = [ev for chunk in chunks for ev in dec.feed(chunk)]
    out.extend(dec.close())
    return out


def parse_sse_lines(lines: list[str]) -> list[SSEEvent]:
    """Decode a list of SSE lines (without newlines) into events. For tests and replays."""
    dec = _LineDecoder()
    return [ev for line in [*lines, ""] if (ev := dec.feed_line(line))]


async def iter_sse_batches(resp: aiohttp.ClientResponse) -> AsyncIterator[list[SSEEvent]]:
    """The events of each network read of a streaming response, as one list (the last batch
    holds a trailing unterminated event flushed at EOF). A connection reset raises
    ``ProviderStreamError('reset')``."""
    dec = SSEDecoder()
    try:
        async for chunk in resp.content.iter_any():
            events = dec.feed(chunk)
            if events:
                yield events
    except aiohttp.ClientPayloadError as exc:
        raise ProviderStreamError(f"connection reset mid-stream: {exc}", kind="reset") from exc
    except (aiohttp.ClientOSError, ConnectionResetError) as exc:
        raise ProviderStreamError(f"connection reset mid-stream: {exc}", kind="reset") from exc
    tail = dec.close()
    if tail:
        yield tail


async def iter_sse(resp: aiohttp.ClientResponse) -> AsyncIterator[SSEEvent]:
    """Yield events from a streaming response; a trailing unterminated event is flushed at
    EOF (see :class:`SSEEvent`). A connection reset raises ``ProviderStreamError('reset')``."""
    dec = SSEDecoder()
    try:
        async for chunk in resp.content.iter_any():
            for ev in dec.feed(chunk):
                yield ev
    except aiohttp.ClientPayloadError as exc:
        raise ProviderStreamError(f"connection reset mid-stream: {exc}", kind="reset") from exc
    except (aiohttp.ClientOSError, ConnectionResetError) as exc:
        raise ProviderStreamError(f"connection reset mid-stream: {exc}", kind="reset") from exc
    for ev in dec.close():
        yield ev
