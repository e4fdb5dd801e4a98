"""One definition of every option that changes how a plan runs, shared by ``run``, ``bench``,
``suite`` and the focused benchmarks.

:func:`with_run_flags` adds the options of :data:`RUN_FLAGS` to a command's signature and
hands the command one :class:`RunFlags` holding what the user gave (``None`` for an option
not given, so a default never hides a conflict with ``--set``); :func:`with_bench_flags`
adds :data:`BENCH_FLAGS` as well (the bench family). A unit test checks the parity of
every command by introspection.

This module is imported when the CLI starts: it imports nothing heavier than typer.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, TypeVar

import typer

from aetherflow.errors import ConfigError

__all__ = ["BENCH_FLAGS", "PANELS", "RUN_FLAGS", "SLO_NAMES", "RunFlag", "RunFlags",
           "parse_slos", "with_bench_flags", "with_run_flags"]

#: Help panels the shared options are grouped in (a command's own options come first).
PANELS = ("Provider", "Execution", "Checks and quality", "Project", "Benchmark")
#: The metrics ``--slo`` accepts (``execution.runner.SLO_METRICS``; a unit test keeps them
#: equal: this module must not import the execution layer at start-up).
SLO_NAMES: tuple[str, ...] = ("ttft_ms", "tpot_ms", "ttr_ms", "step_time_ms")


@dataclass(frozen=True)
class RunFlag:
    """One shared option: its parameter name, type, flags, help, metavar, help panel, and
    the RunOptions field (and ``--set`` key) it sets."""

    name: str
    annotation: Any
    flags: tuple[str, ...]
    help: str
    metavar: str | None = None
    field: str | None = None
    overlay_key: str | None = None
    repeatable: bool = False
    panel: str = "Execution"


def _flag(name: str, annotation: Any, flags: tuple[str, ...], help: str,
          metavar: str | None, field: str | None, overlay_key: str | None = None, *,
          panel: str, repeatable: bool = False) -> RunFlag:
    return RunFlag(name, annotation, flags, help, metavar, field, overlay_key, repeatable,
                   panel)


_P, _E, _Q, _J = PANELS[:4]

#: Every option that changes how a plan runs, in help order.
RUN_FLAGS: tuple[RunFlag, ...] = (
    _flag("provider", str | None, ("--provider", "-p"),
          "Default provider (steps may pin their own). \\[default: local]", "NAME",
          "provider", "provider", panel=_P),
    _flag("model", str | None, ("--model", "-m"), "Model name for the provider.", "MODEL",
          "model", "model", panel=_P),
    _flag("base_url", str | None, ("--base-url",), "Override the provider's URL.", "URL",
          "base_url", "base_url", panel=_P),
    _flag("emulator", str | None, ("--emulator",),
          "Send every provider's requests to the provider emulator at this URL (see "
          "aetherflow emulate); no key needed; results are labelled emulated.", "URL",
          "emulator_url", panel=_P),
    _flag("fallback", list[str] | None, ("--fallback",),
          "Provider to fall over to after transient failures (repeatable).", "NAME",
          "fallbacks", panel=_P, repeatable=True),
    _flag("config", Path | None, ("--config",), "The aetherflow.toml to use.", "FILE",
          "config_path", panel=_P),
    _flag("plugin", list[Path] | None, ("--plugin",),
          "Load a provider plugin from this Python file (repeatable; see "
          "docs/providers.md).", "FILE", "plugins", panel=_P, repeatable=True),
    _flag("concurrency", int | None, ("--concurrency", "-c"),
          "Requests in flight at once. \\[default: 2]", "N", "concurrency", "concurrency",
          panel=_E),
    _flag("max_tokens", int | None, ("--max-tokens",),
          "Output token cap per request. \\[default: 512]", "N", "max_tokens", "max_tokens",
          panel=_E),
    _flag("temperature", float | None, ("--temperature",),
          "Sampling temperature. \\[default: 0.2]", "T", "temperature", "temperature",
          panel=_E),
    _flag("seed", int | None, ("--seed",),
          "Sampling seed sent to providers that take one (local, openai, groq, "
          "openai-compatible).", "N", "seed", panel=_E),
    _flag("step_timeout", float | None, ("--step-timeout",),
          "Seconds per step: generation, checks and repairs. \\[default: 300]", "SECONDS",
          "step_timeout_s", "step_timeout_s", panel=_E),
    _flag("max_attempts", int | None, ("--max-attempts",),
          "Request attempts per provider on transient errors. \\[default: 3]", "N",
          "max_attempts", "max_attempts", panel=_E),
    _flag("max_cost_usd", float | None, ("--max-cost-usd",),
          "Stop launching attempts once the recorded spend reaches this; the steps left "
          "are skipped (reason: budget).", "USD", "max_cost_usd", "max_cost_usd", panel=_E),
    _flag("repairs", int | None, ("--repairs",),
          "Follow-up turns with the failing checks' output when checks fail. "
          "\\[default: 1]", "N", "repairs", "repairs", panel=_Q),
    _flag("workflow", str | None, ("--workflow",),
          "proto: generate, check, repair; prod: generate, review, check, repair. "
          "\\[default: proto]", "NAME", "workflow", "workflow", panel=_Q),
    _flag("review_provider", str | None, ("--review-provider",),
          "Provider of the prod workflow's review pass (default: the step's own).", "NAME",
          "review_provider", "review_provider", panel=_Q),
    _flag("review_model", str | None, ("--review-model",), "Model of the review pass.",
          "MODEL", "review_model", "review_model", panel=_Q),
    _flag("judge_provider", str | None, ("--judge-provider",),
          "Judge free-text criteria with this provider (verdicts labelled judge; they "
          "never count as executed checks).", "NAME", "judge_provider", panel=_Q),
    _flag("judge_model", str | None, ("--judge-model",), "Model of the judge.", "MODEL",
          "judge_model", panel=_Q),
    _flag("slo", list[str] | None, ("--slo",),
          "Service-level objective for goodput, e.g. ttft_ms=2000 (repeatable; metrics: "
          + ", ".join(SLO_NAMES) + ").", "NAME=VALUE", "slos", panel=_Q, repeatable=True),
    _flag("sandbox", str | None, ("--sandbox",),
          "Where checks run: auto (bubblewrap when it works, else the fallback), bwrap or "
          "process. \\[default: auto]", "MODE", "sandbox", "sandbox", panel=_Q),
    _flag("check_memory_mb", int | None, ("--check-memory-mb",),
          "Address-space limit of each check, MiB. \\[default: 1024]", "MIB",
          "check_memory_mb", "check_memory_mb", panel=_Q),
    _flag("project", Path | None, ("--project",),
          "Run against a copy of this project directory (it is not changed).", "DIR",
          "project", panel=_J),
    _flag("project_env", Path | None, ("--project-env",),
          "The project's virtualenv, visible read-only to the checks (needs --project).",
          "DIR", "project_env", panel=_J),
)

#: Options of the bench family only (``bench``, ``suite``, the focused benchmarks).
BENCH_FLAGS: tuple[RunFlag, ...] = (
    _flag("fresh_server", bool, ("--fresh-server",),
          "Start a fresh embedded llama.cpp server for every repeat (every repeat meets a "
          "cold server) instead of one per configuration.", None, None, panel=PANELS[4]),
)

_BY_NAME = {f.name: f for f in (*RUN_FLAGS, *BENCH_FLAGS)}
F = TypeVar("F", bound=Callable[..., Any])


def parse_slos(items: Iterable[str]) -> tuple[tuple[str, float], ...]:
    """``--slo NAME=VALUE`` items as ``((name, limit), ...)``; a bad one is a ConfigError."""
    out: list[tuple[str, float]] = []
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep:
            raise ConfigError(f"--slo {item!r}: expected NAME=VALUE, e.g. ttft_ms=2000")
        if name not in SLO_NAMES:
            raise ConfigError(f"--slo {item!r}: unknown metric {name!r} (known: "
                              f"{', '.join(SLO_NAMES)})")
        try:
            limit = float(value)
        except ValueError:
            raise ConfigError(f"--slo {item!r}: {value.strip()!r} is not a number") from None
        if not limit > 0:
            raise ConfigError(f"--slo {item!r}: a limit must be positive")
        out.append((name, limit))
    return tuple(out)


@dataclass(frozen=True)
class RunFlags:
    """What the user gave of the shared options (``None``: not given)."""

    values: Mapping[str, Any]

    def is_given(self, name: str) -> bool:
        """Whether the option ``name`` (a parameter name, e.g. ``concurrency``) was given."""
        value = self.values.get(name)
        if value is None or value is False:  # not given, or a flag left off
            return False
        return not (isinstance(value, (list, tuple)) and not value)  # 0 is a value

    def given_options(self) -> list[str]:
        """The option names (``--concurrency``) of the options the user gave."""
        return [_BY_NAME[name].flags[0] for name in self.values if self.is_given(name)]

    def given(self) -> dict[str, Any]:
        """``{RunOptions field: value}`` of the options the user gave."""
        out: dict[str, Any] = {}
        for name, value in self.values.items():
            flag = _BY_NAME[name]
            if flag.field is None or not self.is_given(name):
                continue
            if name == "slo":
                out[flag.field] = parse_slos(value)
            else:
                out[flag.field] = tuple(value) if flag.repeatable else value
        return out

    @property
    def fresh_server(self) -> bool:
        """``--fresh-server`` (bench family)."""
        return bool(self.values.get("fresh_server"))

    def overlay_conflicts(self, overlay: Mapping[str, str]) -> None:
        """A setting given both as an option and as ``--set`` is an error."""
        for name in self.values:
            flag = _BY_NAME[name]
            if self.is_given(name) and flag.overlay_key in overlay:
                raise ConfigError(f"{flag.flags[0]} and --set {flag.overlay_key}=... both set "
                                  f"{flag.overlay_key}: give it once")

    def reject(self, names: Iterable[str], why: str) -> None:
        """One clear error when any option in ``names`` was given: ``--NAME: why``."""
        for name in names:
            if self.is_given(name):
                raise ConfigError(f"{_BY_NAME[name].flags[0]}: {why}")

    def apply(self, options: Any, *, skip: Iterable[str] = ()) -> Any:
        """``options`` (a RunOptions) with the given values applied (fields in ``skip``,
        RunOptions field names, left as they are)."""
        known = {f.name for f in fields(options)} - set(skip)
        return replace(options, **{k: v for k, v in self.given().items() if k in known})


def _parameter(flag: RunFlag) -> inspect.Parameter:
    default: Any = False if flag.annotation is bool else None
    option = typer.Option(default, *flag.flags, help=flag.help, metavar=flag.metavar,
                          show_default=False, rich_help_panel=f"{flag.panel} options")
    return inspect.Parameter(flag.name, inspect.Parameter.KEYWORD_ONLY,
                             default=option, annotation=flag.annotation)


def _with_flags(defs: tuple[RunFlag, ...], fn: F) -> F:
    sig = inspect.signature(fn)
    own = [p for p in sig.parameters.values() if p.name != "flags"]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {f.name: kwargs.pop(f.name, None) for f in defs}
        return fn(*args, flags=RunFlags(values), **kwargs)

    shared = [_parameter(f) for f in defs]
    positional = [p for p in own if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    keyword = [p for p in own if p.kind is inspect.Parameter.KEYWORD_ONLY]
    wrapper.__signature__ = sig.replace(  # type: ignore[attr-defined]
        parameters=[*positional, *[p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
                                   for p in keyword], *shared])
    return wrapper  # type: ignore[return-value]


def with_run_flags(fn: F) -> F:
    """Give ``fn`` (a Typer command whose last parameter is ``flags: RunFlags``) every
    option of :data:`RUN_FLAGS`."""
    return _with_flags(RUN_FLAGS, fn)


def with_bench_flags(fn: F) -> F:
    """Give ``fn`` every option of :data:`RUN_FLAGS` and :data:`BENCH_FLAGS`."""
    return _with_flags((*RUN_FLAGS, *BENCH_FLAGS), fn)
