"""Two benches of one plan that differ in one named thing, compared: the building block of
the focused benchmarks (``bench parallel``, ``speculative``, ``prompt-cache``, ``slm-local``).

Each side is a full bench (``<dir>/A`` and ``<dir>/B`` with every report file); the pair's
comparison holds every metric's B − A difference with its 95 % CI, and :func:`headline_rows`
picks the metrics a focused benchmark is about. A focused benchmark returns a
:class:`FocusedRun`: its result (:class:`~aetherflow.results.focused.FocusedData`) and the
benches of each pair, which :func:`aetherflow.report.focused.write_focused_reports` renders.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aetherflow.bench.compare import ComparisonData, compare_benches
from aetherflow.bench.runner import BenchSpec
from aetherflow.emulator.process import EmulatorProcess, run_emulator_in_subprocess
from aetherflow.emulator.profile import cloud_profile, load_profile
from aetherflow.execution.runner import RunOptions
from aetherflow.results.bench import BenchmarkData
from aetherflow.results.focused import FocusedData, FocusedPair, HeadlineRow

__all__ = ["Executor", "FocusedRun", "Pair", "Side", "bench_emulator", "bench_pair",
           "headline_rows"]

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

    def result(self, root: Path) -> FocusedPair:
        """The pair as stored in ``focused_data.json`` (its directory relative to ``root``,
        the focused benchmark's directory)."""
        try:
            directory = self.directory.relative_to(root).as_posix()
        except ValueError:
            directory = str(self.directory)
        return FocusedPair(title=self.title, directory=directory,
                           emulated=self.a.meta.emulated or self.b.meta.emulated,
                           comparison=self.comparison,
                           a_structure=self.a.aggregates.plan_structure,
                           b_structure=self.b.aggregates.plan_structure)


@dataclass(frozen=True)
class FocusedRun:
    """What a focused benchmark returns: its result and the benches of every pair (by the
    pair's directory as stored in the result), for the comparison charts."""

    data: FocusedData
    benches: dict[str, tuple[BenchmarkData, BenchmarkData]]

    @classmethod
    def of(cls, data: FocusedData, pairs: Sequence[Pair]) -> FocusedRun:
        """Bundle ``data`` with the benches of ``pairs`` (in the order of ``data.pairs``)."""
        return cls(data, {stored.directory: (p.a, p.b)
                          for stored, p in zip(data.pairs, pairs, strict=True)})


def bench_pair(title: str, plan: Path, directory: Path, repeats: int, side_a: Side,
               side_b: Side, execute: Executor,
               before_each: Callable[[], None] | None = None) -> Pair:
    """Bench A then B into ``directory/A`` and ``directory/B`` and compare them.

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
