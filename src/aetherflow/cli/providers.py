"""``aetherflow providers``: which providers are usable here, and why not (no keys shown).

Light at import: the provider registry and rich load when the command runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from aetherflow.cli.help import Command

if TYPE_CHECKING:
    from rich.table import Table

    from aetherflow.config import ProviderStatus

__all__ = ["register", "render_status_table"]


#: Below this terminal width the table leaves out base URLs and key variables.
WIDE_TABLE_COLUMNS = 120


def render_status_table(statuses: list[ProviderStatus], width: int | None = None) -> Table:
    """A rich table of provider statuses; narrower than :data:`WIDE_TABLE_COLUMNS` it
    shows only provider, ready, reason, default model and source (``--json`` has all)."""
    from rich.markup import escape
    from rich.table import Table

    wide = width is None or width >= WIDE_TABLE_COLUMNS
    table = Table(title="AetherFlow providers",
                  caption=None if wide else "base URLs and key variables: wider terminal "
                                            "or --json")
    table.add_column("provider", no_wrap=True)
    table.add_column("ready", no_wrap=True)
    table.add_column("reason", overflow="fold", ratio=3)
    if wide:
        table.add_column("base URL", overflow="fold", ratio=3)
    table.add_column("default model", overflow="fold", ratio=2)
    if wide:
        table.add_column("key variable", overflow="fold", ratio=2)
    table.add_column("source", overflow="fold", min_width=8, ratio=2)
    for s in statuses:
        cells = [
            s.name,
            "[green]yes[/green]" if s.configured else "[red]no[/red]",
            escape(s.reason),
            escape(s.base_url or "-"),
            escape(s.default_model or "-"),
            s.api_key_env or "-",
            escape(s.source),
        ]
        if not wide:
            cells = [cells[i] for i in (0, 1, 2, 4, 6)]
        table.add_row(*cells)
    return table


def providers(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
    = False,
    config: Annotated[Path | None, typer.Option("--config", metavar="FILE",
                                                help="The aetherflow.toml to use.")] = None,
    plugin: Annotated[list[Path] | None, typer.Option(
        "--plugin", metavar="FILE", help="Load a provider plugin from this Python file "
        "(repeatable).")] = None,
) -> None:
    """List the providers: whether each is configured, its endpoint, default model and
    where it came from (built-in, a plugin's entry point, or a --plugin file).

    API keys are never shown, only the variable each one is read from.

    Example: aetherflow providers --json
    """
    from rich.console import Console

    from aetherflow.config import provider_status
    from aetherflow.providers.base import load_plugin_file

    for path in plugin or []:
        load_plugin_file(path)
    statuses = provider_status(config)
    if as_json:
        typer.echo(json.dumps([s.model_dump() for s in statuses], indent=2))
        return
    console = Console()
    console.print(render_status_table(statuses, console.width))


def register(app: typer.Typer) -> None:
    """Add the ``providers`` command to ``app``."""
    app.command("providers", cls=Command)(providers)
