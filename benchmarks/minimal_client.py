"""The floor: the least a client can do to drive N streamed chat completions at concurrency C.

One aiohttp session, C workers, each POSTs ``/chat/completions`` with ``stream: true`` and reads
the SSE body to ``data: [DONE]``. No parsing beyond that, no records, no files. It is run as
its own process by ``run_path_overhead.py`` so that its whole cost (interpreter start-up,
imports, requests) is measured the same way as ``aetherflow run``'s. Prints one JSON line:
``{"requests": N, "ok": n, "errors": e, "first_error": ..., "wall_s": ...}``.

    python benchmarks/minimal_client.py BASE_URL [--requests 2000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import aiohttp

__all__ = ["drive", "main"]


def _body(max_tokens: int) -> dict[str, Any]:
    return {
        "model": "emulated-model",
        "stream": True,
        "max_tokens": max_tokens,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "Write function f."}],
    }


async def drive(base_url: str, requests: int, concurrency: int, max_tokens: int) -> dict[str, Any]:
    """Send ``requests`` streamed requests, ``concurrency`` at a time; count the outcomes."""
    url = base_url.rstrip("/") + "/chat/completions"
    body = _body(max_tokens)
    headers = {"Authorization": "Bearer emulator-key"}
    counter = iter(range(requests))
    outcome: dict[str, Any] = {"requests": requests, "ok": 0, "errors": 0, "first_error": None}

    async def one(session: aiohttp.ClientSession) -> None:
        try:
            async with session.post(url, json=body, headers=headers) as resp:
                resp.raise_for_status()
                async for line in resp.content:
                    if line.startswith(b"data: [DONE]"):
                        outcome["ok"] += 1
                        return
                raise ValueError("stream ended without data: [DONE]")
        except (aiohttp.ClientError, ValueError) as exc:
            outcome["errors"] += 1
            outcome["first_error"] = outcome["first_error"] or f"{type(exc).__name__}: {exc}"

    async def worker(session: aiohttp.ClientSession) -> None:
        for _ in counter:
            await one(session)

    t0 = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    outcome["wall_s"] = time.perf_counter() - t0
    return outcome


def main() -> None:
    """Parse arguments, drive the requests, print the JSON outcome line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("base_url", help="OpenAI-style base URL (…/v1); /chat/completions is added")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=512)
    args = parser.parse_args()
    result = asyncio.run(drive(args.base_url, args.requests, args.concurrency, args.max_tokens))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
