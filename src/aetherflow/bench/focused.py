"""Focused benchmarks: two variants of one plan, benched side by side and compared.

* ``parallel``: A = ``concurrency=1`` (sequential), B = the overlay's concurrency
  (default 4). Reports makespan, speedup (mean makespan A / mean makespan B) and how
  close each schedule gets to the critical path (parallel efficiency).
* ``speculative``: A = ``speculative=off``, B = ``speculative=on`` (llama.cpp
  prompt-lookup decoding on the local model). Reports TPOT and TTR per task type, so
  refactoring steps (whose output repeats the prompt) can be read against the others.

Each variant is a full bench (``A/`` and ``B/`` sub-directories with every report);
``comparison_report.md`` / ``comparison_data.json`` hold the differences with CIs and
``focused_report.md`` the headline figures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from aetherflow.bench.compare import ComparisonData, compare_benches
from aetherflow.bench.model import BenchmarkData
from aetherflow.bench.runner import BenchSpec
from aetherflow.errors import ConfigError
from aetherflow.execution.runner import RunOptions
from aetherflow.report.comparison import write_comparison
from aetherflow.report.format import fmt_num

__all__ = ["FOCUSED_KINDS", "focused_variants", "run_focused"]

FOCUSED_KINDS = ("parallel", "speculative")

Executor = Callable[[BenchSpec], BenchmarkData]


def focused_variants(kind: str, overlay: Mapping[str, str]) -> tuple[dict[str, str],
                                                                      dict[str, str]]:
    """The A (baseline) and B overlays of a focused benchmark."""
    base = dict(overlay)
    if kind == "parallel":
        return {**base, "concurrency": "1"}, {**base,
                                             "concurrency": base.get("concurrency", "4")}
    if kind == "speculative":
        return {**base, "speculative": "off"}, {**base, "speculative": "on"}
    raise ConfigError(f"unknown focused benchmark {kind!r} (known: {', '.join(FOCUSED_KINDS)})")


def _headline(kind: str, a: BenchmarkData, b: BenchmarkData, cmp: ComparisonData) -> str:
    lines = [f"# Focused benchmark: {kind}", "",
             f"A = {a.meta.overlay}, B = {b.meta.overlay}; details in comparison_report.md.", ""]
    if kind == "parallel":
        ma = a.aggregates.plan_structure.makespan_ms.mean
        mb = b.aggregates.plan_structure.makespan_ms.mean
        speed = None if not ma or not mb else ma / mb
        for name, d in (("A", a), ("B", b)):
            ps = d.aggregates.plan_structure
            lines.append(f"- {name}: makespan mean {fmt_num(ps.makespan_ms.mean)} ms, critical "
                         f"path mean {fmt_num(ps.critical_path_ms.mean)} ms, parallel "
                         f"efficiency mean {fmt_num(ps.parallel_efficiency.mean, 3)}")
        lines.append(f"- speedup (mean makespan A / B): {fmt_num(speed, 2)}")
    for row in cmp.rows:
        if row.metric in ("tpot_mean", "ttr_mean", "makespan") and row.estimate.a_value:
            e = row.estimate
            sig = {True: "significant", False: "not significant", None: "no CI"}[e.significant]
            lines.append(f"- {row.scope} {row.metric}: A {fmt_num(e.a_value, 2)}, B "
                         f"{fmt_num(e.b_value, 2)}, B − A {fmt_num(e.difference, 2)} "
                         f"CI [{fmt_num(e.ci_low, 2)}, {fmt_num(e.ci_high, 2)}] ({sig})")
    return "\n".join(lines) + "\n"


def run_focused(kind: str, plan: Path, out: Path, repeats: int, overlay: Mapping[str, str],
                execute: Executor) -> Path:
    """Bench both variants with ``execute``, compare them, write the reports."""
    over_a, over_b = focused_variants(kind, overlay)
    provider = over_a.get("provider", "local")
    if kind == "speculative" and provider != "local":
        raise ConfigError("bench speculative needs the local provider (llama.cpp server flags)")
    datas = [execute(BenchSpec(plan=plan, output=out / side, repeats=repeats,
                               options=RunOptions(provider=provider), overlay=ov,
                               label=f"{kind}-{side}"))
             for side, ov in (("A", over_a), ("B", over_b))]
    cmp = compare_benches(datas[0], datas[1], str(out / "A"), str(out / "B"))
    write_comparison(cmp, out)
    report = out / "focused_report.md"
    report.write_text(_headline(kind, datas[0], datas[1], cmp), encoding="utf-8")
    return report
