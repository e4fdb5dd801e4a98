"""One definition of every option that changes how a plan runs, shared by ``run``, ``bench``,
``suite`` and the focused benchmarks.

:func:`with_run_flags` adds the options of :data:`RUN_FLAGS` to a command's signature and
hands the command one :class:`RunFlags` holding what the user gave (``None`` for an option
not given, so a default never hides a conflict with ``--set``). A test checks the parity of
every command by introspection.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, TypeVar

import typer

from aetherflow.errors import ConfigError

__all__ = ["RUN_FLAGS", "RunFlag", "RunFlags", "with_run_flags"]


@dataclass(frozen=True)
class RunFlag:
    """One shared option: its parameter name, type, flags, help, and the RunOptions field
    (and ``--set`` key) it sets."""

    name: str
    annotation: Any
    flags: tuple[str, ...]
    help: str
    metavar: str | None = None
    field: str | None = None
    overlay_key: str | None = None
    repeatable: bool = False


#: Every option that changes how a plan runs, in help order.
RUN_FLAGS: tuple[RunFlag, ...] = (
    RunFlag("provider", str | None, ("--provider", "-p"),
            "Default provider (steps may pin their own). \\[default: local]", "NAME",
            "provider", "provider"),
    RunFlag("model", str | None, ("--model", "-m"), "Model name for the provider.", "MODEL",
            "model", "model"),
    RunFlag("base_url", str | None, ("--base-url",), "Override the provider's URL.", "URL",
            "base_url", "base_url"),
    RunFlag("emulator", str | None, ("--emulator",),
            "Send every provider's requests to the provider emulator at this URL (see "
            "`aetherflow emulate`); no key needed; the run is labelled emulated.", "URL",
            "emulator_url"),
    RunFlag("fallback", list[str] | None, ("--fallback",),
            "Provider to fall over to after transient failures (repeatable).", "NAME",
            "fallbacks", repeatable=True),
    RunFlag("concurrency", int | None, ("--concurrency", "-c"),
            "Requests in flight at once. \\[default: 2]", "N", "concurrency", "concurrency"),
    RunFlag("max_tokens", int | None, ("--max-tokens",),
            "Output token cap per request. \\[default: 512]", "N", "max_tokens", "max_tokens"),
    RunFlag("temperature", float | None, ("--temperature",),
            "Sampling temperature. \\[default: 0.2]", "T", "temperature", "temperature"),
    RunFlag("step_timeout", float | None, ("--step-timeout",),
            "Seconds per step: generation, checks and repairs. \\[default: 300]", "SECONDS",
            "step_timeout_s", "step_timeout_s"),
    RunFlag("max_attempts", int | None, ("--max-attempts",),
            "Request attempts per provider on transient errors. \\[default: 3]", "N",
            "max_attempts", "max_attempts"),
    RunFlag("repairs", int | None, ("--repairs",),
            "Follow-up turns with the failing checks' output when checks fail. \\[default: 1]",
            "N", "repairs", "repairs"),
    RunFlag("workflow", str | None, ("--workflow",),
            "proto: generate, check, repair; prod: generate, review, check, repair. "
            "\\[default: proto]", "proto|prod", "workflow", "workflow"),
    RunFlag("review_provider", str | None, ("--review-provider",),
            "Provider of the prod workflow's review pass (default: the step's own).", "NAME",
            "review_provider", "review_provider"),
    RunFlag("review_model", str | None, ("--review-model",),
            "Model of the review pass.", "MODEL", "review_model", "review_model"),
    RunFlag("sandbox", str | None, ("--sandbox",),
            "Where checks run: auto (bubblewrap when it works, else the fallback), bwrap, "
            "process. \\[default: auto]", "auto|bwrap|process", "sandbox", "sandbox"),
    RunFlag("check_memory_mb", int | None, ("--check-memory-mb",),
            "Address-space limit of each check, MiB. \\[default: 1024]", "MIB",
            "check_memory_mb", "check_memory_mb"),
    RunFlag("max_cost_usd", float | None, ("--max-cost-usd",),
            "Stop launching attempts once the run's recorded spend reaches this; the steps "
            "left are skipped (reason: budget).", "USD", "max_cost_usd", "max_cost_usd"),
    RunFlag("config", Path | None, ("--config",), "aetherflow.toml to use.", "FILE",
            "config_path"),
    RunFlag("plugin", list[Path] | None, ("--plugin",),
            "Load a provider plugin from this Python file (repeatable; see "
            "docs/providers.md).", "FILE", "plugins", repeatable=True),
)

_BY_NAME = {f.name: f for f in RUN_FLAGS}
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class RunFlags:
    """What the user gave of the shared options (``None``: not given)."""

    values: Mapping[str, Any]

    def given(self) -> dict[str, Any]:
        """``{RunOptions field: value}`` of the options the user gave."""
        out: dict[str, Any] = {}
        for name, value in self.values.items():
            flag = _BY_NAME[name]
            if value is None or flag.field is None or (flag.repeatable and not value):
                continue
            out[flag.field] = tuple(value) if flag.repeatable else value
        return out

    def overlay_conflicts(self, overlay: Mapping[str, str]) -> None:
        """A setting given both as an option and as ``--set`` is an error."""
        for name, value in self.values.items():
            flag = _BY_NAME[name]
            if value not in (None, []) and flag.overlay_key in overlay:
                raise ConfigError(f"{flag.flags[0]} and --set {flag.overlay_key}=... both set "
                                  f"{flag.overlay_key}: give it once")

    def apply(self, options: Any) -> Any:
        """``options`` (a RunOptions) with the given values applied."""
        known = {f.name for f in fields(options)}
        return replace(options, **{k: v for k, v in self.given().items() if k in known})


def _parameter(flag: RunFlag) -> inspect.Parameter:
    option = typer.Option(None, *flag.flags, help=flag.help, metavar=flag.metavar,
                          show_default=False)
    return inspect.Parameter(flag.name, inspect.Parameter.KEYWORD_ONLY,
                             default=option, annotation=flag.annotation)


def with_run_flags(fn: F) -> F:
    """Give ``fn`` (a Typer command whose last parameter is ``flags: RunFlags``) every
    option of :data:`RUN_FLAGS`."""
    sig = inspect.signature(fn)
    own = [p for p in sig.parameters.values() if p.name != "flags"]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {f.name: kwargs.pop(f.name, None) for f in RUN_FLAGS}
        return fn(*args, flags=RunFlags(values), **kwargs)

    shared = [_parameter(f) for f in RUN_FLAGS]
    positional = [p for p in own if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    keyword = [p for p in own if p.kind is inspect.Parameter.KEYWORD_ONLY]
    wrapper.__signature__ = sig.replace(  # type: ignore[attr-defined]
        parameters=[*positional, *[p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
                                   for p in keyword], *shared])
    return wrapper  # type: ignore[return-value]
