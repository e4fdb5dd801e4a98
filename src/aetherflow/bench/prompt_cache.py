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

import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from aetherflow.bench.pairs import (
    Executor,
    FocusedRun,
    Pair,
    Side,
    bench_emulator,
    bench_pair,
    headline_rows,
)
from aetherflow.errors import ConfigError
from aetherflow.execution.runner import RunOptions
from aetherflow.results.focused import FocusedData

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
) -> FocusedRun:
    """Run every side's defeated/used pair (each under its own directory in ``out``) and
    compare each; the report is ``prompt_cache_report.md``."""
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
    return _result(plan, out, pairs)


def _result(plan: Path, out: Path, pairs: Sequence[Pair]) -> FocusedRun:
    rows = headline_rows(pairs, PROMPT_CACHE_METRICS, only_if_measured=("server_prefill_mean",))
    data = FocusedData(
        benchmark="prompt-cache", plan=str(plan),
        title="Focused benchmark: prompt cache (A = defeated, B = used)",
        intro=["A gives every attempt a unique first line (no prefix can be reused); B sends "
               "the prompts unchanged with the provider's caching switched on. Each pair's "
               "directory holds both benches and comparison_report.md/.html with every "
               "metric."],
        pairs=[p.result(out) for p in pairs], headline=rows,
        notes=["cached_input_share = cached input tokens / input tokens per attempt, mean; "
               "cached tokens are what the server reported (llama.cpp: its log's prefix-match "
               "count; cloud formats: their usage fields). Costs use genai-prices' cache-read "
               "prices. CIs: 95 %, runs resampled as clusters (docs/statistics.md)."],
        report_file="prompt_cache_report.md")
    return FocusedRun.of(data, pairs)
