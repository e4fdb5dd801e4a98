"""AetherFlow's Python API: what each command does, as functions (sync, with async twins).

Each function does what its CLI command does, history saving and report files included; the
CLI only parses its options, calls these, and renders::

    import aetherflow

    result = aetherflow.run_plan("examples/plans/calculator.json", max_tokens=128)
    print(result.record.status, result.run_dir)

    bench = aetherflow.run_bench("examples/plans/calculator.json", repeats=3)
    other = aetherflow.run_bench("examples/plans/calculator.json", repeats=3,
                                 overlay={"max_tokens": "64"})
    cmp = aetherflow.compare(bench.directory, other.directory, fail_if=["ttft_p50>+10%"])

    suite = aetherflow.run_suite(["a.json", "b.json"], "variants.toml", repeats=3)

Settings are the fields of :class:`~aetherflow.execution.runner.RunOptions`, given either as
an ``options`` object or as keyword arguments (``provider="openai", concurrency=4``), not
both for the same field.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aetherflow.errors import ConfigError
from aetherflow.execution.rundir import default_run_dir
from aetherflow.execution.runner import RunOptions

if TYPE_CHECKING:  # the engines are imported by the functions that use them: `aetherflow
    # run` starts without the bench, compare and statistics code (numpy included)
    from aetherflow.bench.compare import ComparisonData
    from aetherflow.bench.runner import BenchObserver, BenchSpec
    from aetherflow.bench.suite import SuiteExecutor, Variant
    from aetherflow.execution.observer import RunObserver
    from aetherflow.results.bench import BenchmarkData
    from aetherflow.results.run import RunRecord
    from aetherflow.results.suite import SuiteData

__all__ = [
    "BenchResult",
    "ComparisonResult",
    "RunResult",
    "SuiteResult",
    "bench_spec_async",
    "compare",
    "compare_async",
    "run_bench",
    "run_bench_async",
    "run_plan",
    "run_plan_async",
    "run_suite",
    "run_suite_async",
]


@dataclass(frozen=True)
class RunResult:
    """A finished (or interrupted) run: its record, its directory, its history id."""

    record: RunRecord
    run_dir: Path
    history_id: int | None

    @property
    def ok(self) -> bool:
        """``passed`` or ``unvalidated`` (what ``aetherflow run`` exits 0 for)."""
        return self.record.status in ("passed", "unvalidated")


@dataclass(frozen=True)
class BenchResult:
    """A finished bench: its data (the source of truth), directory and report files."""

    data: BenchmarkData
    directory: Path
    files: tuple[Path, ...]


@dataclass(frozen=True)
class ComparisonResult:
    """A comparison: its data, where its files are, and whether a ``--fail-if`` fired."""

    data: ComparisonData
    directory: Path | None

    @property
    def triggered(self) -> bool:
        """A ``fail_if`` rule fired (what ``aetherflow compare`` exits 1 for)."""
        return any(f.triggered for f in self.data.fail_if)


@dataclass(frozen=True)
class SuiteResult:
    """A finished suite: its data (each bench's figures, every variant's comparison), its
    directory and report files."""

    data: SuiteData
    directory: Path
    files: tuple[Path, ...]


def _options(options: RunOptions | None, settings: dict[str, Any]) -> RunOptions:
    """``options`` with ``settings`` applied; a setting given both ways is an error."""
    known = {f.name for f in fields(RunOptions)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)} (RunOptions fields: "
                          f"{', '.join(sorted(known))})")
    base = options or RunOptions()
    if options is not None:
        clash = sorted(k for k in settings if getattr(options, k) != getattr(RunOptions(), k))
        if clash:
            raise ConfigError(f"{', '.join(clash)} given both in options and as keywords")
    return replace(base, **settings)


async def run_plan_async(
    plan: str | Path | None = None, options: RunOptions | None = None, *,
    resume: str | Path | None = None, observer: RunObserver | None = None,
    save_history: bool = True, **settings: Any,
) -> RunResult:
    """Run ``plan`` (or continue the run directory ``resume``), as ``aetherflow run`` does:
    checks executed, journal kept, the run saved to the history when it starts and however
    it ends. Raises :class:`~aetherflow.errors.AetherFlowError` subclasses for bad input."""
    from aetherflow.execution.runner import resume_run_async
    from aetherflow.execution.runner import run_plan_async as _run_plan_async
    from aetherflow.plan.loader import load_plan
    from aetherflow.store.history import HistoryStore

    if (plan is None) == (resume is None):
        raise ConfigError("give a plan to run, or resume= a run directory to continue")
    store = HistoryStore() if save_history else None
    try:
        if resume is not None:
            record, run_dir = await resume_run_async(Path(resume), overrides=settings,
                                                     observer=observer, history=store)
        else:
            assert plan is not None
            opts = _options(options, settings)
            if opts.output is None:
                opts = replace(opts, output=default_run_dir(load_plan(plan).task_id))
            record, run_dir = await _run_plan_async(Path(plan), opts, observer=observer,
                                                    history=store)
        found = store.find(record.run_id) if store is not None else []
        return RunResult(record, run_dir, found[0].id if found else None)
    finally:
        if store is not None:
            store.close()


def run_plan(plan: str | Path | None = None, options: RunOptions | None = None, *,
             resume: str | Path | None = None, observer: RunObserver | None = None,
             save_history: bool = True, **settings: Any) -> RunResult:
    """Synchronous twin of :func:`run_plan_async`."""
    return asyncio.run(run_plan_async(plan, options, resume=resume, observer=observer,
                                      save_history=save_history, **settings))


async def bench_spec_async(spec: BenchSpec, *, resume: bool = False,
                           observer: BenchObserver | None = None,
                           write_reports: bool = True) -> BenchResult:
    """Run the bench ``spec`` describes (``resume``: continue the bench already in
    ``spec.output`` with the spec it recorded) and write its reports. The building block of
    :func:`run_bench_async` and the suites; the CLI calls it with its progress bars."""
    from aetherflow.bench.runner import load_bench_spec
    from aetherflow.bench.runner import run_bench_async as _run_bench_async
    from aetherflow.report import write_bench_reports

    if resume:
        spec = load_bench_spec(spec.output)[0]
    data = await _run_bench_async(spec, observer=observer, resume=resume)
    files = write_bench_reports(data, spec.output) if write_reports else []
    return BenchResult(data, spec.output, tuple(files))


async def run_bench_async(
    plan: str | Path | None = None, options: RunOptions | None = None, *,
    repeats: int = 3, warmup: int = 0, overlay: dict[str, str] | None = None,
    label: str | None = None, output: str | Path | None = None, fresh_server: bool = False,
    resume: str | Path | None = None, observer: BenchObserver | None = None,
    write_reports: bool = True, **settings: Any,
) -> BenchResult:
    """Repeat ``plan`` (or continue the bench directory ``resume``) and write its reports,
    as ``aetherflow bench`` does (every run saved to the history)."""
    from aetherflow.bench.overlay import parse_overlay
    from aetherflow.bench.runner import BenchSpec
    from aetherflow.plan.loader import load_plan

    if resume is not None:
        if plan is not None or settings:
            raise ConfigError("resume= continues the bench with the spec it recorded: give "
                              "no plan or settings")
        spec = BenchSpec(plan=Path(), output=Path(resume))
        return await bench_spec_async(spec, resume=True, observer=observer,
                                      write_reports=write_reports)
    if plan is None:
        raise ConfigError("give a plan to bench, or resume= a bench directory to continue")
    out = Path(output) if output else default_run_dir(
        load_plan(plan).task_id, root=Path("bench_results"))
    items = [f"{k}={v}" for k, v in (overlay or {}).items()]
    spec = BenchSpec(plan=Path(plan), output=out, repeats=repeats, warmup=warmup,
                     options=_options(options, settings), overlay=parse_overlay(items),
                     label=label, fresh_server=fresh_server)
    return await bench_spec_async(spec, observer=observer, write_reports=write_reports)


def run_bench(plan: str | Path | None = None, options: RunOptions | None = None, *,
              repeats: int = 3, warmup: int = 0, overlay: dict[str, str] | None = None,
              label: str | None = None, output: str | Path | None = None,
              fresh_server: bool = False, resume: str | Path | None = None,
              observer: BenchObserver | None = None, write_reports: bool = True,
              **settings: Any) -> BenchResult:
    """Synchronous twin of :func:`run_bench_async`."""
    return asyncio.run(run_bench_async(
        plan, options, repeats=repeats, warmup=warmup, overlay=overlay, label=label,
        output=output, fresh_server=fresh_server, resume=resume, observer=observer,
        write_reports=write_reports, **settings))


def compare(a: str | Path | BenchmarkData, b: str | Path | BenchmarkData, *,
            fail_if: Sequence[str] = (), mode: str = "significant",
            output: str | Path | None = None, write: bool = True) -> ComparisonResult:
    """Compare bench ``b`` with the baseline ``a`` (directories, history references or
    loaded data), evaluate ``fail_if`` rules, and write the comparison files, as
    ``aetherflow compare`` does."""
    from aetherflow.bench.compare import (
        FAIL_IF_MODES,
        FailIfMode,
        compare_benches,
        evaluate_rules,
        parse_fail_if,
    )
    from aetherflow.bench.sources import resolve_benches
    from aetherflow.report.comparison import write_comparison
    from aetherflow.results.bench import BenchmarkData

    if mode not in FAIL_IF_MODES:
        raise ConfigError(f"mode {mode!r}: expected one of {', '.join(FAIL_IF_MODES)}")
    rules = [parse_fail_if(e) for e in fail_if]  # bad rules fail before any work
    if isinstance(a, BenchmarkData) and isinstance(b, BenchmarkData):
        bench_a, bench_b, name_a, name_b = a, b, "A", "B"
    elif isinstance(a, BenchmarkData) or isinstance(b, BenchmarkData):
        raise ConfigError("compare two references or two loaded benches, not one of each")
    else:
        bench_a, bench_b = resolve_benches(str(a), str(b))
        name_a, name_b = str(a), str(b)
    data = compare_benches(bench_a, bench_b, name_a, name_b)
    chosen: FailIfMode = "point" if mode == "point" else "significant"
    data.fail_if = evaluate_rules(data, rules, mode=chosen)
    data.fail_if_mode = chosen if rules else None
    directory: Path | None = None
    if write:
        from aetherflow.bench.compare import default_comparison_dir

        directory = Path(output) if output else default_comparison_dir(
            bench_a, bench_b, name_a, name_b)
        write_comparison(data, directory, bench_a, bench_b)
    return ComparisonResult(data, directory)


async def compare_async(a: str | Path | BenchmarkData, b: str | Path | BenchmarkData, *,
                        fail_if: Sequence[str] = (), mode: str = "significant",
                        output: str | Path | None = None,
                        write: bool = True) -> ComparisonResult:
    """Async twin of :func:`compare` (the work runs in a thread)."""
    return await asyncio.to_thread(compare, a, b, fail_if=fail_if, mode=mode, output=output,
                                   write=write)


def run_suite(
    plans: Sequence[str | Path] = (), variants: Sequence[Variant] | str | Path | None = None,
    options: RunOptions | None = None, *, repeats: int = 3, output: str | Path | None = None,
    fresh_server: bool = False, resume: str | Path | None = None,
    observer: BenchObserver | None = None, execute: SuiteExecutor | None = None,
    **settings: Any,
) -> SuiteResult:
    """Bench every plan under every variant (a list, a JSON/TOML variants file, or None for
    one ``default`` variant), then write ``suite_data.json`` and the suite's comparison
    report, as ``aetherflow suite`` does; ``resume=`` continues a suite directory.

    ``execute`` runs one bench (default: :func:`bench_spec_async` with ``observer``); the CLI
    passes one that shows progress bars.
    """
    from aetherflow.bench import suite as engine
    from aetherflow.report.suite import write_suite_reports

    def default_execute(spec: BenchSpec, resume_bench: bool) -> BenchmarkData:
        return asyncio.run(bench_spec_async(spec, resume=resume_bench, observer=observer)).data

    run_one = execute or default_execute
    if resume is not None:
        if plans or variants is not None or settings or options is not None:
            raise ConfigError("resume= continues the suite with the spec it recorded: give "
                              "no plans, variants or settings")
        out = Path(resume)
        entries = engine.resume_suite(out, run_one)
    else:
        if not plans:
            raise ConfigError("give the plans of the suite, or resume= a suite directory")
        chosen = (list(variants) if isinstance(variants, Sequence)
                  and not isinstance(variants, str) else
                  engine.load_variants(None if variants is None else Path(variants)))
        out = Path(output) if output else default_run_dir("suite", root=Path("bench_results"))
        entries = engine.run_suite([Path(p) for p in plans], chosen, out, repeats, run_one,
                                   _options(options, settings), fresh_server)
    data = engine.suite_data(entries, out)
    return SuiteResult(data, out, tuple(write_suite_reports(data, out)))


async def run_suite_async(
    plans: Sequence[str | Path] = (), variants: Sequence[Variant] | str | Path | None = None,
    options: RunOptions | None = None, *, repeats: int = 3, output: str | Path | None = None,
    fresh_server: bool = False, resume: str | Path | None = None,
    observer: BenchObserver | None = None, **settings: Any,
) -> SuiteResult:
    """Async twin of :func:`run_suite` (the suite runs in a thread, each bench in its own
    event loop there)."""
    return await asyncio.to_thread(
        run_suite, plans, variants, options, repeats=repeats, output=output,
        fresh_server=fresh_server, resume=resume, observer=observer, **settings)
