"""Shared fixtures: an isolated AETHERFLOW_HOME, and one embedded llama.cpp server per session."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from aetherflow.providers.local import LocalServer


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every test gets its own data directory; no test sees the user's keys or config."""
    monkeypatch.setenv("AETHERFLOW_HOME", str(tmp_path_factory.mktemp("home")))
    for var in ("DEEPSEEK_API_KEY", "MISTRAL_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_API_KEY",
                "GEMINI_API_KEY", "GROQ_API_KEY", "AETHERFLOW_LOCAL_URL"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="session")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """The real embedded model (SmolLM2-135M on llama.cpp), started once for the session
    (its pid file in a temporary directory, never the user's)."""
    server = LocalServer(pid_dir=tmp_path_factory.mktemp("servers"))
    asyncio.run(server.start())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def examples_dir() -> Path:
    """The shipped example plans."""
    return Path(__file__).resolve().parents[1] / "examples" / "plans"
