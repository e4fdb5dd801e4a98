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

import contextlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from aetherflow.bench.aggregate import DEFAULT_SLOS, compute_aggregates
from aetherflow.bench.overlay import apply_overlay
from aetherflow.errors import (
    ConfigError,
    CorruptResultError,
    OutputError,
    ResultNotFoundError,
    one_line_error,
)
from aetherflow.execution.attempt import Pricer
from aetherflow.execution.observer import NullObserver, RunObserver
from aetherflow.execution.runner import (
    RunOptions,
    SettingsResolver,
    resume_run_async,
    run_plan_async,
)
from aetherflow.metrics.environment import LoadSample, capture_environment, sample_load
from aetherflow.plan.loader import load_plan
from aetherflow.providers.local_server import shared_local_servers
from aetherflow.results.bench import (
    BENCH_DATA_FILE,
    BenchmarkData,
    BenchMeta,
    BenchRun,
    MachineLoad,
    Thresholds,
)
from aetherflow.results.run import RunRecord
from aetherflow.store.history import HistoryStore

__all__ = [
    "BENCH_DATA_FILE",
    "BENCH_SPEC_FILE",
    "BenchObserver",
    "BenchSpec",
    "build_benchmark_data",
    "load_bench_spec",
    "load_benchmark_data",
    "machine_load",
    "run_bench_async",
    "server_mode",
    "write_benchmark_data",
]



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
    #: Start a new embedded llama.cpp server for every repeat (the cold case) instead of
    #: one server per configuration for the whole bench, warm-up included.
    fresh_server: bool = False

    def check(self) -> None:
        """Reject impossible repeat counts."""
        if self.repeats < 1:
            raise ConfigError("--repeat must be at least 1")
        if self.warmup < 0:
            raise ConfigError("--warmup must be 0 or more")


def server_mode(options: RunOptions, fresh_server: bool = False) -> str:
    """How provider state is handled between repeats (recorded in the bench metadata)."""
    if options.provider != "local":
        return "new provider session per repeat; provider-side caches are outside our control"
    external = options.base_url or os.environ.get("AETHERFLOW_LOCAL_URL")
    if external:
        if options.provider_options.get("server_args"):
            raise ConfigError("speculative/cache server flags need the embedded server; "
                              "unset AETHERFLOW_LOCAL_URL / base_url")
        return f"external llama.cpp server {external} reused across repeats (state carries over)"
    if fresh_server:
        return ("embedded llama.cpp server started fresh for every repeat (--fresh-server: "
                "every repeat meets a cold server; start-up not timed)")
    return ("embedded llama.cpp server shared across repeats: started once per configuration "
            "(start-up not timed); its KV/prompt-cache state carries over, so only the first "
            "run (the warm-up, if any) meets a cold server")


def build_benchmark_data(meta: BenchMeta, runs: Sequence[BenchRun],
                         thresholds: Thresholds | None = None) -> BenchmarkData:
    """Assemble the report model; aggregates come from the non-warm-up runs only."""
    measured = [r.record for r in runs if not r.warmup]
    cache = meta.overlay.get("cache")
    return BenchmarkData(meta=meta, thresholds=thresholds or Thresholds(), runs=list(runs),
                         aggregates=compute_aggregates(measured, cache_setting=cache,
                                                       slos=meta.slos or None))


def write_benchmark_data(data: BenchmarkData, out_dir: Path) -> Path:
    """Atomically write ``benchmark_data.json`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / BENCH_DATA_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(data.model_dump_json(indent=2), encoding="utf-8")
    os.replace(tmp, path)
    return path


def load_benchmark_data(path: Path) -> BenchmarkData:
    """Read a ``benchmark_data.json`` (or the one inside a directory).

    A version-1 file (written before checks were executed) is re-aggregated from its runs,
    whose steps read as ``unvalidated``. A file that is missing is "not found"; one that
    does not parse or validate is "corrupt", in one line.
    """
    file = path / BENCH_DATA_FILE if path.is_dir() else path
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultNotFoundError(f"{file}: not found") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CorruptResultError(f"{file}: corrupt (not JSON: {exc})") from None
    try:
        if isinstance(raw, dict) and raw.get("schema_version") == "1":
            runs = [BenchRun.model_validate(r) for r in raw.get("runs", [])]
            meta = BenchMeta.model_validate(raw["meta"])
            return build_benchmark_data(meta, runs)
        return BenchmarkData.model_validate(raw)
    except (ValidationError, KeyError, TypeError) as exc:
        raise CorruptResultError(f"{file}: corrupt ({one_line_error(exc)})") from None


#: Load per CPU, and hypervisor steal share, above which a bench's timings are suspect.
BUSY_LOAD_PER_CPU = 0.7
BUSY_STEAL_SHARE = 0.05


def machine_load(samples: Sequence[LoadSample], cpus: int | None) -> MachineLoad:
    """How busy the machine was over ``samples`` (the first and last bound the steal)."""
    loads = [s.load1 for s in samples if s.load1 is not None]
    first, last = samples[0], samples[-1]
    steal = None
    if (first.cpu_total is not None and last.cpu_total is not None
            and first.cpu_steal is not None and last.cpu_steal is not None
            and last.cpu_total > first.cpu_total):
        steal = (last.cpu_steal - first.cpu_steal) / (last.cpu_total - first.cpu_total)
    peak = max(loads) if loads else None
    reasons = []
    if peak is not None and cpus and peak / cpus > BUSY_LOAD_PER_CPU:
        reasons.append(f"load average reached {peak:.2f} on {cpus} CPUs")
    if steal is not None and steal > BUSY_STEAL_SHARE:
        reasons.append(f"the hypervisor took {steal:.0%} of the CPU time (steal)")
    return MachineLoad(
        cpu_count=cpus, load_start=loads[0] if loads else None,
        load_end=loads[-1] if loads else None, load_max=peak, cpu_steal_share=steal,
        busy=bool(reasons),
        warning=("the machine was busy (" + "; ".join(reasons) + "): timings may be slower "
                 "and noisier than on a quiet machine; compare only side by side in one "
                 "run, or re-run when the machine is idle") if reasons else None,
        note=None if loads else "no load average on this system")


def _meta(spec: BenchSpec, options: RunOptions, bench_id: int, task_id: str) -> BenchMeta:
    return BenchMeta(
        plan=str(spec.plan), task_id=task_id, label=spec.label, repeats=spec.repeats,
        warmup=spec.warmup, overlay=dict(spec.overlay), provider=options.provider,
        model=options.model, bench_id=bench_id,
        server_mode=server_mode(options, spec.fresh_server),
        started_at=datetime.now(UTC).isoformat(), environment=capture_environment(),
        slos=dict(options.slos) or dict(DEFAULT_SLOS), slos_default=not options.slos,
    )


def _schedule(spec: BenchSpec) -> list[tuple[int, bool, Path]]:
    warm = [(i, True, spec.output / "runs" / f"warmup-{i}") for i in range(1, spec.warmup + 1)]
    measured = [(i, False, spec.output / "runs" / str(i)) for i in range(1, spec.repeats + 1)]
    return warm + measured


BENCH_SPEC_FILE = "bench_spec.json"
_FINISHED = ("passed", "unvalidated", "failed")


def _spec_json(spec: BenchSpec, options: RunOptions, bench_id: int) -> dict[str, Any]:
    return {"plan": str(spec.plan), "repeats": spec.repeats, "warmup": spec.warmup,
            "overlay": dict(spec.overlay), "label": spec.label, "bench_id": bench_id,
            "options": options.to_json(), "thresholds": spec.thresholds.model_dump(),
            "fresh_server": spec.fresh_server}


def load_bench_spec(directory: Path) -> tuple[BenchSpec, int]:
    """The spec a bench recorded in ``directory`` (for ``bench --resume``) and its id."""
    file = directory / BENCH_SPEC_FILE
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
        options = RunOptions.from_json(raw["options"])
        spec = BenchSpec(plan=Path(raw["plan"]), output=directory, repeats=raw["repeats"],
                         warmup=raw["warmup"], options=options, overlay=raw["overlay"],
                         label=raw["label"], thresholds=Thresholds(**raw["thresholds"]),
                         fresh_server=bool(raw.get("fresh_server", False)))
    except FileNotFoundError:
        raise ResultNotFoundError(f"{directory}: no {BENCH_SPEC_FILE}: not a bench "
                                  "directory AetherFlow can resume") from None
    except (OSError, ValueError, KeyError, TypeError, ValidationError) as exc:
        raise CorruptResultError(f"{file}: corrupt ({one_line_error(exc)})") from None
    return spec, int(raw["bench_id"])


async def _one_run(spec: BenchSpec, options: RunOptions, run_dir: Path, label: str | None,
                   db: HistoryStore, bench_id: int | None, seed: int, obs: BenchObserver,
                   resolver: SettingsResolver | None, pricer: Pricer | None,
                   ) -> tuple[RunRecord, Path]:
    """Run one repeat; on a resumed bench, reuse a finished run and resume a broken one."""
    if (run_dir / "run.json").exists() or (run_dir / "journal.jsonl").exists():
        record = _finished_record(run_dir)
        if record is not None:
            return record, run_dir
        return await resume_run_async(run_dir, observer=obs, resolver=resolver,
                                      pricer=pricer, history=db)
    run_opts = replace(options, output=run_dir, label=label, seed=seed)
    return await run_plan_async(spec.plan, run_opts, observer=obs, resolver=resolver,
                                pricer=pricer, history=db, bench_id=bench_id)


def _finished_record(run_dir: Path) -> RunRecord | None:
    try:
        record = RunRecord.model_validate_json((run_dir / "run.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return record if record.status in _FINISHED else None


async def run_bench_async(
    spec: BenchSpec, *, observer: BenchObserver | None = None,
    resolver: SettingsResolver | None = None, pricer: Pricer | None = None,
    store: HistoryStore | None = None, resume: bool = False,
) -> BenchmarkData:
    """Run the bench, save every run to the history store, write ``benchmark_data.json``.

    ``benchmark_data.json`` is rewritten after every run, so an interrupted bench keeps
    what it measured; ``resume`` continues a bench directory (finished runs reused, broken
    ones resumed, missing ones run) with the spec it recorded.
    """
    spec.check()
    options = apply_overlay(spec.options, spec.overlay)
    options.check()
    plan = load_plan(spec.plan)
    if not resume and ((spec.output / BENCH_DATA_FILE).exists()
                       or (spec.output / BENCH_SPEC_FILE).exists()):
        raise ConfigError(f"{spec.output} already holds a bench; choose another --output "
                          f"(or continue it with --resume {spec.output})")
    obs = observer or _NullBenchObserver()
    own_store = store is None
    db = store or HistoryStore()
    try:
        if resume:
            bench_id = load_bench_spec(spec.output)[1]
        else:
            _check_output(spec.output)
            bench_id = db.create_bench(plan.task_id, spec.label, str(spec.plan), spec.repeats,
                                       output_dir=spec.output)
            spec_file = spec.output / BENCH_SPEC_FILE
            # The options before the overlay: a resume applies the overlay again.
            spec_file.write_text(json.dumps(_spec_json(spec, spec.options, bench_id),
                                            indent=1),
                                 encoding="utf-8")
        meta = _meta(spec, options, bench_id, plan.task_id)
        runs: list[BenchRun] = []
        schedule = _schedule(spec)
        sharing = (contextlib.nullcontext(None) if spec.fresh_server
                   else shared_local_servers())
        with sharing as servers:
            loads = [sample_load()]
            for n, (index, warm, run_dir) in enumerate(schedule, start=1):
                obs.on_repeat_start(n, len(schedule), warm)
                label = f"{spec.label}:warmup" if warm and spec.label else spec.label
                before = len(servers.uses) if servers is not None else 0
                record, path = await _one_run(spec, options, run_dir, label, db,
                                              None if warm else bench_id, seed=n, obs=obs,
                                              resolver=resolver, pricer=pricer)
                use = (servers.uses[before] if servers is not None
                       and len(servers.uses) > before else None)
                found = db.find(record.run_id)
                runs.append(BenchRun(
                    index=index, warmup=warm, run_dir=str(path.relative_to(spec.output)),
                    history_id=found[0].id if found else None, record=record,
                    server_reused=use.reused if use else None,
                    server_runs_served=use.runs_served if use else None,
                    server_startup_s=use.startup_s if use else None))
                meta.emulated = meta.emulated or record.config.emulated
                meta.model = meta.model or record.config.model
                loads.append(sample_load())
                meta.machine_load = machine_load(loads, os.cpu_count())
                data = build_benchmark_data(meta, runs, spec.thresholds)
                write_benchmark_data(data, spec.output)
        meta.finished_at = datetime.now(UTC).isoformat()
        data = build_benchmark_data(meta, runs, spec.thresholds)
        write_benchmark_data(data, spec.output)
        return data
    finally:
        if own_store:
            db.close()


def _check_output(directory: Path) -> None:
    """The bench directory can be created and written (checked before anything is spent)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".write-test"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"cannot write the bench directory {directory}: "
                          f"{exc.strerror or exc}") from None
