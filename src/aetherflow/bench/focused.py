"""Focused benchmarks: two variants of one plan, benched side by side and compared.

* ``parallel``: A = ``concurrency=1`` (sequential), B = the overlay's concurrency
  (default 4). Reports makespan, speedup (mean makespan A / mean makespan B) and how
  close each schedule gets to the critical path (parallel efficiency).
* ``speculative``: A = ``speculative=off``, B = ``speculative=on`` (llama.cpp
  prompt-lookup decoding on the local model). Reports TPOT and TTR per task type, so
  refactoring steps (whose output repeats the prompt) can be read against the others.
* ``workflow``: A = ``workflow=proto`` (generate, checks, repairs), B = ``workflow=prod``
  (generate, a review pass, checks, repairs). Reports pass rates (first try and final),
  cost and time: what the review pass buys, and what it costs.

Each variant is a full bench (``A/`` and ``B/`` sub-directories with every report);
:func:`run_focused` returns the result (:class:`~aetherflow.results.focused.FocusedData`:
the comparison with CIs and the headline figures), which
:func:`aetherflow.report.focused.write_focused_reports` writes as ``focused_data.json``,
``comparison_report.*`` and ``focused_report.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import cast

from aetherflow.bench.pairs import Executor, FocusedRun, Pair, Side, bench_pair, headline_rows
from aetherflow.errors import ConfigError
from aetherflow.execution.runner import RunOptions
from aetherflow.results.focused import FocusedBenchmark, FocusedData, HeadlineRow

__all__ = ["FOCUSED_KINDS", "focused_variants", "run_focused"]

FOCUSED_KINDS = ("parallel", "speculative", "workflow")

_HEADLINE_METRICS = {
    "parallel": ("makespan", "makespan_p50", "parallel_efficiency", "step_time_p50",
                 "queue_latency_mean"),
    "speculative": ("tpot_mean", "tpot_p50", "ttr_mean", "output_tokens_mean"),
    "workflow": ("pass_rate", "first_try_pass_rate", "plan_pass_rate", "cost_total",
                 "cost_per_passed_step", "makespan", "step_time_p50",
                 "repairs_per_passed_step"),
}


def focused_variants(kind: str, overlay: Mapping[str, str]) -> tuple[dict[str, str],
                                                                      dict[str, str]]:
    """The A (baseline) and B overlays of a focused benchmark."""
    base = dict(overlay)
    if kind == "parallel":
        return {**base, "concurrency": "1"}, {**base,
                                             "concurrency": base.get("concurrency", "4")}
    if kind == "speculative":
        return {**base, "speculative": "off"}, {**base, "speculative": "on"}
    if kind == "workflow":
        return {**base, "workflow": "proto"}, {**base, "workflow": "prod"}
    raise ConfigError(f"unknown focused benchmark {kind!r} (known: {', '.join(FOCUSED_KINDS)})")


def _headline(kind: str, pair: Pair) -> list[HeadlineRow]:
    metrics = _HEADLINE_METRICS[kind]
    rows = headline_rows([pair], metrics)
    if kind == "speculative":  # per task type: refactoring vs the rest is the question
        scopes = sorted({r.scope for r in pair.comparison.rows if r.scope.startswith("task_")})
        for scope in scopes:
            rows += [r.model_copy(update={"pair": scope})
                     for r in headline_rows([pair], metrics, scope=scope)]
    return rows


def _overlay_text(overlay: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in overlay.items()) or "no overlay"


def run_focused(kind: str, plan: Path, out: Path, repeats: int,
                overlay: Mapping[str, str], execute: Executor) -> FocusedRun:
    """Bench both variants with ``execute`` into ``out/A`` and ``out/B`` and compare them."""
    over_a, over_b = focused_variants(kind, overlay)
    provider = over_a.get("provider", "local")
    if kind == "speculative" and provider != "local":
        raise ConfigError("bench speculative needs the local provider (llama.cpp server flags)")
    options = RunOptions(provider=provider)
    pair = bench_pair(kind, plan, out, repeats, Side(over_a, options, f"{kind}-A"),
                      Side(over_b, options, f"{kind}-B"), execute)
    data = FocusedData(
        benchmark=cast(FocusedBenchmark, kind), plan=str(plan), title=f"Focused benchmark: {kind}",
        intro=[f"A = {_overlay_text(pair.a.meta.overlay)}; B = "
               f"{_overlay_text(pair.b.meta.overlay)}. Every metric is in "
               "comparison_report.md / .html."],
        pairs=[pair.result(out)], headline=_headline(kind, pair))
    return FocusedRun.of(data, [pair])
