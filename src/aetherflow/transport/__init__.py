"""Timed HTTP transport and SSE decoding."""

from aetherflow.transport.http import TimedSession, parse_retry_after
from aetherflow.transport.sse import (
    SSEDecoder,
    SSEEvent,
    iter_sse,
    parse_sse_bytes,
    parse_sse_lines,
)

__all__ = [
    "SSEDecoder",
    "SSEEvent",
    "TimedSession",
    "iter_sse",
    "parse_retry_after",
    "parse_sse_bytes",
    "parse_sse_lines",
]
