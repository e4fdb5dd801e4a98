"""``--set key=value`` overlays: typed changes to a bench's :class:`RunOptions`.

Valid keys: ``concurrency``, ``provider``, ``model``, ``max_tokens``, ``temperature``,
``base_url``, ``max_attempts``, ``step_timeout_s``, ``speculative`` (on|off) and
``cache`` (on|off). An unknown key or a bad value is a :class:`ConfigError` (exit 2).

``speculative=on`` and ``cache=on`` become llama.cpp server arguments for the ``local``
provider (flag names checked against ``python -m llama_cpp.server --help`` of
llama-cpp-python 0.3.16):

* speculative=on → ``--draft_model prompt-lookup-decoding --draft_model_num_pred_tokens 10``
* cache=on → ``--cache True`` (llama-cpp-python's RAM prompt cache; the server default is
  off). With cache=off llama.cpp still reuses the common prefix with the *previous*
  prompt inside the same process; that is not a configurable cache and is documented.

For other providers both are recorded in the bench metadata only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aetherflow.errors import ConfigError
from aetherflow.execution.runner import RunOptions

__all__ = ["SPECULATIVE_ARGS", "VALID_KEYS", "apply_overlay", "parse_overlay"]

SPECULATIVE_ARGS = ["--draft_model", "prompt-lookup-decoding",
                    "--draft_model_num_pred_tokens", "10"]
CACHE_ARGS = ["--cache", "True"]


def _on_off(value: str) -> str:
    low = value.strip().lower()
    if low in ("on", "true", "1", "yes"):
        return "on"
    if low in ("off", "false", "0", "no"):
        return "off"
    raise ValueError("expected on or off")


def _positive_int(value: str) -> int:
    n = int(value)
    if n < 1:
        raise ValueError("must be at least 1")
    return n


_PARSERS: dict[str, Callable[[str], Any]] = {
    "concurrency": _positive_int,
    "provider": str,
    "model": str,
    "max_tokens": _positive_int,
    "temperature": float,
    "base_url": str,
    "max_attempts": _positive_int,
    "step_timeout_s": float,
    "speculative": _on_off,
    "cache": _on_off,
}

VALID_KEYS: tuple[str, ...] = tuple(_PARSERS)


def parse_overlay(items: Iterable[str]) -> dict[str, str]:
    """Parse ``key=value`` strings into a validated, normalised ``{key: value}`` mapping."""
    result: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key=value")
        if key not in _PARSERS:
            raise ConfigError(f"--set: unknown key {key!r} (valid: {', '.join(VALID_KEYS)})")
        try:
            parsed = _PARSERS[key](value.strip())
        except ValueError as exc:
            raise ConfigError(f"--set {key}={value!r}: {exc}") from exc
        result[key] = str(parsed)
    return result


def _server_args(overlay: Mapping[str, str]) -> list[str]:
    args: list[str] = []
    if overlay.get("speculative") == "on":
        args += SPECULATIVE_ARGS
    if overlay.get("cache") == "on":
        args += CACHE_ARGS
    return args


def apply_overlay(options: RunOptions, overlay: Mapping[str, str]) -> RunOptions:
    """``options`` with the overlay applied (server args only for the ``local`` provider)."""
    changes: dict[str, Any] = {}
    for key, raw in overlay.items():
        if key in ("speculative", "cache"):
            continue
        changes[key] = _PARSERS[key](raw)
    updated = dataclasses.replace(options, **changes)
    args = _server_args(overlay)
    if args and updated.provider == "local":
        extra = list(updated.provider_options.get("server_args", [])) + args
        updated = dataclasses.replace(
            updated, provider_options={**updated.provider_options, "server_args": extra})
    return updated
