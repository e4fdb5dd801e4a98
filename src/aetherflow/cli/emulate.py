"""``aetherflow emulate``: placeholder registration until the emulator lands."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the command to ``app`` (no-op until the emulator exists)."""
