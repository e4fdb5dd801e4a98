"""One attempt's client overhead: ``run_attempt`` against a minimal client (the floor).

This measures ONE ATTEMPT'S OVERHEAD ONLY: it calls ``run_attempt`` directly, in-process, so
it never exercises the plan executor, the scheduler, the run records or the run directory.
Its ratio says nothing about ``aetherflow run`` as a whole; for that (plan sizes 100 to
10,000, whole child processes, CPU and memory) use ``benchmarks/run_path_overhead.py``.

A zero-latency provider emulator runs in another process. In the same run, alternating
rounds measure:

* floor: a minimal hand-written aiohttp loop (POST, read the SSE body to ``[DONE]``);
* aetherflow: the real attempt path (`run_attempt`: concurrency gate, timed transport with
  tracing, SSE + chunk parsing, usage normalisation, token timeline, pricing, record).

Both keep ``--concurrency`` requests in flight over one keep-alive pool. Printed: sustained
requests/s of each, the ratio aetherflow/floor (goal >= 0.8), and client CPU per request
(process time / requests) with AetherFlow's overhead per request in microseconds.

    .venv/bin/python benchmarks/harness_overhead.py [--requests 2000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from aetherflow.config import emulated_provider_settings
from aetherflow.emulator import run_emulator_in_subprocess
from aetherflow.execution.attempt import run_attempt
from aetherflow.execution.observer import NullObserver
from aetherflow.metrics.timeline import now_ns
from aetherflow.providers.base import ChatMessage, ChatRequest, create_provider
from aetherflow.providers.pricing import price_attempt

OUTPUT_TOKENS = 16


def _profile(dirpath: Path) -> Path:
    path = dirpath / "zero.json"
    path.write_text(json.dumps({"seed": 1, "require_auth": False, "default": {
        "latency": {"ttft_base_ms": 0, "decode_ms_per_output_token": 0},
        "cache": {"enabled": False}, "default_output_tokens": OUTPUT_TOKENS}}))
    return path


async def _drive(n: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> float:
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            await one(i)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return 0.0


async def _floor_round(url: str, n: int, concurrency: int) -> tuple[float, float]:
    body = {"model": "m", "stream": True, "max_tokens": 64,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "write code"}]}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        async def one(_: int) -> None:
            async with session.post(f"{url}/chat/completions", json=body) as resp:
                async for line in resp.content:
                    if line.startswith(b"data: [DONE]"):
                        break
                await resp.read()

        await one(0)  # warm the pool
        t0, c0 = time.perf_counter(), time.process_time()
        await _drive(n, concurrency, one)
        return time.perf_counter() - t0, time.process_time() - c0


async def _aetherflow_round(emu_url: str, n: int, concurrency: int) -> tuple[float, float]:
    provider = create_provider(emulated_provider_settings("openai", emu_url))
    gate = asyncio.Semaphore(concurrency)
    request = ChatRequest(messages=(ChatMessage("user", "write code"),), max_tokens=64)

    async def one(i: int) -> None:
        out = await run_attempt(provider, request, attempt_no=1, step_id=f"r{i}",
                                origin_ns=now_ns(), gate=gate, observer=NullObserver(),
                                pricer=price_attempt, timeout_s=30)
        if out.error is not None:
            raise out.error

    try:
        await one(0)
        t0, c0 = time.perf_counter(), time.process_time()
        await _drive(n, concurrency, one)
        return time.perf_counter() - t0, time.process_time() - c0
    finally:
        await provider.aclose()


def main() -> None:
    """Run alternating rounds and print rates, the ratio and per-request overhead."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per round")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, \
            run_emulator_in_subprocess(_profile(Path(tmp))) as emu:
        floor_url = emu.base_url("openai")
        floor, aether = [], []
        for _ in range(args.rounds):
            floor.append(asyncio.run(_floor_round(floor_url, args.requests, args.concurrency)))
            aether.append(asyncio.run(_aetherflow_round(emu.url, args.requests, args.concurrency)))
    n = args.requests
    rate_f = statistics.median(n / wall for wall, _ in floor)
    rate_a = statistics.median(n / wall for wall, _ in aether)
    cpu_f = statistics.median(cpu / n for _, cpu in floor) * 1e6
    cpu_a = statistics.median(cpu / n for _, cpu in aether) * 1e6
    print(f"requests/round {n}, concurrency {args.concurrency}, rounds {args.rounds}, "
          f"{OUTPUT_TOKENS} streamed tokens per request, zero-latency emulator in another process")
    print(f"floor (minimal aiohttp loop): {rate_f:8.1f} req/s   client CPU {cpu_f:7.1f} us/req")
    print(f"aetherflow (run_attempt):     {rate_a:8.1f} req/s   client CPU {cpu_a:7.1f} us/req")
    print(f"ratio aetherflow/floor: {rate_a / rate_f:.2f}x (goal >= 0.80; one attempt only, "
          "not the run path: see benchmarks/run_path_overhead.py)")
    print(f"aetherflow client overhead: {cpu_a - cpu_f:.1f} us/request over the floor")


if __name__ == "__main__":
    main()
