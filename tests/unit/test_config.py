"""Provider settings: defaults, aetherflow.toml, env and flags (flag > env > toml > default);
keys checked before anything runs and never shown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from aetherflow.cli.providers import register, render_status_table
from aetherflow.config import (
    find_config_file,
    load_config,
    provider_status,
    resolve_provider_settings,
)
from aetherflow.errors import ConfigError, MissingKeyError, UnknownProviderError
from aetherflow.providers.base import load_plugin_file
from aetherflow.providers.presets import PROVIDER_SPECS
from aetherflow.providers.registry import REGISTRY

SECRET = "sk-live-VERY-SECRET-abcdef0123456789"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no ./aetherflow.toml unless a test writes one
    for spec in PROVIDER_SPECS.values():
        for var in (spec.api_key_env, spec.base_url_env):
            if var:
                monkeypatch.delenv(var, raising=False)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_with_key_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPSEEK_API_KEY", SECRET)
    s = resolve_provider_settings("deepseek")
    assert (s.base_url, s.model, s.api_key) == ("https://api.deepseek.com", "deepseek-chat",
                                                SECRET)
    assert SECRET not in repr(s) and SECRET not in str(s)


@pytest.mark.parametrize("name", ["deepseek", "mistral", "anthropic", "openai", "gemini", "groq"])
def test_missing_key_names_the_variable(name: str) -> None:
    var = PROVIDER_SPECS[name].api_key_env
    assert var is not None
    with pytest.raises(MissingKeyError, match=var):
        resolve_provider_settings(name)


def test_empty_key_counts_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "  ")
    with pytest.raises(MissingKeyError):
        resolve_provider_settings("groq")


def test_unknown_provider() -> None:
    with pytest.raises(UnknownProviderError, match="nope"):
        resolve_provider_settings("nope")


def test_keyless_providers() -> None:
    local = resolve_provider_settings("local")
    assert local.api_key is None and local.model == "SmolLM2-135M-Instruct"
    generic = resolve_provider_settings("openai-compatible", base_url="http://127.0.0.1:8000/v1",
                                        model="qwen")
    assert (generic.base_url, generic.model, generic.api_key) == (
        "http://127.0.0.1:8000/v1", "qwen", None)


def test_precedence_flag_env_toml_default(monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    cfg = _write(tmp_path / "aetherflow.toml",
                 '[providers.openai]\nbase_url = "http://toml.invalid/v1"\nmodel = "gpt-toml"\n'
                 'options = { read_timeout_s = 30 }\n')
    s = resolve_provider_settings("openai", config_path=cfg)
    assert (s.base_url, s.model, s.options) == ("http://toml.invalid/v1", "gpt-toml",
                                                {"read_timeout_s": 30})
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env.invalid/v1")
    assert resolve_provider_settings("openai", config_path=cfg).base_url == "http://env.invalid/v1"
    s = resolve_provider_settings("openai", config_path=cfg, base_url="http://flag.invalid/v1",
                                  model="gpt-flag")
    assert (s.base_url, s.model) == ("http://flag.invalid/v1", "gpt-flag")


def test_api_key_env_from_toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = _write(tmp_path / "aetherflow.toml",
                 '[providers.openai-compatible]\nbase_url = "http://127.0.0.1:8000/v1"\n'
                 'model = "m"\napi_key_env = "VLLM_KEY"\n')
    assert resolve_provider_settings("openai-compatible", config_path=cfg).api_key is None
    monkeypatch.setenv("VLLM_KEY", SECRET)
    assert resolve_provider_settings("openai-compatible", config_path=cfg).api_key == SECRET
    _write(cfg, '[providers.anthropic]\napi_key_env = "MY_CLAUDE_KEY"\n')
    with pytest.raises(MissingKeyError, match="MY_CLAUDE_KEY"):
        resolve_provider_settings("anthropic", config_path=cfg)


def test_search_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("AETHERFLOW_HOME", str(home))
    assert find_config_file() is None
    home_cfg = _write(home / "aetherflow.toml", "")
    assert find_config_file() == home_cfg
    local_cfg = _write(tmp_path / "aetherflow.toml", "")
    assert find_config_file() == local_cfg
    explicit = _write(tmp_path / "other.toml", "")
    assert find_config_file(explicit) == explicit
    with pytest.raises(ConfigError, match="not found"):
        find_config_file(tmp_path / "missing.toml")


@pytest.mark.parametrize(("text", "where"), [
    ('[providers.deepseek]\nbase_ur = "https://x"\n', "providers.deepseek.base_ur"),
    ('[providers.deepseek]\nbase_url = "ftp://x"\n', "providers.deepseek.base_url"),
    ('[providers.deepseek]\napi_key_env = "sk-123 456"\n', "providers.deepseek.api_key_env"),
    ('[providers.deepseeek]\nmodel = "x"\n', "providers.deepseeek"),
    ("[oops]\n", "oops"),
    ("[providers\n", "invalid TOML"),
])
def test_config_errors_carry_the_toml_path(tmp_path: Path, text: str, where: str) -> None:
    cfg = _write(tmp_path / "aetherflow.toml", text)
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    assert where in str(info.value)
    assert str(cfg) in str(info.value)


def test_price_overrides_path_is_relative_to_config(tmp_path: Path) -> None:
    cfg = _write(tmp_path / "aetherflow.toml", 'price_overrides = "prices.toml"\n')
    loaded = load_config(cfg)
    assert loaded.price_overrides_path() == tmp_path / "prices.toml"
    _write(tmp_path / "prices.toml", '[groq."m"]\ninput = 1\noutput = 2\n')
    overrides = loaded.load_price_overrides()
    assert overrides is not None and overrides.lookup("groq", "m") is not None
    assert load_config(_write(tmp_path / "empty.toml", "")).load_price_overrides() is None


def test_provider_status(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPSEEK_API_KEY", SECRET)
    statuses = {s.name: s for s in provider_status()}
    assert statuses["deepseek"].configured and statuses["deepseek"].reason == "ready"
    assert not statuses["mistral"].configured
    assert statuses["mistral"].reason == "MISTRAL_API_KEY not set"
    assert statuses["gemini"].base_url == "https://generativelanguage.googleapis.com"
    assert statuses["groq"].default_model == "llama-3.3-70b-versatile"
    assert not statuses["openai-compatible"].configured


def test_no_key_leaks_anywhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for spec in PROVIDER_SPECS.values():
        if spec.api_key_env:
            monkeypatch.setenv(spec.api_key_env, SECRET)
    settings = [resolve_provider_settings(n) for n in PROVIDER_SPECS if n != "openai-compatible"]
    for s in settings:
        assert SECRET not in str(s) and SECRET not in repr(s)
    dumped = json.dumps([s.model_dump() for s in provider_status()])
    assert SECRET not in dumped
    # Error messages name variables, never values.
    cfg = _write(tmp_path / "aetherflow.toml", '[providers.openai]\napi_key_env = "UNSET_VAR"\n')
    with pytest.raises(MissingKeyError) as info:
        resolve_provider_settings("openai", config_path=cfg)
    assert SECRET not in str(info.value)
    # The CLI table and JSON.
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:
        """Test root."""

    for args in (["providers"], ["providers", "--json"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert SECRET not in result.output


def test_cli_json_output(monkeypatch: pytest.MonkeyPatch) -> None:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:
        """Test root."""

    result = CliRunner().invoke(app, ["providers", "--json"])
    rows = json.loads(result.output)
    assert {r["name"] for r in rows} >= {"anthropic", "gemini", "local"}
    assert all(set(r) >= {"name", "configured", "reason", "base_url", "default_model",
                          "source"} for r in rows)
    assert {r["source"] for r in rows if r["name"] in PROVIDER_SPECS} == {"built-in"}


def test_plugin_provider_from_a_file_is_configurable(tmp_path: Path) -> None:
    """A --plugin file's provider is known to aetherflow.toml and listed with its origin;
    an in-process provider (needs_base_url=False) is ready without a base URL."""
    plugin = _write(tmp_path / "plug.py", """
from aetherflow.providers.openai_compat import OpenAICompatibleProvider
from aetherflow.providers.specs import ProviderSpec

def register(registry):
    registry.register_provider("inproc", OpenAICompatibleProvider, spec=ProviderSpec(
        "inproc", None, "m-1", key_required=False, needs_base_url=False))
""")
    REGISTRY.reset()
    try:
        assert load_plugin_file(plugin) == ["inproc"]
        cfg = _write(tmp_path / "aetherflow.toml", '[providers.inproc]\nmodel = "m-2"\n')
        assert resolve_provider_settings("inproc", config_path=cfg).model == "m-2"
        status = {s.name: s for s in provider_status(cfg)}["inproc"]
        assert (status.configured, status.reason, status.default_model) == (True, "ready", "m-2")
        assert status.source == f"file {plugin.resolve()}"
        app = typer.Typer()
        register(app)

        @app.callback()
        def _root() -> None:
            """Test root."""

        table = CliRunner().invoke(app, ["providers", "--config", str(cfg)],
                                   env={"COLUMNS": "200"})
        assert "inproc" in table.output and "plug.py" in table.output
    finally:
        REGISTRY.reset()


def test_status_table_fits_80_columns() -> None:
    from rich.console import Console

    statuses = provider_status()
    console = Console(width=80, record=True, color_system=None)
    console.print(render_status_table(statuses, 80))
    narrow = console.export_text()
    assert max(len(line) for line in narrow.splitlines()) <= 80
    assert "source" in narrow and "--json" in narrow
    assert [c.header for c in render_status_table(statuses, 80).columns] == [
        "provider", "ready", "reason", "default model", "source"]
    wide = [c.header for c in render_status_table(statuses, 160).columns]
    assert wide == ["provider", "ready", "reason", "base URL", "default model",
                    "key variable", "source"]
