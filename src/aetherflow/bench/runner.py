"""Run a plan N times (plus K warm-ups) and build its :class:`BenchmarkData`.

Fresh state: every repeat is a separate :func:`run_plan_async` call, so it gets new
provider objects and new HTTP connections. For the embedded ``local`` provider that means
a **new llama.cpp server process per repeat** (empty KV and prompt cache; the server's
start-up happens before the run clock starts, so it is not in the makespan). With
``AETHERFLOW_LOCAL_URL`` or ``base_url`` the external server is reused across repeats and
the bench metadata says so (its prompt cache carries state between repeats); server
flags (``speculative``/``cache``) cannot be applied to it and are refused.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from aetherflow.bench.aggregate import compute_aggregates
from aetherflow.bench.model import BenchmarkData, BenchMeta, BenchRun, Thresholds
from aetherflow.bench.overlay import apply_overlay
from aetherflow.errors import ConfigError
from aetherflow.execution.attempt import Pricer
from aetherflow.execution.observer import NullObserver, RunObserver
from aetherflow.execution.runner import RunOptions, SettingsResolver, run_plan_async
from aetherflow.metrics.environment import capture_environment
from aetherflow.plan.loader import load_plan
from aetherflow.store.history import HistoryStore

__all__ = [
    "BENCH_DATA_FILE",
    "BenchObserver",
    "BenchSpec",
    "build_benchmark_data",
    "load_benchmark_data",
    "run_bench_async",
    "server_mode",
    "write_benchmark_data",
]

BENCH_DATA_FILE = "benchmark_data.json"


class BenchObserver(RunObserver, Protocol):
    """A run observer that is also told when each repeat starts."""

    def on_repeat_start(self, index: int, total: int, warmup: bool) -> None:
        """Repeat ``index`` (1-based over warm-ups then measured runs) is starting."""


class _NullBenchObserver(NullObserver):
    def on_repeat_start(self, index: int, total: int, warmup: bool) -> None:
        """Ignore."""


@dataclass(frozen=True)
class BenchSpec:
    """What to bench: a plan, how many times, with which options and overlay."""

    plan: Path
    output: Path
    repeats: int = 3
    warmup: int = 0
    options: RunOptions = field(default_factory=RunOptions)
    overlay: dict[str, str] = field(default_factory=dict)
    label: str | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)

    def check(self) -> None:
        """Reject impossible repeat counts."""
        if self.repeats < 1:
            raise ConfigError("--repeat must be at least 1")
        if self.warmup < 0:
            raise ConfigError("--warmup must be 0 or more")


def server_mode(options: RunOptions) -> str:
    """How provider state is handled between repeats (recorded in the bench metadata)."""
    if options.provider != "local":
        return "new provider session per repeat; provider-side caches are outside our control"
    external = options.base_url or os.environ.get("AETHERFLOW_LOCAL_URL")
    if external:
        if options.provider_options.get("server_args"):
            raise ConfigError("speculative/cache server flags need the embedded server; "
                              "unset AETHERFLOW_LOCAL_URL / base_url")
        return f"external llama.cpp server {external} reused across repeats (state carries over)"
    return "embedded llama.cpp server started fresh for every repeat (start-up not timed)"


def build_benchmark_data(meta: BenchMeta, runs: Sequence[BenchRun],
                         thresholds: Thresholds | None = None) -> BenchmarkData:
    """Assemble the report model; aggregates come from the non-warm-up runs only."""
    measured = [r.record for r in runs if not r.warmup]
    cache = meta.overlay.get("cache")
    return BenchmarkData(meta=meta, thresholds=thresholds or Thresholds(), runs=list(runs),
                         aggregates=compute_aggregates(measured, cache_setting=cache))


def write_benchmark_data(data: BenchmarkData, out_dir: Path) -> Path:
    """Atomically write ``benchmark_data.json`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / BENCH_DATA_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(data.model_dump_json(indent=2), encoding="utf-8")
    os.replace(tmp, path)
    return path


def load_benchmark_data(path: Path) -> BenchmarkData:
    """Read a ``benchmark_data.json`` (or the one inside a directory)."""
    file = path / BENCH_DATA_FILE if path.is_dir() else path
    try:
        return BenchmarkData.model_validate_json(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{file}: not found") from exc
    except ValueError as exc:
        raise ConfigError(f"{file}: not a valid benchmark_data.json: {exc}") from exc


def _meta(spec: BenchSpec, options: RunOptions, bench_id: int, task_id: str) -> BenchMeta:
    return BenchMeta(
        plan=str(spec.plan), task_id=task_id, label=spec.label, repeats=spec.repeats,
        warmup=spec.warmup, overlay=dict(spec.overlay), provider=options.provider,
        model=options.model, bench_id=bench_id, server_mode=server_mode(options),
        started_at=datetime.now(UTC).isoformat(), environment=capture_environment(),
    )


def _schedule(spec: BenchSpec) -> list[tuple[int, bool, Path]]:
    warm = [(i, True, spec.output / "runs" / f"warmup-{i}") for i in range(1, spec.warmup + 1)]
    measured = [(i, False, spec.output / "runs" / str(i)) for i in range(1, spec.repeats + 1)]
    return warm + measured


async def run_bench_async(
    spec: BenchSpec, *, observer: BenchObserver | None = None,
    resolver: SettingsResolver | None = None, pricer: Pricer | None = None,
    store: HistoryStore | None = None,
) -> BenchmarkData:
    """Run the bench, save every run to the history store, write ``benchmark_data.json``.

    ``benchmark_data.json`` is rewritten after every run, so an interrupted bench keeps
    what it measured.
    """
    spec.check()
    options = apply_overlay(spec.options, spec.overlay)
    options.check()
    plan = load_plan(spec.plan)
    if (spec.output / BENCH_DATA_FILE).exists():
        raise ConfigError(f"{spec.output} already holds a bench; choose another --output")
    obs = observer or _NullBenchObserver()
    own_store = store is None
    db = store or HistoryStore()
    try:
        bench_id = db.create_bench(plan.task_id, spec.label, str(spec.plan), spec.repeats)
        meta = _meta(spec, options, bench_id, plan.task_id)
        runs: list[BenchRun] = []
        schedule = _schedule(spec)
        for n, (index, warm, run_dir) in enumerate(schedule, start=1):
            obs.on_repeat_start(n, len(schedule), warm)
            label = f"{spec.label}:warmup" if warm and spec.label else spec.label
            run_opts = _with_output(options, run_dir, label)
            record, path = await run_plan_async(spec.plan, run_opts, observer=obs,
                                                resolver=resolver, pricer=pricer)
            hid = db.save_run(record, path, label=label, bench_id=None if warm else bench_id)
            runs.append(BenchRun(index=index, warmup=warm, run_dir=str(path.relative_to(
                spec.output)), history_id=hid, record=record))
            meta.emulated = meta.emulated or record.config.emulated
            meta.model = meta.model or record.config.model
            data = build_benchmark_data(meta, runs, spec.thresholds)
            write_benchmark_data(data, spec.output)
        meta.finished_at = datetime.now(UTC).isoformat()
        data = build_benchmark_data(meta, runs, spec.thresholds)
        write_benchmark_data(data, spec.output)
        return data
    finally:
        if own_store:
            db.close()


def _with_output(options: RunOptions, run_dir: Path, label: str | None) -> RunOptions:
    from dataclasses import replace

    return replace(options, output=run_dir, label=label)
