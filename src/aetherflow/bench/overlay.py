"""``--set key=value`` overlays: typed changes to a bench's :class:`RunOptions`.

Valid keys: ``concurrency``, ``provider``, ``model``, ``max_tokens``, ``temperature``,
``base_url``, ``max_attempts``, ``step_timeout_s``, ``speculative`` (on|off) and
``cache`` (on|off). An unknown key or a bad value is a :class:`ConfigError` (exit 2).

``speculative=on`` becomes llama.cpp server arguments for the ``local`` provider (flag
names checked against ``python -m llama_cpp.server --help`` of llama-cpp-python 0.3.16):
``--draft_model prompt-lookup-decoding --draft_model_num_pred_tokens 10``. For other
providers it is refused (it is a llama.cpp feature).

``cache`` says whether provider prompt caching is *used* or *defeated*:

* cache=on: ``local`` gets ``--cache True`` (llama-cpp-python's RAM prompt cache, on top
  of the KV reuse of the previous prompt's prefix that llama.cpp always does);
  ``anthropic`` marks the system prompt (which carries the shared context) with
  ``cache_control`` (Anthropic caches only at such markers); OpenAI, DeepSeek, Gemini,
  Groq and Mistral cache long prefixes automatically, so nothing needs changing.
* cache=off: every attempt's prompt starts with a unique nonce (``RunOptions.prompt_cache
  = "off"``), so no prompt shares a prefix with an earlier one and no cache can serve it.
  This is how the "defeated" baseline is made on every provider, including llama.cpp.
* unset: the provider's default behaviour.
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


def _non_negative_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("must be 0 or more")
    return number


def _positive_float(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise ValueError("must be positive")
    return number


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        low = value.strip().lower()
        if low not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}")
        return low
    return parse


_workflow = _choice("proto", "prod")
_sandbox = _choice("auto", "bwrap", "process")


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
    "repairs": _non_negative_int,
    "workflow": _workflow,
    "review_provider": str,
    "review_model": str,
    "sandbox": _sandbox,
    "check_memory_mb": _positive_int,
    "max_cost_usd": _positive_float,
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


def _provider_options(provider: str, overlay: Mapping[str, str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    args: list[str] = []
    if overlay.get("speculative") == "on":
        if provider != "local":
            raise ConfigError("--set speculative=on needs the local provider "
                              "(llama.cpp prompt-lookup decoding)")
        args += SPECULATIVE_ARGS
    if overlay.get("cache") == "on":
        if provider == "local":
            args += CACHE_ARGS
        elif provider == "anthropic":
            options["cache_system_prompt"] = True
    if args:
        options["server_args"] = args
    return options


def apply_overlay(options: RunOptions, overlay: Mapping[str, str]) -> RunOptions:
    """``options`` with the overlay applied: typed fields, the prompt-cache mode, and
    provider options (llama.cpp server arguments, Anthropic cache markers)."""
    changes: dict[str, Any] = {}
    for key, raw in overlay.items():
        if key == "speculative":
            continue
        if key == "cache":
            changes["prompt_cache"] = raw
            continue
        changes[key] = _PARSERS[key](raw)
    updated = dataclasses.replace(options, **changes)
    extra = _provider_options(updated.provider, overlay)
    if extra:
        merged = {**updated.provider_options, **extra}
        if "server_args" in extra:
            merged["server_args"] = (list(updated.provider_options.get("server_args", []))
                                     + extra["server_args"])
        updated = dataclasses.replace(updated, provider_options=merged)
    return updated
