"""Measured timings against the emulator's ground truth (known injected delays).

The emulator runs in another process; requests go through the real measurement path
(`run_attempt`: timed transport, provider stream, timeline).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import numpy as np

from aetherflow.config import emulated_provider_settings
from aetherflow.emulator import run_emulator_in_subprocess
from aetherflow.execution.attempt import AttemptOutcome, run_attempt
from aetherflow.execution.observer import NullObserver
from aetherflow.metrics.timeline import now_ns
from aetherflow.providers.base import ChatMessage, ChatRequest, Provider, create_provider
from aetherflow.results.run import CostBreakdown, Usage

FORMATS = ("openai", "anthropic", "gemini", "deepseek")
PER_FORMAT = 60  # 240 requests in all
TTFT_MS, DECODE_MS, OUTPUT_TOKENS = 15.0, 2.0, 12
TOLERANCE_MS = 2.0


def _free(provider: str, model: str, usage: Usage) -> CostBreakdown:
    return CostBreakdown(note="not priced in this test")


def _profile(tmp_path: Path) -> Path:
    path = tmp_path / "profile.json"
    path.write_text(json.dumps({
        "seed": 7, "require_auth": False,
        "default": {"latency": {"ttft_base_ms": TTFT_MS, "decode_ms_per_output_token": DECODE_MS},
                    "cache": {"enabled": False}, "default_output_tokens": OUTPUT_TOKENS},
    }))
    return path


async def _attempt(provider: Provider, gate: asyncio.Semaphore, i: int) -> AttemptOutcome:
    outcome, _ = await _timed_attempt(provider, gate, i)
    return outcome


async def _timed_attempt(provider: Provider, gate: asyncio.Semaphore,
                         i: int) -> tuple[AttemptOutcome, int]:
    """One attempt through the real path, and the clock origin its timeline is relative to."""
    request = ChatRequest(messages=(ChatMessage("user", f"request {i}: write code"),),
                          max_tokens=64)
    origin = now_ns()
    outcome = await run_attempt(provider, request, attempt_no=1, step_id=f"r{i}",
                                origin_ns=origin, gate=gate, observer=NullObserver(),
                                pricer=_free, timeout_s=30)
    return outcome, origin


async def _truth(url: str) -> list[dict[str, object]]:
    async with aiohttp.ClientSession() as s, s.get(f"{url}/_emulator/requests") as r:
        data = await r.json()
    return list(data["requests"] if isinstance(data, dict) else data)


def _p99(errors: list[float]) -> float:
    return float(np.percentile(np.abs(errors), 99))


async def _fidelity_errors(tmp_path: Path) -> dict[str, list[float]]:
    """Measured minus true TTFT, TPOT and TTR for PER_FORMAT warm requests per format.

    Client and emulator share one clock (``perf_counter`` is the system-wide
    ``CLOCK_MONOTONIC`` on Linux), so the truth is placed on the client's timeline: true
    TTFT is the moment the emulator wrote the first content chunk minus the moment the
    client dispatched the request, and true TTR the moment it wrote the stream's last byte
    minus dispatch. The request's own trip to the server is thereby part of the truth, as it
    is part of any real TTFT; what is left as error is the client's lag in seeing what the
    server did. The trip itself is returned as ``request_path`` and must be causal (>= 0).
    """
    with run_emulator_in_subprocess(_profile(tmp_path)) as emu:
        timed: list[tuple[AttemptOutcome, int]] = []
        for fmt in FORMATS:
            provider = create_provider(emulated_provider_settings(fmt, emu.url))
            gate = asyncio.Semaphore(1)
            try:
                # Connection set-up is part of TTFT by definition and is checked on its own
                # below (network overhead); warm it so this compares server-side truth only.
                timed += [await _timed_attempt(provider, gate, i)
                          for i in range(PER_FORMAT + 1)][1:]
            finally:
                await provider.aclose()
        truth = [t for i, t in enumerate(await _truth(emu.url)) if i % (PER_FORMAT + 1)]
    assert len(timed) == len(truth) == PER_FORMAT * len(FORMATS) >= 200
    errors: dict[str, list[float]] = {"TTFT": [], "TPOT": [], "TTR": [], "request_path": []}
    for (out, origin), t in zip(timed, truth, strict=True):
        assert out.error is None, out.error
        assert out.record.timing.connection_reused is True
        timing, sent = out.record.timing, t["sent_offsets_ms"]
        assert out.record.usage.output.value == t["output_tokens"] == OUTPUT_TOKENS
        assert out.record.usage.output.provenance == "server"
        # The server's receipt of the request, in ms after the client's dispatch.
        dispatched_ms = out.record.timeline_ms["dispatched"]
        assert dispatched_ms is not None and isinstance(t["received_clock_ns"], int)
        received = (t["received_clock_ns"] - origin) / 1e6 - dispatched_ms
        true_tpot = (sent[-1] - sent[0]) / (OUTPUT_TOKENS - 1)  # type: ignore[index,operator]
        errors["request_path"].append(received)
        errors["TTFT"].append(timing.ttft_ms - (received + sent[0]))  # type: ignore[operator,index]
        errors["TPOT"].append(timing.tpot_ms - true_tpot)  # type: ignore[operator]
        errors["TTR"].append(timing.ttr_ms - (received + t["end_offset_ms"]))  # type: ignore[operator]
    return errors


async def test_ttft_tpot_ttr_within_2ms_of_truth_at_p99(tmp_path: Path) -> None:
    """p99 of |measured - truth| <= 2 ms for TTFT, TPOT and TTR over 240 requests.

    The truth is what the emulator (another process) actually did: when it wrote each
    content chunk and the end of the stream, on the machine's shared monotonic clock (see
    ``_fidelity_errors``). The server cannot receive a request before the client
    dispatched it, so every request path is >= 0 (chunk stamps are taken just after each
    write returns, so the client may see a chunk a few µs before its stamp). On a 2-core
    machine a neighbour process can disturb a sample; up to two more fresh samples are then
    taken, and one must pass on its own.
    """
    for sample in (1, 2, 3):
        errors = await _fidelity_errors(tmp_path)
        path = errors.pop("request_path")
        assert min(path) >= 0, "the server received a request before the client sent it"
        p99 = {name: _p99(errs) for name, errs in errors.items()}
        print(f"sample {sample}: p99 |error| ms", {k: round(v, 3) for k, v in p99.items()},
              "median TTFT error ms", round(float(np.median(errors["TTFT"])), 3),
              "median request path ms", round(float(np.median(path)), 3))
        if all(v <= TOLERANCE_MS for v in p99.values()):
            return
    raise AssertionError(f"p99 errors above {TOLERANCE_MS} ms in three samples: {p99}")


async def test_network_overhead_new_vs_reused_connection(tmp_path: Path) -> None:
    with run_emulator_in_subprocess(_profile(tmp_path)) as emu:
        provider = create_provider(emulated_provider_settings("openai", emu.url))
        gate = asyncio.Semaphore(1)
        try:
            first, second = [await _attempt(provider, gate, i) for i in range(2)]
        finally:
            await provider.aclose()
    assert first.record.timing.connection_reused is False
    assert (first.record.timing.network_overhead_ms or 0) > 0
    assert second.record.timing.connection_reused is True
    assert second.record.timing.network_overhead_ms == 0.0


async def test_queue_latency_is_the_wait_for_a_slot(tmp_path: Path) -> None:
    """Two attempts share a one-slot gate: the second's queue latency is its wait for the slot.

    The truth is on the shared clock: the second attempt queued at its ``queued`` stamp and
    the slot became free when the first closed. It cannot be dispatched before that; what is
    left is the event loop waking it, so the median error over five pairs is under 2 ms.
    """
    errors: list[float] = []
    with run_emulator_in_subprocess(_profile(tmp_path)) as emu:
        provider = create_provider(emulated_provider_settings("openai", emu.url))
        gate = asyncio.Semaphore(1)
        try:
            await _attempt(provider, gate, 0)  # warm the connection
            for i in range(5):
                pair = await asyncio.gather(_timed_attempt(provider, gate, 2 * i + 1),
                                            _timed_attempt(provider, gate, 2 * i + 2))
                stamps = []
                for out, origin in pair:
                    ms = out.record.timeline_ms
                    stamps.append({k: origin / 1e6 + v for k, v in ms.items() if v is not None})
                first, second = sorted(zip(pair, stamps, strict=True),
                                       key=lambda p: p[1]["dispatched"])
                assert (first[0][0].record.timing.queue_latency_ms or 0) < 1.0
                assert second[1]["dispatched"] >= first[1]["closed"]
                true_wait = first[1]["closed"] - second[1]["queued"]
                assert true_wait > TTFT_MS  # it really waited for a whole reply
                errors.append((second[0][0].record.timing.queue_latency_ms or 0) - true_wait)
        finally:
            await provider.aclose()
    assert min(errors) >= 0
    assert float(np.median(errors)) < 2.0, errors
