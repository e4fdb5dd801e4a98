"""``aetherflow providers``: which providers are usable here, and why not (no keys shown)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aetherflow.config import ProviderStatus, provider_status

__all__ = ["register", "render_status_table"]


def render_status_table(statuses: list[ProviderStatus]) -> Table:
    """A rich table of provider statuses."""
    table = Table(title="AetherFlow providers")
    table.add_column("provider", no_wrap=True)
    for column in ("ready", "reason", "base URL", "default model", "key variable", "source"):
        table.add_column(column, overflow="fold")
    for s in statuses:
        table.add_row(
            s.name,
            "[green]yes[/green]" if s.configured else "[red]no[/red]",
            escape(s.reason),
            escape(s.base_url or "-"),
            escape(s.default_model or "-"),
            s.api_key_env or "-",
            escape(s.source),
        )
    return table


def providers(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
    = False,
    config: Annotated[Path | None, typer.Option("--config", help="Path to aetherflow.toml.")]
    = None,
) -> None:
    """List the providers: whether each is configured, its endpoint, default model and
    where it came from (built-in, a plugin's entry point, or a --plugin file)."""
    statuses = provider_status(config)
    if as_json:
        typer.echo(json.dumps([s.model_dump() for s in statuses], indent=2))
        return
    Console().print(render_status_table(statuses))


def register(app: typer.Typer) -> None:
    """Add the ``providers`` command to ``app``."""
    app.command("providers")(providers)
