"""Derived metrics against synthetic stamps with a known truth."""

from __future__ import annotations

from aetherflow.metrics.timeline import RequestTimeline
from aetherflow.results.run import TimingMetrics

MS = 1_000_000


def _timeline(reused: bool = False) -> RequestTimeline:
    tl = RequestTimeline(queued=0, dispatched=5 * MS, connection_reused=reused,
                         request_sent=9 * MS, headers=20 * MS, closed=100 * MS)
    if not reused:
        tl.connect_start, tl.connect_end = 5 * MS, 8 * MS
        tl.dns_start, tl.dns_end = 5 * MS, 6 * MS
    for t in (30, 40, 55, 70):
        tl.mark_token(t * MS)
    return tl


def test_definitions() -> None:
    tl = _timeline()
    assert tl.queue_latency_ms == 5.0
    assert tl.network_overhead_ms == 3.0
    assert tl.dns_ms == 1.0
    assert tl.server_think_ms == 11.0
    assert tl.ttft_ms == 25.0
    assert tl.ttr_ms == 95.0
    assert tl.tpot_ms(5) == (70 - 30) / 4
    assert tl.itl_ms == [10.0, 15.0, 15.0]


def test_reused_connection_has_zero_overhead() -> None:
    assert _timeline(reused=True).network_overhead_ms == 0.0


def test_unmeasurable_is_none_not_zero() -> None:
    tl = RequestTimeline(queued=0, dispatched=MS, closed=2 * MS)
    assert tl.ttft_ms is None
    assert tl.tpot_ms(1) is None and tl.tpot_ms(None) is None
    assert tl.network_overhead_ms is None
    metrics = TimingMetrics.from_timeline(tl, None)
    assert metrics.ttft_ms is None and metrics.ttr_ms == 1.0 and metrics.content_chunks == 0


def test_offsets_relative_to_origin() -> None:
    offsets = _timeline().offsets_ms(origin=5 * MS)
    assert offsets["dispatched"] == 0.0 and offsets["closed"] == 95.0
    assert offsets["queued"] == -5.0
