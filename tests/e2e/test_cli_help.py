"""Every command's ``--help`` as a user sees it in an 80-column terminal: readable
metavars (no Python types), a one-line purpose and an example, nothing wider than 80."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

import pytest
import typer

from aetherflow.cli.main import _register_commands, app

#: What typer shows when a parameter has no readable metavar.
RAW_TYPES = re.compile(r"<(bool|int|float|str|path|text|list\[[^>]*)>|\{[a-z_]+\}")


def _paths() -> list[tuple[str, ...]]:
    _register_commands()
    found: list[tuple[str, ...]] = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        found.append(path)
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return found


def _command(path: tuple[str, ...]) -> Any:
    command: Any = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return command


PATHS = _paths()


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "aetherflow")
def test_help_is_readable_at_80_columns(path: tuple[str, ...]) -> None:
    env = {**os.environ, "COLUMNS": "80", "TERM": "dumb"}
    proc = subprocess.run([sys.executable, "-m", "aetherflow", *path, "--help"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert not RAW_TYPES.search(text), RAW_TYPES.search(text)
    assert "Example: aetherflow" in text
    assert f"Usage: aetherflow {' '.join(path)}".rstrip() in text
    wide = [line for line in text.splitlines() if len(line) > 80]
    assert not wide, wide


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "aetherflow")
def test_help_paragraphs_are_whole_lines(path: tuple[str, ...]) -> None:
    """The terminal wraps each paragraph itself: no line break inside a sentence."""
    command = _command(path)
    for paragraph in (command.help or "").split("\n\n"):
        lines = paragraph.splitlines()
        assert len(lines) == 1 or all(line.startswith("Example:") for line in lines), \
            paragraph
    first = (command.help or "").split("\n\n")[0]
    assert first.endswith(".") and len(first) < 400, first  # a one-paragraph purpose
    for param in command.params:
        assert "\n" not in (getattr(param, "help", None) or ""), param.name
