"""Per-attempt request timeline on a monotonic clock, and the metrics derived from it.

All stamps are ``time.perf_counter_ns()`` values (``None`` when the phase did not happen
or could not be observed). Definitions (docs/metrics.md carries the same text):

* queue latency    = dispatched - queued
* network overhead = DNS + TCP connect + TLS of a *new* connection; 0 when reused
* TTFT             = first token - dispatched (first non-empty content delta)
* server think     = first byte (response headers) - request sent
* TTR              = stream closed - dispatched
* TPOT             = (last token - first token) / (output tokens - 1)
* ITL              = gaps between consecutive content chunks
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

__all__ = ["RequestTimeline", "now_ns"]


def now_ns() -> int:
    """The monotonic clock every timeline stamp uses."""
    return time.perf_counter_ns()


def _ms(start: int | None, end: int | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start) / 1e6


@dataclass
class RequestTimeline:
    """Stamps for one request attempt. Filled by the executor and the timed transport."""

    queued: int | None = None
    dispatched: int | None = None
    dns_start: int | None = None
    dns_end: int | None = None
    connect_start: int | None = None  # connection creation start (includes DNS and TLS)
    connect_end: int | None = None
    tls: bool = False  # whether the connection is TLS (handshake time is inside connect)
    request_sent: int | None = None
    headers: int | None = None
    first_token: int | None = None
    last_token: int | None = None
    closed: int | None = None
    connection_reused: bool | None = None
    chunk_times: list[int] = field(default_factory=list)

    # --- recording helpers -------------------------------------------------------------
    def mark_token(self, at: int | None = None) -> None:
        """Record a non-empty content delta arriving at ``at`` (now by default)."""
        t = now_ns() if at is None else at
        if self.first_token is None:
            self.first_token = t
        self.last_token = t
        self.chunk_times.append(t)

    # --- derived metrics (milliseconds) -----------------------------------------------
    @property
    def queue_latency_ms(self) -> float | None:
        """Client-side wait for a concurrency slot or rate limiter."""
        return _ms(self.queued, self.dispatched)

    @property
    def dns_ms(self) -> float | None:
        """DNS resolution of a new connection (None when resolution was not performed)."""
        return _ms(self.dns_start, self.dns_end)

    @property
    def network_overhead_ms(self) -> float | None:
        """DNS + TCP connect + TLS for a new connection; 0.0 when the connection was reused."""
        if self.connection_reused:
            return 0.0
        return _ms(self.connect_start, self.connect_end)

    @property
    def ttft_ms(self) -> float | None:
        """Time to first token: first non-empty content delta minus dispatch."""
        return _ms(self.dispatched, self.first_token)

    @property
    def server_think_ms(self) -> float | None:
        """First byte (response headers) minus request sent."""
        return _ms(self.request_sent, self.headers)

    @property
    def ttr_ms(self) -> float | None:
        """Time to response, end to end: stream closed minus dispatch."""
        return _ms(self.dispatched, self.closed)

    def tpot_ms(self, output_tokens: int | None) -> float | None:
        """Time per output token after the first: (last - first) / (output_tokens - 1)."""
        if output_tokens is None or output_tokens < 2:
            return None
        span = _ms(self.first_token, self.last_token)
        return None if span is None else span / (output_tokens - 1)

    @property
    def itl_ms(self) -> list[float]:
        """Gaps between consecutive content chunks (the inter-token latency distribution)."""
        t = self.chunk_times
        return [(b - a) / 1e6 for a, b in itertools.pairwise(t)]

    def offsets_ms(self, origin: int) -> dict[str, float | None]:
        """Every stamp as milliseconds after ``origin`` (e.g. the run start), for reports."""
        names = ("queued", "dispatched", "dns_start", "dns_end", "connect_start", "connect_end",
                 "request_sent", "headers", "first_token", "last_token", "closed")
        return {n: _ms(origin, getattr(self, n)) for n in names}
