"""Emulator profiles: the latency, cache, fault and reply models, validated once.

A profile is a JSON or TOML file that validates into :class:`EmulatorProfile`. Unknown keys
are refused (``extra="forbid"``) so a typo fails at load time with its field path.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aetherflow.errors import ConfigError

__all__ = [
    "PROVIDERS",
    "CacheModel",
    "EmulatorProfile",
    "FaultKind",
    "FaultRule",
    "LatencyModelConfig",
    "ProviderProfile",
    "ReplyRule",
    "cloud_profile",
    "load_profile",
    "profile_from_data",
]

PROVIDERS: tuple[str, ...] = (
    "generic",
    "openai",
    "deepseek",
    "groq",
    "mistral",
    "anthropic",
    "gemini",
)
"""Provider names the emulator speaks (``generic`` is the plain OpenAI-compatible path)."""

FaultKind = Literal[
    "http_429",
    "http_500",
    "http_503",
    "reset",
    "stall",
    "malformed",
    "truncated",
    "error_event",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LatencyModelConfig(_Model):
    """Seeded latency model of one provider (all times in milliseconds).

    ``ttft = ttft_base_ms + prefill_ms_per_input_token × effective_prefill_tokens + jitter``
    where cached input tokens count ``CacheModel.cached_prefill_fraction`` of a token.
    Token ``k`` (0-based) is sent at ``ttft + Σ_{i=1..k} (decode_ms_per_output_token + jitter_i)``.
    Jitter is ``uniform(-j, +j)`` or ``normal(0, σ=j)``; every delay is clipped at 0.
    """

    ttft_base_ms: float = Field(default=50.0, ge=0)
    prefill_ms_per_input_token: float = Field(default=0.0, ge=0)
    decode_ms_per_output_token: float = Field(default=5.0, ge=0)
    ttft_jitter_ms: float = Field(default=0.0, ge=0)
    decode_jitter_ms: float = Field(default=0.0, ge=0)
    jitter_distribution: Literal["uniform", "normal"] = "uniform"


class CacheModel(_Model):
    """Prefix-cache model: prompt prefixes are remembered in blocks of ``block_tokens``.

    A request's cached tokens are the longest block-aligned prefix seen before (per provider),
    counted only when at least ``min_cached_tokens`` long.
    """

    enabled: bool = True
    block_tokens: int = Field(default=64, ge=1)
    min_cached_tokens: int = Field(default=0, ge=0)
    cached_prefill_fraction: float = Field(default=0.1, ge=0, le=1)


class ProviderProfile(_Model):
    """Everything that shapes one provider's answers."""

    latency: LatencyModelConfig = Field(default_factory=LatencyModelConfig)
    cache: CacheModel = Field(default_factory=CacheModel)
    default_output_tokens: int = Field(default=32, ge=0)
    model_name: str | None = None


class FaultRule(_Model):
    """Inject ``fault`` into requests that match every given condition.

    ``nth`` (1-based) and ``every`` count requests that match ``provider`` (all requests when
    ``provider`` is unset). ``probability`` is drawn from the server's seeded RNG. ``times``
    caps how often the rule fires. ``after_tokens`` is where mid-stream faults strike.
    """

    fault: FaultKind
    provider: str | None = None
    nth: int | None = Field(default=None, ge=1)
    every: int | None = Field(default=None, ge=1)
    probability: float = Field(default=1.0, ge=0, le=1)
    prompt_contains: str | None = None
    times: int | None = Field(default=None, ge=1)
    after_tokens: int = Field(default=0, ge=0)
    retry_after_s: int = Field(default=1, ge=0)
    stall_s: float = Field(default=1.0, ge=0)
    stall_then: Literal["continue", "close"] = "continue"


class ReplyRule(_Model):
    """Answer prompts that contain ``contains`` or match ``regex`` with ``reply`` verbatim."""

    reply: str
    contains: str | None = None
    regex: str | None = None
    provider: str | None = None

    @model_validator(mode="after")
    def _needs_a_matcher(self) -> ReplyRule:
        if self.contains is None and self.regex is None:
            raise ValueError("a reply rule needs 'contains' or 'regex'")
        return self


class EmulatorProfile(_Model):
    """The whole emulator configuration.

    ``providers`` entries replace ``default`` for that provider entirely (unset fields take the
    built-in defaults, not the values of ``default``).
    """

    seed: int = 0
    require_auth: bool = True
    default: ProviderProfile = Field(default_factory=ProviderProfile)
    providers: dict[str, ProviderProfile] = Field(default_factory=dict)
    faults: list[FaultRule] = Field(default_factory=list)
    replies: list[ReplyRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_providers(self) -> EmulatorProfile:
        named = [
            *self.providers,
            *(r.provider for r in self.faults if r.provider),
            *(r.provider for r in self.replies if r.provider),
        ]
        unknown = sorted({n for n in named if n not in PROVIDERS})
        if unknown:
            raise ValueError(f"unknown provider(s) {unknown}; known: {list(PROVIDERS)}")
        return self

    def for_provider(self, name: str) -> ProviderProfile:
        """The profile that applies to provider ``name``."""
        return self.providers.get(name, self.default)


def _location(loc: tuple[int | str, ...]) -> str:
    out = "$"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def profile_from_data(data: Any, source: str = "<profile>") -> EmulatorProfile:
    """Validate already-parsed data; raise :class:`ConfigError` naming the field path."""
    try:
        return EmulatorProfile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"{source}: {_location(err['loc'])}: {err['msg']}") from exc


def load_profile(path: str | Path) -> EmulatorProfile:
    """Load a JSON (``.json``) or TOML (``.toml``) profile file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read emulator profile: {exc.strerror}") from exc
    try:
        data: Any = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    return profile_from_data(data, str(path))


def cloud_profile(seed: int = 42) -> EmulatorProfile:
    """A profile shaped like hosted providers, for benchmarks that need a "remote" side.

    Latency: a few hundred ms to the first token plus a per-input-token prefill cost (so a
    prefix-cache hit shortens TTFT), 15-30 ms per output token, with seeded jitter. These
    are a model, not measurements of any provider. Prefix caching follows each provider's
    documented convention and minimum cacheable prefix: OpenAI 1,024 tokens in 128-token
    steps; Anthropic 1,024 (Claude Sonnet 4.5; Haiku 4.5 needs 4,096) and only at
    ``cache_control`` markers; DeepSeek 64-token units; Gemini 2.5 implicit caching from
    1,024 tokens. Mistral and Groq report no cached tokens here.
    """
    def provider(ttft: float, prefill: float, decode: float, jitter: float,
                 block: int, minimum: int, enabled: bool = True) -> dict[str, object]:
        return {"latency": {"ttft_base_ms": ttft, "prefill_ms_per_input_token": prefill,
                            "decode_ms_per_output_token": decode, "ttft_jitter_ms": jitter,
                            "decode_jitter_ms": 3, "jitter_distribution": "normal"},
                "cache": {"enabled": enabled, "block_tokens": block,
                          "min_cached_tokens": minimum, "cached_prefill_fraction": 0.1},
                "default_output_tokens": 200}

    return profile_from_data({
        "seed": seed,
        "default": provider(300, 0.05, 20, 40, 128, 1024),
        "providers": {
            "openai": provider(300, 0.05, 20, 40, 128, 1024),
            "anthropic": provider(600, 0.08, 15, 80, 64, 1024),
            "deepseek": provider(500, 0.06, 30, 100, 64, 64),
            "gemini": provider(350, 0.04, 15, 50, 64, 1024),
            "groq": provider(120, 0.01, 3, 20, 64, 0, enabled=False),
            "mistral": provider(300, 0.05, 20, 40, 64, 0, enabled=False),
        },
    }, "<cloud profile>")
