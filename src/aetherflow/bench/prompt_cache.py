"""``bench prompt-cache``: provider prompt caching used (B) against defeated (A).

Run it on a plan whose steps share a long prompt prefix, e.g.
``examples/plans/shared_context.json`` (five steps that all read one 9 KB file, which
:func:`~aetherflow.execution.prompt.build_request` puts first, in the system message).

* **A, defeated** (``--set cache=off``): every attempt's prompt starts with a unique nonce,
  so no prefix cache anywhere can serve it.
* **B, used** (``--set cache=on``): prompts unchanged; llama.cpp also gets ``--cache True``
  and Anthropic gets a ``cache_control`` marker on the system prompt.

Sides, each an A/B pair under its own directory:

* ``local``: real. The embedded llama.cpp server reuses the KV state of the previous
  prompt's common prefix; the reused token count is read from the server's log
  (provenance ``server``), TTFT is measured. A fresh server per repeat (cold cache).
* ``emulated:<provider>``: the provider emulator in a child process, with
  :func:`~aetherflow.emulator.profile.cloud_profile` (or ``--emulator-profile``), saved
  as ``emulator_profile.json``. Cached tokens come back in each provider's own usage fields
  (OpenAI ``prompt_tokens_details.cached_tokens``, Anthropic ``cache_read_input_tokens``,
  DeepSeek ``prompt_cache_hit_tokens``, Gemini ``cachedContentTokenCount``) and are priced
  at the provider's cache-read price. Its TTFT is the emulator's latency *model* (cached
  prefill is cheaper), not a measurement of the provider. The emulator's cache is reset
  before each side and kept across a side's repeats (as a provider keeps it within TTL).
* a real provider named with ``--provider`` (its key must be set).

Defaults: ``concurrency=1`` (a step's prefix is cached before the next one starts, and
the llama.cpp log can be attributed to one request) and ``max_tokens=32`` (TTFT is the
point); ``--set`` overrides both.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from aetherflow.bench.pairs import (
    Executor,
    Pair,
    Side,
    bench_emulator,
    bench_pair,
    headline_rows,
    headline_table,
)
from aetherflow.errors import ConfigError
from aetherflow.execution.runner import RunOptions

__all__ = ["DEFAULT_EMULATED", "EMULATED_MODELS", "PROMPT_CACHE_DEFAULTS",
           "PROMPT_CACHE_METRICS", "run_prompt_cache"]

DEFAULT_EMULATED: tuple[str, ...] = ("openai", "anthropic", "deepseek", "gemini")
#: Models whose cache floor the cloud profile models (Claude Haiku 4.5 needs 4,096 tokens).
EMULATED_MODELS: dict[str, str] = {"anthropic": "claude-sonnet-4-5"}
PROMPT_CACHE_DEFAULTS: dict[str, str] = {"concurrency": "1", "max_tokens": "32"}
PROMPT_CACHE_METRICS: tuple[str, ...] = (
    "ttft_p50", "ttft_mean", "cached_input_share", "cached_tokens_mean", "input_tokens_mean",
    "cost_total", "ttr_mean", "pass_rate", "server_prefill_mean",
)


def _reset_emulator(url: str) -> None:
    request = urllib.request.Request(f"{url}/_emulator/reset", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=10) as resp:
        resp.read()


def _sides(overlay: Mapping[str, str], options: RunOptions, tag: str) -> tuple[Side, Side]:
    base = {**PROMPT_CACHE_DEFAULTS, **overlay}
    # Each repeat starts cold (a fresh embedded server), so "used" measures what one run's
    # own prefix sharing earns, not state left by the previous repeat.
    return (Side({**base, "cache": "off"}, options, f"prompt-cache-{tag}-defeated",
                 fresh_server=True),
            Side({**base, "cache": "on"}, options, f"prompt-cache-{tag}-used",
                 fresh_server=True))


def _check(overlay: Mapping[str, str], providers: Sequence[str], emulated: Sequence[str]) -> None:
    for key in ("provider", "cache"):
        if key in overlay:
            raise ConfigError(f"bench prompt-cache sets {key!r} itself; use --provider / "
                              "--emulate to choose the sides")
    if not providers and not emulated:
        raise ConfigError("bench prompt-cache: nothing to run (no --provider, no --emulate)")


def run_prompt_cache(
    plan: Path, out: Path, repeats: int, overlay: Mapping[str, str], execute: Executor, *,
    providers: Sequence[str] = ("local",), emulated: Sequence[str] = DEFAULT_EMULATED,
    emulator_profile: Path | None = None,
) -> Path:
    """Run every side's defeated/used pair; write ``prompt_cache_report.md`` and
    ``prompt_cache_data.json`` into ``out``; return the report's path."""
    _check(overlay, providers, emulated)
    out.mkdir(parents=True, exist_ok=True)
    pairs: list[Pair] = []
    for name in providers:
        a, b = _sides(overlay, RunOptions(provider=name), name)
        pairs.append(bench_pair(name, plan, out / name, repeats, a, b, execute))
    if emulated:
        with bench_emulator(out, emulator_profile) as emu:
            for name in emulated:
                options = RunOptions(provider=name, model=EMULATED_MODELS.get(name),
                                     emulator_url=emu.url)
                a, b = _sides(overlay, options, f"emulated-{name}")
                pairs.append(bench_pair(f"emulated:{name}", plan, out / f"emulated-{name}",
                                        repeats, a, b, execute,
                                        before_each=lambda: _reset_emulator(emu.url)))
    return _write(out, pairs)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def _finding(pair: Pair) -> str:
    cmp = pair.comparison
    share, ttft, cost = (cmp.row(m) for m in ("cached_input_share", "ttft_p50", "cost_total"))
    parts = [f"**{pair.title}**"]
    if share is not None and share.estimate.b_value is not None:
        parts.append(f"cached share of input {_pct(share.estimate.a_value)} defeated → "
                     f"{_pct(share.estimate.b_value)} used")
    else:
        parts.append("cached tokens n/a" + (f" ({share.estimate.note})"
                                            if share and share.estimate.note else ""))
    if ttft is not None and ttft.estimate.difference is not None:
        e = ttft.estimate
        sig = {True: "significant", False: "not significant", None: "no CI"}[e.significant]
        parts.append(f"TTFT p50 {e.a_value:,.0f} → {e.b_value:,.0f} ms "
                     f"({e.difference:+,.0f} ms, {sig})")
    if cost is not None and cost.estimate.a_value is not None:
        e = cost.estimate
        rel = "" if e.relative_difference is None else f", {100 * e.relative_difference:+.0f}%"
        b_cost = "n/a" if e.b_value is None else f"${e.b_value:.6f}"
        parts.append(f"cost per run ${e.a_value:.6f} → {b_cost}{rel}")
    emulated = " (emulated: TTFT is the emulator's latency model)" if pair.a.meta.emulated \
        else ""
    return "- " + "; ".join(parts) + emulated


def _write(out: Path, pairs: Sequence[Pair]) -> Path:
    rows = headline_rows(pairs, PROMPT_CACHE_METRICS, only_if_measured=("server_prefill_mean",))
    lines = [
        "# Focused benchmark: prompt cache (A = defeated, B = used)", "",
        "A gives every attempt a unique first line (no prefix can be reused); B sends the "
        "prompts unchanged with the provider's caching switched on. Each pair's directory "
        "holds both benches and comparison_report.md/.html with every metric.", "",
        *[_finding(p) for p in pairs], "",
        headline_table(rows), "",
        "cached_input_share = cached input tokens / input tokens per attempt, mean; "
        "cached tokens are what the server reported (llama.cpp: its log's prefix-match "
        "count; cloud formats: their usage fields). Costs use genai-prices' cache-read "
        "prices. CIs: percentile bootstrap, 95 %.",
    ]
    report = out / "prompt_cache_report.md"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = {"kind": "prompt-cache", "pairs": [
        {"title": p.title, "directory": str(p.directory), "emulated": p.a.meta.emulated}
        for p in pairs], "headline": [r.model_dump() for r in rows]}
    (out / "prompt_cache_data.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
    return report
