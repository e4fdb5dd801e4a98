"""``aetherflow emulate``: run the provider emulator on loopback until Ctrl-C."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aetherflow.emulator import (
    EmulatorProfile,
    describe,
    ensure_loopback,
    load_profile,
    serve_forever,
)

__all__ = ["register"]


def emulate(
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).")] = 8765,
    host: Annotated[str, typer.Option(help="Loopback address to bind.")] = "127.0.0.1",
    profile: Annotated[Path | None, typer.Option(help="Profile file (JSON or TOML).")] = None,
    seed: Annotated[int | None, typer.Option(help="Override the profile's seed.")] = None,
) -> None:
    """Serve every provider's wire format from one loopback server (emulated, not real)."""
    ensure_loopback(host)
    prof = load_profile(profile) if profile else EmulatorProfile()
    if seed is not None:
        prof = prof.model_copy(update={"seed": seed})
    serve_forever(prof, host, port, lambda emu: typer.echo("\n".join(describe(emu))))


def register(app: typer.Typer) -> None:
    """Add the ``emulate`` command to ``app``."""
    app.command("emulate")(emulate)
