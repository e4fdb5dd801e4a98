"""High-level entry point: load a plan, resolve providers, execute, write the run directory.

Everything that can be checked before spending anything is checked first: the plan, the
options, every provider the plan needs (including pinned ones) and their keys.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aetherflow.errors import ConfigError
from aetherflow.execution.attempt import Pricer
from aetherflow.execution.executor import ExecutionSettings, PlanExecutor
from aetherflow.execution.observer import RunObserver
from aetherflow.execution.prompt import check_input_files
from aetherflow.execution.rundir import RunDirectory, default_run_dir
from aetherflow.metrics.environment import capture_environment
from aetherflow.metrics.records import RunConfig, RunRecord
from aetherflow.plan.loader import load_plan
from aetherflow.plan.models import Plan, Step
from aetherflow.providers.base import Provider, ProviderSettings, create_provider

__all__ = ["ProviderPool", "RunOptions", "run_plan", "run_plan_async"]

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

    def execution_settings(self) -> ExecutionSettings:
        """The executor's view of these options (exactly the inherited fields)."""
        return ExecutionSettings(**{f.name: getattr(self, f.name)
                                    for f in fields(ExecutionSettings)})


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


async def run_plan_async(
    plan_path: Path, options: RunOptions, *, observer: RunObserver | None = None,
    resolver: SettingsResolver | None = None, pricer: Pricer | None = None,
) -> tuple[RunRecord, Path]:
    """Run the plan at ``plan_path``; return its final record and run directory."""
    options.check()
    plan_dir = plan_path.resolve().parent  # noqa: ASYNC240 - once, before any I/O starts
    plan = load_plan(plan_path)
    check_input_files(plan, plan_dir, str(plan_path))
    pool = ProviderPool(plan, options, resolver)
    price = pricer or _default_pricer(options.config_path)
    run_dir = RunDirectory(options.output or default_run_dir(plan.task_id))
    if run_dir.run_json.exists():
        raise ConfigError(f"{run_dir.path} already holds a run; choose another --output")
    try:
        await pool.start()
        provider = pool.default
        record = RunRecord(
            run_id=f"{run_dir.path.name}", task_id=plan.task_id, plan_path=str(plan_path),
            plan_description=plan.description, started_at=datetime.now(UTC).isoformat(),
            label=options.label, environment=capture_environment(),
            config=RunConfig(
                provider=provider.name, model=provider.model,
                base_url=getattr(provider, "base_url", None), concurrency=options.concurrency,
                max_tokens=options.max_tokens, temperature=options.temperature,
                step_timeout_s=options.step_timeout_s, max_attempts=options.max_attempts,
                emulated=provider.emulated, prompt_cache=options.prompt_cache,
                provider_options={k: v for k, v in options.provider_options.items()
                                  if isinstance(v, (str, int, float, bool, list))},
            ),
        )
        executor = PlanExecutor(
            plan, providers=pool.for_step, pricer=price,
            settings=options.execution_settings(), run_dir=run_dir, record=record,
            plan_dir=plan_dir, observer=observer,
        )
        return await executor.run(), run_dir.path
    finally:
        await pool.aclose()


def run_plan(plan_path: Path, options: RunOptions, *,
             observer: RunObserver | None = None) -> tuple[RunRecord, Path]:
    """Synchronous wrapper around :func:`run_plan_async`."""
    return asyncio.run(run_plan_async(plan_path, options, observer=observer))
