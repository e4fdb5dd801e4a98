"""Provider plugins: entry points (the built-ins use the same path), ``--plugin`` files,
where each provider came from, and one clear line for every broken plugin."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aetherflow.config import provider_status
from aetherflow.errors import ConfigError, UnknownProviderError
from aetherflow.metrics.timeline import RequestTimeline
from aetherflow.providers.base import (
    ChatMessage,
    ChatRequest,
    Finish,
    Provider,
    ProviderSettings,
    StreamEvent,
    TextDelta,
    UsageReport,
    create_provider,
    load_plugin_file,
    provider_names,
    provider_origin,
)
from aetherflow.providers.openai_compat import OpenAICompatibleProvider
from aetherflow.providers.registry import (
    REGISTRY,
    ProviderOrigin,
    ProviderRegistry,
)
from aetherflow.providers.specs import PROVIDER_SPECS

ROOT = Path(__file__).parents[2]
ECHO_PROJECT = ROOT / "examples" / "plugins" / "echo_provider"
ECHO_MODULE = ECHO_PROJECT / "aetherflow_echo_provider" / "__init__.py"
BUILTINS = {"openai-compatible", "local", "openai", "deepseek", "groq", "mistral",
            "anthropic", "gemini"}
REQUEST = ChatRequest(messages=(ChatMessage("user", "write add(a, b)"),), max_tokens=32)


@pytest.fixture
def registry() -> Iterator[ProviderRegistry]:
    """The process-wide registry, rediscovered for this test and reset after it."""
    REGISTRY.reset()
    yield REGISTRY
    REGISTRY.reset()


def _dist_info(site: Path, name: str, version: str, entry_points: str) -> None:
    """A minimal installed distribution declaring ``entry_points`` (entry_points.txt)."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


async def _collect(provider: Provider) -> list[StreamEvent]:
    return [ev async for ev in provider.stream(REQUEST, RequestTimeline())]


def _assert_echo_stream(events: list[StreamEvent]) -> None:
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert "```python\ndef add(a: int, b: int) -> int:\n    return a + b\n```" in text
    usage = [e for e in events if isinstance(e, UsageReport)]
    assert len(usage) == 1
    assert usage[0].usage.output.value == sum(isinstance(e, TextDelta) for e in events)
    assert usage[0].usage.input.value == 3  # "write add(a, b)": three words
    assert events[-1] == Finish("stop")


# --- the built-ins go through the plugin path --------------------------------------------
def test_builtins_are_registered_with_their_origin(registry: ProviderRegistry) -> None:
    assert set(provider_names()) >= BUILTINS
    assert {str(provider_origin(n)) for n in BUILTINS} == {"built-in"}


def test_builtins_load_directly_when_no_entry_point_declares_them() -> None:
    """A source tree whose installed metadata lacks the entry point still has built-ins."""
    reg = ProviderRegistry(entry_point_group="aetherflow.tests.no-such-group")
    assert set(reg.names()) == BUILTINS
    assert reg.origin("gemini") == ProviderOrigin("built-in")


def test_builtins_load_from_their_entry_point(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The pyproject declares ``builtin = aetherflow.providers.builtin:register``; with
    that metadata installed the built-ins come through the entry point alone."""
    group = "aetherflow.tests.builtin-ep"
    _dist_info(tmp_path, "aetherflow", "0.1.0",
               f"[{group}]\nbuiltin = aetherflow.providers.builtin:register\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = ProviderRegistry(entry_point_group=group, builtins=None)  # no direct fallback
    assert set(reg.names()) == BUILTINS
    assert str(reg.origin("openai")) == "built-in"


def test_pyproject_declares_the_builtin_entry_point() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '[project.entry-points."aetherflow.providers"]' in text
    assert 'builtin = "aetherflow.providers.builtin:register"' in text


# --- an installed plugin ----------------------------------------------------------------
@pytest.fixture(scope="module")
def echo_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/plugins/echo_provider pip-installed into a directory (offline)."""
    pytest.importorskip("flit_core", reason="the example builds with flit_core (dev extra)")
    site = tmp_path_factory.mktemp("echo") / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--target", str(site), str(ECHO_PROJECT)],
        capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr
    return site


async def test_installed_example_plugin(echo_site: Path, monkeypatch: pytest.MonkeyPatch,
                                        registry: ProviderRegistry) -> None:
    """The pip-installed example is found by its entry point and used via create_provider."""
    monkeypatch.syspath_prepend(str(echo_site))
    monkeypatch.delitem(sys.modules, "aetherflow_echo_provider", raising=False)
    registry.reset()

    assert "echo" in provider_names()
    assert str(provider_origin("echo")) == "entry point aetherflow-echo-provider 0.1.0 (echo)"
    assert {str(provider_origin(n)) for n in BUILTINS} == {"built-in"}
    provider = create_provider(ProviderSettings(name="echo"))
    assert (provider.name, provider.model, provider.emulated) == ("echo", "echo-1", False)
    _assert_echo_stream(await _collect(provider))
    # Its spec describes it: no key, no base URL needed, so it is ready.
    status = {s.name: s for s in provider_status()}["echo"]
    assert status.configured and status.source.startswith("entry point aetherflow-echo")
    sys.modules.pop("aetherflow_echo_provider", None)


def test_entry_points_are_discovered_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    calls: list[str] = []
    real = importlib.metadata.entry_points

    def counting(**kwargs: str) -> Any:
        calls.append(kwargs.get("group", ""))
        return real(**kwargs)

    monkeypatch.setattr(importlib.metadata, "entry_points", counting)
    reg = ProviderRegistry()
    assert calls == []  # nothing is discovered before the first use
    reg.names()
    reg.create(ProviderSettings(name="openai-compatible", base_url="http://127.0.0.1:9/v1",
                                model="m"))
    reg.names()
    assert calls == ["aetherflow.providers"]


def test_importing_the_contract_loads_no_provider() -> None:
    code = ("import sys, aetherflow.providers.base as b; "
            "print('aetherflow.providers.builtin' in sys.modules, "
            "'aetherflow.providers.anthropic' in sys.modules); b.provider_names(); "
            "print('aetherflow.providers.builtin' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT / "src")}, check=True, timeout=60)
    assert out.stdout.split() == ["False", "False", "True"]


def test_broken_entry_point_is_one_clear_line(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    group = "aetherflow.tests.broken"
    _dist_info(tmp_path, "broken-plugin", "2.0", f"[{group}]\nbad = no_such_module_xyz:register\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = ProviderRegistry(entry_point_group=group)
    with pytest.raises(ConfigError) as info:
        reg.names()
    msg = str(info.value)
    assert "\n" not in msg
    assert "'bad'" in msg and "broken-plugin 2.0" in msg and "no_such_module_xyz" in msg
    with pytest.raises(ConfigError):  # not half-loaded: the next use fails the same way
        reg.names()


def test_plugin_raising_while_registering(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    group = "aetherflow.tests.raising"
    (tmp_path / "raising_plugin_xyz.py").write_text(
        "def register(registry):\n    raise RuntimeError('boom')\n")
    _dist_info(tmp_path, "raising-plugin", "1.0",
               f"[{group}]\nr = raising_plugin_xyz:register\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "raising_plugin_xyz", raising=False)
    with pytest.raises(ConfigError, match=r"failed while registering: RuntimeError: boom"):
        ProviderRegistry(entry_point_group=group).names()


# --- --plugin FILE ----------------------------------------------------------------------
async def test_plugin_file_registers_and_is_listed(registry: ProviderRegistry) -> None:
    names = load_plugin_file(ECHO_MODULE)
    assert names == ["echo"]
    assert provider_origin("echo") == ProviderOrigin("file", str(ECHO_MODULE.resolve()))
    _assert_echo_stream(await _collect(create_provider(ProviderSettings(name="echo"))))
    status = {s.name: s for s in provider_status()}
    assert status["echo"].source == f"file {ECHO_MODULE.resolve()}"
    assert status["openai"].source == "built-in"
    assert load_plugin_file(ECHO_MODULE) == ["echo"]  # a second load is a no-op


def test_plugin_file_spec_is_undone_by_reset(registry: ProviderRegistry) -> None:
    load_plugin_file(ECHO_MODULE)
    assert PROVIDER_SPECS["echo"].default_model == "echo-1"
    registry.reset()
    assert "echo" not in PROVIDER_SPECS
    with pytest.raises(UnknownProviderError, match="unknown provider 'echo'"):
        create_provider(ProviderSettings(name="echo"))


def test_plugin_file_may_replace_a_builtin(tmp_path: Path, registry: ProviderRegistry) -> None:
    path = tmp_path / "override.py"
    path.write_text(textwrap.dedent("""
        from aetherflow.providers.openai_compat import OpenAICompatibleProvider

        class MyGroq(OpenAICompatibleProvider):
            pass

        def register(registry):
            registry.register_provider("groq", MyGroq)
    """))
    assert load_plugin_file(path) == ["groq"]
    assert provider_origin("groq").kind == "file"
    provider = create_provider(ProviderSettings(name="groq", base_url="http://127.0.0.1:9",
                                                model="m"))
    assert type(provider).__name__ == "MyGroq"


def test_plugin_file_registering_at_import_counts(tmp_path: Path,
                                                   registry: ProviderRegistry) -> None:
    path = tmp_path / "import_time.py"
    path.write_text("from aetherflow.providers.base import register_provider\n"
                    "from aetherflow.providers.openai_compat import OpenAICompatibleProvider\n"
                    "register_provider('at-import', OpenAICompatibleProvider)\n")
    assert load_plugin_file(path) == ["at-import"]
    assert provider_origin("at-import").kind == "file"


@pytest.mark.parametrize(("source", "expected"), [
    (None, "not found"),
    ("def register(registry)\n    pass\n", "syntax error at line 1"),
    ("x = 1\n", "registered no provider"),
    ("def register(registry):\n    pass\n", "registered no provider"),
    ("import no_such_module_xyz\n", "failed to import: ModuleNotFoundError"),
    ("def register(registry):\n    registry.register_provider('', None)\n",
     "provider name must be a non-empty string"),
    ("register = 3\n", "is not a callable register(registry)"),
])
def test_plugin_file_errors_are_one_line(tmp_path: Path, registry: ProviderRegistry,
                                         source: str | None, expected: str) -> None:
    path = tmp_path / "plugin.py"
    if source is not None:
        path.write_text(source)
    with pytest.raises(ConfigError) as info:
        load_plugin_file(path)
    msg = str(info.value)
    assert expected in msg and str(path) in msg and "\n" not in msg
    assert set(provider_names()) >= BUILTINS  # the registry stays usable


def test_plugin_file_must_be_python(tmp_path: Path, registry: ProviderRegistry) -> None:
    path = tmp_path / "plugin.txt"
    path.write_text("def register(registry): pass\n")
    with pytest.raises(ConfigError, match=r"is not a Python file \(\.py\)"):
        load_plugin_file(path)


def test_code_registration_origin(registry: ProviderRegistry) -> None:
    registry.register_provider("by-code", OpenAICompatibleProvider)
    origin = registry.origin("by-code")
    assert origin.kind == "code"
    assert str(origin) == "code aetherflow.providers.openai_compat"
    with pytest.raises(UnknownProviderError):
        registry.origin("nope")
