"""Provider emulator: a real loopback server speaking each provider's streaming wire format.

It has a seeded latency model, a prefix-cache model, fault injection and scripted replies,
and keeps the server-side truth of every request it served (``/_emulator/requests``).
See ``docs/emulator.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aetherflow._lazy import lazy_exports

if TYPE_CHECKING:
    from aetherflow.emulator.cache import CacheOutcome, PrefixCache
    from aetherflow.emulator.latency import TimingPlan, plan_timing, sleep_until
    from aetherflow.emulator.paths import BASE_PATHS
    from aetherflow.emulator.process import (
        EmulatorProcess,
        describe,
        run_emulator_in_subprocess,
        serve_forever,
    )
    from aetherflow.emulator.profile import (
        PROVIDERS,
        CacheModel,
        EmulatorProfile,
        FaultKind,
        FaultRule,
        LatencyModelConfig,
        ProviderProfile,
        ReplyRule,
        load_profile,
        profile_from_data,
    )
    from aetherflow.emulator.records import RequestRecord
    from aetherflow.emulator.server import EmulatorServer, build_app, ensure_loopback
    from aetherflow.emulator.tokenizer import count_tokens, tokenize

__all__ = [
    "BASE_PATHS",
    "PROVIDERS",
    "CacheModel",
    "CacheOutcome",
    "EmulatorProcess",
    "EmulatorProfile",
    "EmulatorServer",
    "FaultKind",
    "FaultRule",
    "LatencyModelConfig",
    "PrefixCache",
    "ProviderProfile",
    "ReplyRule",
    "RequestRecord",
    "TimingPlan",
    "build_app",
    "count_tokens",
    "describe",
    "ensure_loopback",
    "load_profile",
    "plan_timing",
    "profile_from_data",
    "run_emulator_in_subprocess",
    "serve_forever",
    "sleep_until",
    "tokenize",
]

_EXPORTS = {
    "BASE_PATHS": "aetherflow.emulator.paths",
    "CacheModel": "aetherflow.emulator.profile",
    "CacheOutcome": "aetherflow.emulator.cache",
    "EmulatorProcess": "aetherflow.emulator.process",
    "EmulatorProfile": "aetherflow.emulator.profile",
    "EmulatorServer": "aetherflow.emulator.server",
    "FaultKind": "aetherflow.emulator.profile",
    "FaultRule": "aetherflow.emulator.profile",
    "LatencyModelConfig": "aetherflow.emulator.profile",
    "PROVIDERS": "aetherflow.emulator.profile",
    "PrefixCache": "aetherflow.emulator.cache",
    "ProviderProfile": "aetherflow.emulator.profile",
    "ReplyRule": "aetherflow.emulator.profile",
    "RequestRecord": "aetherflow.emulator.records",
    "TimingPlan": "aetherflow.emulator.latency",
    "build_app": "aetherflow.emulator.server",
    "count_tokens": "aetherflow.emulator.tokenizer",
    "describe": "aetherflow.emulator.process",
    "ensure_loopback": "aetherflow.emulator.server",
    "load_profile": "aetherflow.emulator.profile",
    "plan_timing": "aetherflow.emulator.latency",
    "profile_from_data": "aetherflow.emulator.profile",
    "run_emulator_in_subprocess": "aetherflow.emulator.process",
    "serve_forever": "aetherflow.emulator.process",
    "sleep_until": "aetherflow.emulator.latency",
    "tokenize": "aetherflow.emulator.tokenizer",
}

__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
