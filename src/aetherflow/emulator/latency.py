"""The emulator's seeded latency model and precise absolute-deadline sleeping."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

from aetherflow.emulator.profile import CacheModel, LatencyModelConfig

__all__ = ["TimingPlan", "plan_timing", "sleep_until"]


@dataclass(frozen=True)
class TimingPlan:
    """When each output token is due, in seconds after the request started.

    ``token_offsets_s[0]`` is the TTFT; each later entry adds one decode delay.
    ``ttft_s`` is kept separately so a zero-token reply still has its prefill time.
    """

    ttft_s: float
    token_offsets_s: tuple[float, ...]


def _jitter(rng: random.Random, amount_ms: float, distribution: str) -> float:
    if amount_ms <= 0:
        return 0.0
    if distribution == "normal":
        return rng.gauss(0.0, amount_ms)
    return rng.uniform(-amount_ms, amount_ms)


def plan_timing(
    cfg: LatencyModelConfig,
    cache: CacheModel,
    rng: random.Random,
    uncached_tokens: int,
    cached_tokens: int,
    output_tokens: int,
) -> TimingPlan:
    """Draw the timing of one request from ``rng`` (deterministic for a given seed and order)."""
    prefill_tokens = uncached_tokens + cached_tokens * cache.cached_prefill_fraction
    ttft_ms = cfg.ttft_base_ms + cfg.prefill_ms_per_input_token * prefill_tokens
    ttft_ms = max(0.0, ttft_ms + _jitter(rng, cfg.ttft_jitter_ms, cfg.jitter_distribution))
    offsets = [ttft_ms]
    for _ in range(1, output_tokens):
        gap = cfg.decode_ms_per_output_token
        gap = max(0.0, gap + _jitter(rng, cfg.decode_jitter_ms, cfg.jitter_distribution))
        offsets.append(offsets[-1] + gap)
    return TimingPlan(ttft_ms / 1000.0, tuple(o / 1000.0 for o in offsets[:output_tokens]))


async def sleep_until(deadline: float) -> None:
    """Sleep until ``time.perf_counter()`` reaches ``deadline`` (an absolute time)."""
    delay = deadline - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)
