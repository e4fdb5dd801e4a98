"""High-level entry point: load a plan, resolve providers, execute, write the run directory.

Everything that can be checked before spending anything is checked first: the plan, the
options, every provider the plan needs (including pinned ones) and their keys.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aetherflow.errors import ConfigError
from aetherflow.execution.attempt import Pricer
from aetherflow.execution.executor import ExecutionSettings, PlanExecutor
from aetherflow.execution.journal import JournalState, load_state, rebuild_record
from aetherflow.execution.observer import RunObserver
from aetherflow.execution.project import (
    Project,
    ReadySnapshot,
    apply_to_project,
    prepare_project_run,
    project_changes,
    run_changes,
)
from aetherflow.execution.prompt import check_input_files
from aetherflow.execution.rundir import RunDirectory, default_run_dir, run_is_live
from aetherflow.metrics.environment import capture_environment
from aetherflow.plan import plan_warnings
from aetherflow.plan.loader import load_plan
from aetherflow.plan.models import Plan, Step
from aetherflow.providers.base import (
    Provider,
    ProviderSettings,
    create_provider,
    load_plugin_file,
)
from aetherflow.results.run import ProjectApply, RunConfig, RunRecord
from aetherflow.store.history import HistoryStore

#: Metrics a ``--slo`` may bound (per attempt, except step_time_ms per step).
SLO_METRICS: dict[str, str] = {
    "ttft_ms": "time to first token of the step's last attempt, ms",
    "tpot_ms": "time per output token of the step's last attempt, ms/token",
    "ttr_ms": "time to response of the step's last attempt, ms",
    "step_time_ms": "the step's whole time: all attempts, checks and repairs, ms",
}

__all__ = ["SLO_METRICS", "ProviderPool", "RunOptions", "apply_run", "new_run_id",
           "plan_sha256", "resume_options", "resume_run_async", "run_plan", "run_plan_async"]

#: Resolves a provider name (plus CLI overrides) into settings; raises on missing keys.
SettingsResolver = Callable[[str, str | None, str | None], ProviderSettings]


@dataclass(frozen=True)
class RunOptions(ExecutionSettings):
    """What ``aetherflow run`` accepts: the executor's settings (inherited) plus where the
    requests go and where the run is written."""

    provider: str = "local"
    model: str | None = None
    base_url: str | None = None
    output: Path | None = None
    label: str | None = None
    config_path: Path | None = None
    emulator_url: str | None = None
    fallbacks: tuple[str, ...] = ()
    provider_options: dict[str, Any] = field(default_factory=dict)
    #: ``--workflow prod``'s reviewer (default: the step's own provider).
    review_provider: str | None = None
    review_model: str | None = None
    #: Provider plugin files loaded before any provider is resolved (``--plugin``).
    plugins: tuple[Path, ...] = ()
    #: An LLM judge for free-text criteria (``--judge-provider``/``--judge-model``); its
    #: verdicts are labelled ``judge`` and never count in executed pass rates.
    judge_provider: str | None = None
    judge_model: str | None = None
    #: Service-level objectives for goodput (``--slo ttft_ms=2000``): metric -> limit.
    slos: tuple[tuple[str, float], ...] = ()
    #: Run against a copy of this project (``--project``); the project is never modified
    #: unless ``apply`` (``--apply``) and every step passed or was unvalidated.
    project: Path | None = None
    #: The project's own environment (a virtualenv), bound read-only into the sandbox.
    project_env: Path | None = None
    apply: bool = False

    def load_plugins(self) -> None:
        """Load the ``--plugin`` files (a bad one is a ConfigError naming it)."""
        for path in self.plugins:
            load_plugin_file(path)

    def check(self) -> None:
        """Reject impossible values with one clear message."""
        if self.concurrency < 1:
            raise ConfigError("--concurrency must be at least 1")
        if self.max_tokens < 1:
            raise ConfigError("--max-tokens must be at least 1")
        if self.max_attempts < 1:
            raise ConfigError("--max-attempts must be at least 1")
        if self.step_timeout_s <= 0:
            raise ConfigError("--step-timeout must be positive")
        if self.prompt_cache not in ("default", "on", "off"):
            raise ConfigError("prompt cache must be default, on or off")
        if self.repairs < 0:
            raise ConfigError("--repairs must be 0 or more")
        if self.workflow not in ("proto", "prod"):
            raise ConfigError(f"--workflow must be proto or prod, not {self.workflow!r}")
        if self.max_cost_usd is not None and self.max_cost_usd <= 0:
            raise ConfigError("--max-cost-usd must be positive")
        if self.sandbox not in ("auto", "bwrap", "process"):
            raise ConfigError(f"--sandbox must be auto, bwrap or process, not {self.sandbox!r}")
        if self.check_memory_mb < 64:
            raise ConfigError("--check-memory-mb must be at least 64")
        for name, limit in self.slos:
            if name not in SLO_METRICS:
                raise ConfigError(f"--slo {name}: unknown metric (known: "
                                  f"{', '.join(SLO_METRICS)})")
            if limit <= 0:
                raise ConfigError(f"--slo {name}={limit:g}: a limit must be positive")
        if self.judge_model and not self.judge_provider:
            raise ConfigError("--judge-model needs --judge-provider")
        if self.project_env is not None and self.project is None:
            raise ConfigError("--project-env needs --project")
        if self.apply and self.project is None:
            raise ConfigError("--apply needs --project (it writes the run's changes back)")

    def execution_settings(self) -> ExecutionSettings:
        """The executor's view of these options (exactly the inherited fields)."""
        return ExecutionSettings(**{f.name: getattr(self, f.name)
                                    for f in fields(ExecutionSettings)})

    def to_json(self) -> dict[str, Any]:
        """The options as JSON values (kept in the journal, so a resume runs alike)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = [str(v) if isinstance(v, Path) else
                         list(v) if isinstance(v, tuple) else v for v in value]
            out[f.name] = value
        out["provider_options"] = {k: v for k, v in self.provider_options.items()
                                   if isinstance(v, (str, int, float, bool, list))}
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunOptions:
        """Options from :meth:`to_json` (unknown keys from other versions are ignored)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "slos" in values:
            values["slos"] = tuple((str(k), float(v)) for k, v in values["slos"])
        for key in ("output", "config_path", "project", "project_env"):
            if values.get(key) is not None:
                values[key] = Path(values[key])
        if "fallbacks" in values:
            values["fallbacks"] = tuple(values["fallbacks"])
        if "plugins" in values:
            values["plugins"] = tuple(Path(p) for p in values["plugins"])
        return cls(**values)


def _default_resolver(options: RunOptions) -> SettingsResolver:
    from aetherflow.config import emulated_provider_settings, resolve_provider_settings

    def resolve(name: str, model: str | None, base_url: str | None) -> ProviderSettings:
        if options.emulator_url:
            return emulated_provider_settings(name, options.emulator_url, model=model)
        return resolve_provider_settings(name, model=model, base_url=base_url,
                                         config_path=options.config_path)

    return resolve


def _default_pricer(config_path: Path | None) -> Pricer:
    from aetherflow.config import load_config
    from aetherflow.providers.pricing import price_attempt

    overrides = load_config(config_path).load_price_overrides()

    def price(provider: str, model: str, usage: Any) -> Any:
        return price_attempt(provider, model, usage, overrides=overrides)

    return price


class ProviderPool:
    """The providers one run uses: resolved up front, started once, closed at the end."""

    def __init__(self, plan: Plan, options: RunOptions,
                 resolver: SettingsResolver | None = None) -> None:
        resolve = resolver or _default_resolver(options)
        names = {options.provider, *options.fallbacks} | {
            s.context.provider for s in plan.steps if s.context.provider}
        self._default = options.provider
        self._fallbacks = [f for f in dict.fromkeys(options.fallbacks) if f != options.provider]
        self._providers: dict[str, Provider] = {}
        for name in sorted(n for n in names if n):
            own = name == options.provider
            settings = resolve(name, options.model if own else None,
                               options.base_url if own else None)
            if own and options.provider_options:
                settings = ProviderSettings(
                    name=settings.name, model=settings.model, base_url=settings.base_url,
                    api_key=settings.api_key,
                    options={**settings.options, **options.provider_options})
            self._providers[name] = create_provider(settings)
        self.reviewer: Provider | None = None
        if options.review_provider:
            settings = resolve(options.review_provider, options.review_model, None)
            self.reviewer = create_provider(settings)
            self._providers[f"review:{options.review_provider}"] = self.reviewer
        self.judge: Provider | None = None
        if options.judge_provider:
            settings = resolve(options.judge_provider, options.judge_model, None)
            self.judge = create_provider(settings)
            self._providers[f"judge:{options.judge_provider}"] = self.judge

    @property
    def default(self) -> Provider:
        """The run's default provider."""
        return self._providers[self._default]

    def for_step(self, step: Step) -> list[Provider]:
        """The providers to try for ``step``, in order: a step pinned with
        ``context.provider`` uses that provider only; others use the default, then the
        fallbacks (each after the previous one exhausted its retries on transient errors)."""
        if step.context.provider:
            return [self._providers[step.context.provider]]
        return [self._providers[n] for n in (self._default, *self._fallbacks)]

    async def start(self) -> None:
        """Start every provider (e.g. launch the embedded model server)."""
        for provider in self._providers.values():
            await provider.start()

    async def aclose(self) -> None:
        """Close every provider; never raises for one that failed to start."""
        for provider in self._providers.values():
            await provider.aclose()


def new_run_id(task_id: str, now: datetime | None = None) -> str:
    """A run id unique across histories: time, task, 8 random hex digits."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{task_id}-{secrets.token_hex(4)}"


def plan_sha256(path: Path) -> str:
    """sha256 of the plan file's bytes (a resume refuses a plan that changed)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _config(provider: Provider, options: RunOptions) -> RunConfig:
    return RunConfig(
        provider=provider.name, model=provider.model,
        base_url=getattr(provider, "base_url", None), concurrency=options.concurrency,
        max_tokens=options.max_tokens, temperature=options.temperature,
        step_timeout_s=options.step_timeout_s, max_attempts=options.max_attempts,
        emulated=provider.emulated, prompt_cache=options.prompt_cache,
        provider_options={k: v for k, v in options.provider_options.items()
                          if isinstance(v, (str, int, float, bool, list))},
        repairs=options.repairs, workflow=options.workflow, max_cost_usd=options.max_cost_usd,
        sandbox=options.sandbox, seed=options.seed, slos=dict(options.slos),
        judge=(f"{options.judge_provider}/{options.judge_model or 'default model'}"
               if options.judge_provider else None),
        project=str(options.project) if options.project else None,
    )


class _History:
    """Saves a run to the history when it starts and whatever way it ends."""

    def __init__(self, store: HistoryStore | None, bench_id: int | None) -> None:
        self.store, self.bench_id = store, bench_id
        self.id: int | None = None

    def save(self, record: RunRecord, run_dir: Path) -> None:
        if self.store is not None:
            self.id = self.store.save_run(record, run_dir, label=record.label,
                                          bench_id=self.bench_id)


async def _execute(plan: Plan, plan_dir: Path, options: RunOptions, pool: ProviderPool,
                   run_dir: RunDirectory, record_for: Callable[[Provider], RunRecord],
                   price: Pricer, observer: RunObserver | None, history: _History,
                   **extra: Any) -> RunRecord:
    try:
        await pool.start()
        record = record_for(pool.default)
        executor = PlanExecutor(
            plan, providers=pool.for_step, pricer=price,
            settings=options.execution_settings(), run_dir=run_dir, record=record,
            plan_dir=plan_dir, observer=observer, reviewer=pool.reviewer, judge=pool.judge,
            options=options.to_json(), **extra,
        )
        history.save(record, run_dir.path)
        try:
            return await executor.run()
        finally:
            history.save(record, run_dir.path)
    finally:
        await pool.aclose()


async def run_plan_async(
    plan_path: Path, options: RunOptions, *, observer: RunObserver | None = None,
    resolver: SettingsResolver | None = None, pricer: Pricer | None = None,
    history: HistoryStore | None = None, bench_id: int | None = None,
) -> tuple[RunRecord, Path]:
    """Run the plan at ``plan_path``; return its final record and run directory.

    With ``history``, the run is saved when it starts (``running``) and again however it
    ends (passed, failed, interrupted): nothing run is ever missing from the history.
    """
    options.check()
    options.load_plugins()
    project = Project.open(options.project) if options.project else None
    plan_dir = project.root if project else plan_path.resolve().parent  # noqa: ASYNC240
    plan = load_plan(plan_path)
    check_input_files(plan, plan_dir, str(plan_path), project=project is not None)
    pool = ProviderPool(plan, options, resolver)
    price = pricer or _default_pricer(options.config_path)
    run_dir = RunDirectory(options.output or default_run_dir(plan.task_id))
    if run_dir.run_json.exists() or run_dir.journal_path.exists():
        raise ConfigError(f"{run_dir.path} already holds a run; choose another --output "
                          f"(or continue it with --resume {run_dir.path})")
    run_dir.check_writable()
    run_dir.lock()
    digest = plan_sha256(plan_path)
    snapshot = (prepare_project_run(project, run_dir.path, exclude=[run_dir.path.parent])
                if project else None)

    warnings = [f"plan: {w}" for w in plan_warnings(plan)]

    def record_for(provider: Provider) -> RunRecord:
        return RunRecord(
            run_id=new_run_id(plan.task_id), task_id=plan.task_id, plan_path=str(plan_path),
            plan_description=plan.description, started_at=datetime.now(UTC).isoformat(),
            label=options.label, environment=capture_environment(),
            config=_config(provider, options), plan_sha256=digest, warnings=warnings,
        )

    try:
        record = await _execute(plan, plan_dir, options, pool, run_dir, record_for, price,
                                observer, _History(history, bench_id), project=snapshot,
                                project_env=options.project_env)
        if options.apply:
            apply_run(run_dir, record)
    finally:
        run_dir.close()
    return record, run_dir.path


def apply_run(run_dir: RunDirectory, record: RunRecord) -> ProjectApply:
    """``--apply``: write a project run's changes back into the project, only when no step
    failed or was skipped and no project file changed since the copy (atomically; the diff
    kept as ``applied.diff``), listing the changes no executed check verified. The outcome
    is recorded on ``record`` (and in run.json)."""
    if record.status not in ("passed", "unvalidated"):
        bad = [s.step_id for s in record.steps if s.status in ("failed", "skipped")]
        outcome = ProjectApply(applied=False, note=(
            f"not applied: the run {record.status} (steps {', '.join(bad) or '-'}); nothing "
            "was written to the project (`aetherflow diff` shows what the run changed)"))
    else:
        changes = run_changes(run_dir.path)
        if not changes.after:
            outcome = ProjectApply(applied=False, note="nothing to apply: the run changed "
                                                       "no project file")
        else:
            result = apply_to_project(Path(changes.manifest.root), changes.manifest,
                                      changes.after)
            diff_file = run_dir.path / "applied.diff"
            diff_file.write_text(result.diff, encoding="utf-8")
            verified = {f for s in record.steps if s.status == "passed"
                        for f in [*s.files_written, *s.files_deleted]}
            outcome = ProjectApply(
                applied=True, files=result.written, diff_file=diff_file.name,
                unverified=[f for f in result.written if f not in verified])
    record.project_apply = outcome
    run_dir.write_record(record)
    return outcome


def _resume_state(run_dir: RunDirectory) -> JournalState:
    if run_is_live(run_dir.path):
        raise ConfigError(f"{run_dir.path} is being run by another AetherFlow process "
                          "right now")
    state = load_state(run_dir.journal_path)
    if not state.header:
        raise ConfigError(f"{run_dir.path}: no run journal to resume (not a run directory, "
                          "or a run written before AetherFlow kept journals)")
    last = state.sessions[-1] if state.sessions else None
    if last is not None and last.end == "finished":
        raise ConfigError(f"{run_dir.path}: the run already finished; nothing to resume")
    return state


def resume_options(run_dir: Path, overrides: Mapping[str, Any] | None = None) -> RunOptions:
    """The options a run recorded; any override that differs is an error (a resumed run
    continues exactly as it started)."""
    state = _resume_state(RunDirectory(run_dir))
    options = RunOptions.from_json(state.options)
    recorded = options.to_json()
    for key, value in (overrides or {}).items():
        if key in recorded and recorded[key] != value and key not in ("output",):
            raise ConfigError(f"--resume continues with the options the run recorded: "
                              f"{key}={value!r} conflicts with the recorded {recorded[key]!r}")
    return replace(options, output=run_dir)


def _prepare_resume(run_dir: RunDirectory, overrides: Mapping[str, Any] | None,
                    ) -> tuple[RunOptions, JournalState, Path]:
    options = resume_options(run_dir.path, overrides)
    options.load_plugins()
    state = _resume_state(run_dir)
    plan_path = Path(state.header.get("plan_path") or "")
    if not plan_path.is_file():
        raise ConfigError(f"cannot resume: the plan {plan_path} is gone")
    if (digest := plan_sha256(plan_path)) != state.header.get("plan_sha256"):
        raise ConfigError(f"cannot resume: {plan_path} changed since the run started "
                          f"(sha256 {digest[:12]}..., recorded "
                          f"{str(state.header.get('plan_sha256'))[:12]}...)")
    return options, state, plan_path


async def resume_run_async(
    run_path: Path, *, overrides: Mapping[str, Any] | None = None,
    observer: RunObserver | None = None, resolver: SettingsResolver | None = None,
    pricer: Pricer | None = None, history: HistoryStore | None = None,
) -> tuple[RunRecord, Path]:
    """Continue a crashed or interrupted run in ``run_path`` with the options it recorded.

    Steps whose result is in the journal are reused as recorded and never requested again;
    a step that was in flight continues from its journaled attempts; the new attempts carry
    the new session number. A plan file that changed since is refused.
    """
    run_dir = RunDirectory(run_path)
    options, state, plan_path = _prepare_resume(run_dir, overrides)
    snapshot = _resume_snapshot(run_path, options)
    plan_dir = (Path(snapshot.manifest.root) if snapshot is not None
                else plan_path.resolve().parent)
    plan = load_plan(plan_path)
    pool = ProviderPool(plan, options, resolver)
    price = pricer or _default_pricer(options.config_path)
    run_dir.lock()
    record = rebuild_record(state, [s.id for s in plan.steps])
    for session in record.sessions:
        if session.end == "running":
            session.end = "crashed"
    lost = {sid: e for sid, e in state.steps.items() if e.record is None and e.partial}
    if lost:
        chars = sum(len(t) for e in lost.values() for t in e.partial.values())
        record.warnings.append(
            f"session {record.sessions[-1].session if record.sessions else 1} ended with "
            f"{sum(len(e.partial) for e in lost.values())} attempt(s) in flight "
            f"({', '.join(sorted(lost))}); their {chars} streamed characters are in the "
            "journal; whether they were billed is unknown")
    record.status = "running"
    finished = {sid: e for sid, e in state.steps.items() if e.record is not None}
    in_flight = {sid: e for sid, e in state.steps.items() if e.record is None and e.attempts}
    number = max((s.session for s in record.sessions), default=0) + 1
    try:
        result = await _execute(plan, plan_dir, options, pool, run_dir, lambda _p: record,
                                price, observer, _History(history, None), session=number,
                                finished=finished, in_flight=in_flight, project=snapshot,
                                project_env=options.project_env)
        if options.apply:
            apply_run(run_dir, result)
    finally:
        run_dir.close()
    return result, run_path


def _resume_snapshot(run_path: Path, options: RunOptions) -> ReadySnapshot | None:
    """A project run's copy, after checking that the project did not change since."""
    if options.project is None:
        return None
    snapshot = ReadySnapshot.of_run(run_path)
    drift = project_changes(Path(snapshot.manifest.root), snapshot.manifest)
    if drift:
        raise ConfigError(f"cannot resume: the project changed since the run copied it "
                          f"({len(drift)} file(s): {', '.join(drift[:5])}); start a new run")
    return snapshot


def run_plan(plan_path: Path, options: RunOptions, *,
             observer: RunObserver | None = None) -> tuple[RunRecord, Path]:
    """Synchronous wrapper around :func:`run_plan_async`."""
    return asyncio.run(run_plan_async(plan_path, options, observer=observer))
