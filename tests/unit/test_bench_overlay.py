"""--set overlays: parsing, validation, and how they change RunOptions."""

from __future__ import annotations

import pytest

from aetherflow.bench.overlay import SPECULATIVE_ARGS, VALID_KEYS, apply_overlay, parse_overlay
from aetherflow.errors import ConfigError
from aetherflow.execution.runner import RunOptions


def test_parse_and_apply() -> None:
    overlay = parse_overlay(["concurrency=4", "max_tokens=16", "temperature=0.5",
                             "speculative=ON", "model=x"])
    assert overlay["speculative"] == "on"
    opts = apply_overlay(RunOptions(), overlay)
    assert (opts.concurrency, opts.max_tokens, opts.temperature, opts.model) == (4, 16, 0.5, "x")
    assert opts.provider_options["server_args"] == SPECULATIVE_ARGS


def test_cache_on_adds_llama_cpp_cache_flag_only_for_local() -> None:
    local = apply_overlay(RunOptions(), parse_overlay(["cache=on"]))
    assert local.provider_options["server_args"] == ["--cache", "True"]
    remote = apply_overlay(RunOptions(), parse_overlay(["cache=on", "provider=deepseek"]))
    assert remote.provider == "deepseek" and "server_args" not in remote.provider_options
    assert local.prompt_cache == remote.prompt_cache == "on"


def test_cache_on_marks_anthropic_system_prompt() -> None:
    opts = apply_overlay(RunOptions(), parse_overlay(["provider=anthropic", "cache=on"]))
    assert opts.provider_options == {"cache_system_prompt": True}


def test_cache_off_defeats_by_nonce_and_adds_no_server_flag() -> None:
    opts = apply_overlay(RunOptions(), parse_overlay(["cache=off"]))
    assert opts.prompt_cache == "off" and opts.provider_options == {}
    assert opts.execution_settings().prompt_cache == "off"


def test_speculative_needs_local() -> None:
    with pytest.raises(ConfigError, match="local provider"):
        apply_overlay(RunOptions(), parse_overlay(["provider=openai", "speculative=on"]))


@pytest.mark.parametrize(("item", "needle"), [
    ("nope=1", "unknown key 'nope'"), ("concurrency=0", "at least 1"),
    ("speculative=maybe", "on or off"), ("max_tokens", "key=value"),
    ("temperature=hot", "temperature"),
])
def test_bad_overlay_is_config_error(item: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle) as info:
        parse_overlay([item])
    assert info.value.exit_code == 2


def test_unknown_key_lists_valid_keys() -> None:
    with pytest.raises(ConfigError) as info:
        parse_overlay(["foo=bar"])
    assert all(k in str(info.value) for k in VALID_KEYS)
