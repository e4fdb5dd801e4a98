"""``suite``: one bench per plan × variant, then one comparison report over all of them.

A variants file is a JSON list, or a TOML file with ``[[variants]]`` tables, of
``{name = "...", set = {key = value}}``; ``set`` uses the ``--set`` keys. Without a file
there is one variant, ``default``. Every bench is kept whole: failed plans stay in every
total, and the suite totals add up every run of every bench.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aetherflow.bench.compare import compare_benches
from aetherflow.bench.model import BenchmarkData
from aetherflow.bench.overlay import parse_overlay
from aetherflow.bench.runner import BenchSpec
from aetherflow.errors import ConfigError
from aetherflow.execution.runner import RunOptions
from aetherflow.plan.loader import load_plan
from aetherflow.report.format import fmt_num, fmt_pct, fmt_usd
from aetherflow.report.markdown import md_table

__all__ = [
    "SUITE_HEADER",
    "VARIANT_COMPARISON_HEADER",
    "SuiteEntry",
    "Variant",
    "load_variants",
    "render_suite_markdown",
    "run_suite",
    "suite_row",
    "suite_totals",
    "variant_comparisons",
]


class Variant(BaseModel):
    """A named overlay applied to every plan of the suite."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    set_: dict[str, str | int | float | bool] = Field(default_factory=dict, alias="set")

    def overlay(self) -> dict[str, str]:
        """The validated overlay of this variant."""
        items = [f"{k}={str(v).lower() if isinstance(v, bool) else v}"
                 for k, v in self.set_.items()]
        return parse_overlay(items)


class SuiteEntry(BaseModel):
    """One plan × variant bench of the suite."""

    model_config = ConfigDict(extra="forbid")

    plan: str
    variant: str
    output: str
    data: BenchmarkData


def load_variants(path: Path | None) -> list[Variant]:
    """Variants from a JSON or TOML file (``[default]`` without a file)."""
    if path is None:
        return [Variant(name="default")]
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text).get("variants") if path.suffix == ".toml" else json.loads(text)
        if not isinstance(raw, list) or not raw:
            raise ConfigError(f"{path}: expected a non-empty list of variants")
        variants = [Variant.model_validate(v) for v in raw]
    except (OSError, ValueError, ValidationError) as exc:
        raise ConfigError(f"{path}: bad variants file: {exc}") from exc
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: variant names must be unique")
    for v in variants:
        v.overlay()
    return variants


def run_suite(plans: Sequence[Path], variants: Sequence[Variant], out: Path, repeats: int,
              execute: Callable[[BenchSpec], BenchmarkData]) -> list[SuiteEntry]:
    """Bench every plan × variant with ``execute`` into ``out/<task_id>/<variant>/``."""
    task_ids = [load_plan(p).task_id for p in plans]  # every plan is checked before running
    entries: list[SuiteEntry] = []
    for plan, task_id in zip(plans, task_ids, strict=True):
        for v in variants:
            overlay = v.overlay()
            dest = out / task_id / v.name
            spec = BenchSpec(plan=plan, output=dest, repeats=repeats, overlay=overlay,
                             options=RunOptions(), label=f"suite-{task_id}-{v.name}")
            entries.append(SuiteEntry(plan=str(plan), variant=v.name, output=str(dest),
                                      data=execute(spec)))
    return entries


SUITE_HEADER = ["plan", "variant", "runs", "plans passed", "pass rate (n)", "unvalidated",
                "first try", "TTFT p50 ms", "TTR p50 ms", "makespan mean ms", "cost total"]


def suite_row(e: SuiteEntry) -> list[str]:
    """The cells of one bench in the suite table (columns of :data:`SUITE_HEADER`)."""
    a = e.data.aggregates
    g = a.global_figures
    n = g.steps_passed + g.steps_failed + g.steps_skipped
    return [e.data.meta.task_id, e.variant, str(g.runs), f"{g.plans_passed}/{g.runs}",
            f"{fmt_pct(g.pass_rate)} ({n})", str(g.steps_unvalidated),
            fmt_pct(g.first_try_pass_rate), fmt_num(a.latency_all.ttft_ms.p50),
            fmt_num(a.latency_all.ttr_ms.p50), fmt_num(g.makespan_ms.mean),
            fmt_usd(g.cost.total_usd)]


def suite_totals(entries: Sequence[SuiteEntry]) -> str:
    """The totals sentence over every run of every bench (failed plans included)."""
    runs = sum(e.data.aggregates.global_figures.runs for e in entries)
    figures = [e.data.aggregates.global_figures for e in entries]
    ok = sum(g.plans_passed for g in figures)
    n = sum(g.steps_passed + g.steps_failed + g.steps_skipped for g in figures)
    ok_steps = sum(g.steps_passed for g in figures)
    unvalidated = sum(g.steps_unvalidated for g in figures)
    return (f"Totals (failed plans included): {ok} of {runs} plan runs passed; "
            f"{ok_steps} of {n} steps passed their executed checks "
            f"({fmt_pct(ok_steps / n if n else None)}); {unvalidated} steps unvalidated "
            "(nothing checkable, not counted).")


VARIANT_COMPARISON_HEADER = ["metric", "A", "B", "B − A", "significant"]


def variant_comparisons(entries: Sequence[SuiteEntry]) -> list[tuple[str, list[list[str]]]]:
    """``(title, rows)`` per variant compared with the first variant of the same plan."""
    out: list[tuple[str, list[list[str]]]] = []
    by_plan: dict[str, list[SuiteEntry]] = {}
    for e in entries:
        by_plan.setdefault(e.data.meta.task_id, []).append(e)
    for task_id, group in by_plan.items():
        base = group[0]
        for other in group[1:]:
            cmp = compare_benches(base.data, other.data, base.variant, other.variant)
            rows = [[r.metric, fmt_num(r.estimate.a_value, 3), fmt_num(r.estimate.b_value, 3),
                     fmt_num(r.estimate.difference, 3),
                     {True: "yes", False: "no", None: "n/a"}[r.estimate.significant]]
                    for r in cmp.rows if r.scope == "global"]
            out.append((f"{task_id}: {other.variant} vs {base.variant}", rows))
    return out


def render_suite_markdown(entries: Sequence[SuiteEntry]) -> str:
    """The suite's ``comparison_report.md``: one row per bench, totals, comparisons."""
    comparisons = [f"### {title}\n\n" + md_table(VARIANT_COMPARISON_HEADER, rows)
                   for title, rows in variant_comparisons(entries)]
    parts = ["# Suite comparison", md_table(SUITE_HEADER, [suite_row(e) for e in entries]),
             suite_totals(entries),
             "## Variants against the first variant of each plan (95% CIs in each bench's "
             "`aetherflow compare`)", *comparisons]
    return "\n\n".join(parts) + "\n"
