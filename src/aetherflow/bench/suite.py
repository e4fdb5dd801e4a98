"""``suite``: one bench per plan × variant, then one comparison report over all of them.

A variants file is a JSON list, or a TOML file with ``[[variants]]`` tables, of
``{name = "...", set = {key = value}}``; ``set`` uses the ``--set`` keys. Without a file
there is one variant, ``default``. Every bench is kept whole: failed plans stay in every
total, and the suite totals add up every run of every bench.

A suite records its own spec (plans, variants, repeats, run options) in
``suite_spec.json`` before its first bench, so :func:`resume_suite` can continue an
interrupted suite: finished benches are reused as they are, an interrupted one is resumed
with the spec it recorded, and the ones never started are run.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aetherflow.bench.compare import compare_benches
from aetherflow.bench.overlay import parse_overlay
from aetherflow.bench.runner import (
    BENCH_DATA_FILE,
    BENCH_SPEC_FILE,
    BenchSpec,
    load_benchmark_data,
)
from aetherflow.errors import (
    ConfigError,
    CorruptResultError,
    OutputError,
    ResultNotFoundError,
    one_line_error,
)
from aetherflow.execution.runner import RunOptions
from aetherflow.plan.loader import load_plan
from aetherflow.results.bench import BenchmarkData
from aetherflow.results.suite import SuiteBench, SuiteComparison, SuiteData

__all__ = [
    "SUITE_SPEC_FILE",
    "SuiteEntry",
    "SuiteExecutor",
    "SuiteSpec",
    "Variant",
    "load_suite_spec",
    "load_variants",
    "resume_suite",
    "run_suite",
    "suite_data",
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


SUITE_SPEC_FILE = "suite_spec.json"
#: Runs one bench of the suite and writes its reports: ``execute(spec, resume)``, where
#: ``resume`` continues the bench already in ``spec.output`` with the spec it recorded.
SuiteExecutor = Callable[[BenchSpec, bool], BenchmarkData]


class SuiteSpec(BaseModel):
    """What a suite runs, recorded in ``suite_spec.json`` so it can be resumed."""

    model_config = ConfigDict(extra="forbid")

    plans: list[str]
    variants: list[Variant]
    repeats: int
    #: The run options every bench starts from (``RunOptions.to_json``).
    options: dict[str, Any] = Field(default_factory=dict)
    fresh_server: bool = False

    def run_options(self) -> RunOptions:
        """The recorded run options."""
        return RunOptions.from_json(self.options)


def load_suite_spec(directory: Path) -> SuiteSpec:
    """The spec a suite recorded in ``directory`` (for ``suite --resume``)."""
    file = directory / SUITE_SPEC_FILE
    try:
        return SuiteSpec.model_validate_json(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultNotFoundError(f"{directory}: no {SUITE_SPEC_FILE}: not a suite directory "
                                  "AetherFlow can resume") from None
    except (OSError, ValueError) as exc:
        raise CorruptResultError(f"{file}: corrupt ({one_line_error(exc)})") from None


def _write_spec(out: Path, spec: SuiteSpec) -> None:
    if (out / SUITE_SPEC_FILE).exists():
        raise ConfigError(f"{out} already holds a suite; choose another --output (or "
                          f"continue it with --resume {out})")
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / SUITE_SPEC_FILE).write_text(spec.model_dump_json(indent=1, by_alias=True),
                                           encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write the suite directory {out}: "
                          f"{exc.strerror or exc}") from None


def run_suite(plans: Sequence[Path], variants: Sequence[Variant], out: Path, repeats: int,
              execute: SuiteExecutor, options: RunOptions | None = None,
              fresh_server: bool = False) -> list[SuiteEntry]:
    """Bench every plan × variant with ``execute`` into ``out/<task_id>/<variant>/``,
    starting from ``options``; the suite's spec is recorded first (``suite_spec.json``)."""
    for p in plans:  # every plan is checked before anything runs
        load_plan(p)
    spec = SuiteSpec(plans=[str(p) for p in plans], variants=list(variants), repeats=repeats,
                     options=(options or RunOptions()).to_json(), fresh_server=fresh_server)
    _write_spec(out, spec)
    return _run(spec, out, execute, resume=False)


def resume_suite(out: Path, execute: SuiteExecutor) -> list[SuiteEntry]:
    """Continue the suite in ``out`` with the spec it recorded: a finished bench is reused,
    an interrupted one resumed, one never started run."""
    return _run(load_suite_spec(out), out, execute, resume=True)


def _finished(dest: Path) -> BenchmarkData | None:
    """The bench in ``dest`` when it finished (its data says so), else None."""
    if not (dest / BENCH_DATA_FILE).is_file():
        return None
    data = load_benchmark_data(dest)
    return data if data.meta.finished_at else None


def _run(spec: SuiteSpec, out: Path, execute: SuiteExecutor, resume: bool,
         ) -> list[SuiteEntry]:
    plans = [Path(p) for p in spec.plans]
    task_ids = [load_plan(p).task_id for p in plans]
    options = spec.run_options()
    entries: list[SuiteEntry] = []
    for plan, task_id in zip(plans, task_ids, strict=True):
        for v in spec.variants:
            dest = out / task_id / v.name
            data = _finished(dest) if resume else None
            if data is None:
                bench = BenchSpec(plan=plan, output=dest, repeats=spec.repeats,
                                  overlay=v.overlay(), options=options,
                                  label=f"suite-{task_id}-{v.name}",
                                  fresh_server=spec.fresh_server)
                data = execute(bench, resume and (dest / BENCH_SPEC_FILE).is_file())
            entries.append(SuiteEntry(plan=str(plan), variant=v.name, output=str(dest),
                                      data=data))
    return entries


def suite_data(entries: Sequence[SuiteEntry], out: Path) -> SuiteData:
    """The suite's result: each bench's figures, and every variant compared with the first
    variant of the same plan (``out`` is the suite directory the bench paths are made
    relative to)."""

    def rel(path: str) -> str:
        try:
            return Path(path).relative_to(out).as_posix()
        except ValueError:
            return path

    benches = [SuiteBench(plan=e.plan, variant=e.variant, output=rel(e.output),
                          meta=e.data.meta, aggregates=e.data.aggregates) for e in entries]
    comparisons: list[SuiteComparison] = []
    by_plan: dict[str, list[SuiteEntry]] = {}
    for e in entries:
        by_plan.setdefault(e.data.meta.task_id, []).append(e)
    for task_id, group in by_plan.items():
        base = group[0]
        for other in group[1:]:
            cmp = compare_benches(base.data, other.data, base.variant, other.variant)
            comparisons.append(SuiteComparison(task_id=task_id, base=base.variant,
                                               variant=other.variant, comparison=cmp))
    return SuiteData(benches=benches, comparisons=comparisons)
