"""Two benches of one plan that differ in one named thing, compared: the building block of
the focused benchmarks (``bench parallel``, ``speculative``, ``prompt-cache``, ``slm-local``).

Each side is a full bench (``<dir>/A`` and ``<dir>/B`` with every report file);
``<dir>/comparison_report.*`` holds every metric's B − A difference with its 95 % CI.
:func:`headline_table` picks the metrics a focused benchmark is about.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from aetherflow.bench.compare import ComparisonData, compare_benches
from aetherflow.bench.runner import BenchSpec
from aetherflow.emulator.process import EmulatorProcess, run_emulator_in_subprocess
from aetherflow.emulator.profile import cloud_profile, load_profile
from aetherflow.execution.runner import RunOptions
from aetherflow.metrics.stats import DiffEstimate
from aetherflow.report.comparison import write_comparison
from aetherflow.report.format import fmt_num, fmt_pct
from aetherflow.report.markdown import md_table
from aetherflow.results.bench import BenchmarkData

__all__ = ["Executor", "HeadlineRow", "Pair", "Side", "bench_emulator", "bench_pair",
           "headline_rows", "headline_table"]

#: Runs one bench and writes its reports (the CLI passes one with progress bars).
Executor = Callable[[BenchSpec], BenchmarkData]


@dataclass(frozen=True)
class Side:
    """One variant: its overlay (``--set``), run options and bench label."""

    overlay: dict[str, str]
    options: RunOptions = field(default_factory=RunOptions)
    label: str | None = None
    #: A new embedded server for every repeat (the cold case) instead of one per bench.
    fresh_server: bool = False


@dataclass(frozen=True)
class Pair:
    """Both benches of a pair and their comparison."""

    title: str
    directory: Path
    a: BenchmarkData
    b: BenchmarkData
    comparison: ComparisonData


def bench_pair(title: str, plan: Path, directory: Path, repeats: int, side_a: Side,
               side_b: Side, execute: Executor,
               before_each: Callable[[], None] | None = None) -> Pair:
    """Bench A then B into ``directory/A`` and ``directory/B``, compare, write the reports.

    ``before_each`` runs before each side (e.g. to reset an emulator's cache), so B does
    not start with state A left behind.
    """
    datas: list[BenchmarkData] = []
    for name, side in (("A", side_a), ("B", side_b)):
        if before_each is not None:
            before_each()
        datas.append(execute(BenchSpec(plan=plan, output=directory / name, repeats=repeats,
                                       options=side.options, overlay=side.overlay,
                                       label=side.label, fresh_server=side.fresh_server)))
    cmp = compare_benches(datas[0], datas[1], str(directory / "A"), str(directory / "B"))
    write_comparison(cmp, directory, datas[0], datas[1])
    return Pair(title=title, directory=directory, a=datas[0], b=datas[1], comparison=cmp)


@contextlib.contextmanager
def bench_emulator(out: Path, profile: Path | None = None) -> Iterator[EmulatorProcess]:
    """The provider emulator in a child process for a focused benchmark's remote sides.

    Uses ``profile`` or the built-in :func:`cloud_profile`, and saves the profile actually
    used as ``out/emulator_profile.json`` beside the results.
    """
    chosen = load_profile(profile) if profile else cloud_profile()
    path = out / "emulator_profile.json"
    path.write_text(chosen.model_dump_json(indent=2), encoding="utf-8")
    with run_emulator_in_subprocess(path) as emu:
        yield emu


class HeadlineRow(BaseModel):
    """One metric of one pair, as shown in a focused benchmark's headline table."""

    model_config = ConfigDict(extra="forbid")

    pair: str
    metric: str
    description: str
    estimate: DiffEstimate


def headline_rows(pairs: Sequence[Pair], metrics: Sequence[str], scope: str = "global",
                  only_if_measured: Sequence[str] = ()) -> list[HeadlineRow]:
    """The chosen ``metrics`` of every pair (metrics not compared are skipped, and so are
    those in ``only_if_measured`` that neither side measured, e.g. server timings on a
    provider that reports none; the pair's comparison report still lists them as n/a)."""
    rows: list[HeadlineRow] = []
    for pair in pairs:
        for metric in metrics:
            row = pair.comparison.row(metric, scope)
            unmeasured = row is not None and row.estimate.a_value is None \
                and row.estimate.b_value is None
            if row is not None and not (metric in only_if_measured and unmeasured):
                rows.append(HeadlineRow(pair=pair.title, metric=metric,
                                        description=row.description, estimate=row.estimate))
    return rows


def _g(value: float | None, digits: int) -> str:
    """``digits`` decimals, or 3 significant digits for tiny non-zero values (costs)."""
    if value is not None and value != 0 and abs(value) < 10 ** (1 - digits):
        return f"{value:.3g}"
    return fmt_num(value, digits)


def _relative(e: DiffEstimate) -> str:
    """The relative change with its log-ratio interval, when there is one."""
    text = fmt_pct(e.relative_difference)
    if e.relative_ci_low is not None and e.relative_ci_high is not None:
        text += f" [{fmt_pct(e.relative_ci_low)}, {fmt_pct(e.relative_ci_high)}]"
    return text


def headline_table(rows: Sequence[HeadlineRow], digits: int = 2) -> str:
    """Markdown table: pair, metric, A, B, B − A, relative, 95 % CI, significant, n."""
    body = []
    for r in rows:
        e = r.estimate
        ci = ("n/a" + (f" ({e.note})" if e.note else "") if e.ci_low is None
              or e.ci_high is None else f"[{_g(e.ci_low, digits)}, {_g(e.ci_high, digits)}]")
        sig = {True: "yes", False: "no", None: "n/a"}[e.significant]
        body.append([r.pair, r.metric, _g(e.a_value, digits), _g(e.b_value, digits),
                     _g(e.difference, digits), _relative(e), ci, sig,
                     f"{e.n_a}/{e.n_b}"])
    return md_table(["pair", "metric", "A", "B", "B − A", "relative [95% CI]", "95% CI",
                     "significant", "n A/B"], body)
