"""``aetherflow emulate``: run the provider emulator on loopback until Ctrl-C.

Light at import: the emulator (aiohttp) loads when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aetherflow.cli.help import Command

__all__ = ["register"]


def emulate(
    port: Annotated[int, typer.Option(metavar="PORT",
                                      help="Port to listen on (0 picks a free one).")] = 8765,
    host: Annotated[str, typer.Option(metavar="ADDRESS",
                                      help="Loopback address to bind.")] = "127.0.0.1",
    profile: Annotated[Path | None, typer.Option(metavar="FILE",
                                                 help="Profile file (JSON or TOML).")] = None,
    seed: Annotated[int | None, typer.Option(metavar="N",
                                             help="Override the profile's seed.")] = None,
) -> None:
    """Serve every provider's wire format from one loopback server (emulated, not real).

    Seeded latency and prefix-cache models and fault injection; see docs/emulator.md. Point
    run, bench and suite at it with --emulator URL. Stop it with Ctrl-C.

    Example: aetherflow emulate --port 8765 --seed 7
    """
    from aetherflow.emulator import (
        EmulatorProfile,
        describe,
        ensure_loopback,
        load_profile,
        serve_forever,
    )

    ensure_loopback(host)
    prof = load_profile(profile) if profile else EmulatorProfile()
    if seed is not None:
        prof = prof.model_copy(update={"seed": seed})
    serve_forever(prof, host, port, lambda emu: typer.echo("\n".join(describe(emu))))


def register(app: typer.Typer) -> None:
    """Add the ``emulate`` command to ``app``."""
    app.command("emulate", cls=Command)(emulate)
