"""Provider emulator: a real loopback server speaking each provider's streaming wire format.

It has a seeded latency model, a prefix-cache model, fault injection and scripted replies,
and keeps the server-side truth of every request it served (``/_emulator/requests``).
See ``docs/emulator.md``.
"""

from __future__ import annotations

from aetherflow.emulator.cache import CacheOutcome, PrefixCache
from aetherflow.emulator.latency import TimingPlan, plan_timing, sleep_until
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
from aetherflow.emulator.server import BASE_PATHS, EmulatorServer, build_app, ensure_loopback
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
