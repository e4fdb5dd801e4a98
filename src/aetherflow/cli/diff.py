"""``aetherflow diff RUN_DIR``: what a ``--project`` run changed, as a unified diff (or a
``--stat`` summary), against the project as the run copied it.

Plain text on stdout, so it pipes into ``git apply``, ``patch -p1`` or a pager. A run that
changed nothing prints a note on stderr and exits 0; a directory that is not a project run
is one error line and exit 2.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from aetherflow.cli.help import Command

if TYPE_CHECKING:
    from aetherflow.execution.project import DiffStat

__all__ = ["diff_command", "format_stat", "register"]

_MAX_BAR = 40


def format_stat(stats: list[DiffStat], width: int = 80) -> str:
    """``git diff --stat``-style lines (path, changed-line count, a +/- bar scaled to
    ``width``) and the summary line."""
    if not stats:
        return ""
    name_w = max(len(s.path) for s in stats)
    counts = [s.insertions + s.deletions for s in stats]
    count_w = len(str(max(counts)))
    room = max(8, min(_MAX_BAR, width - name_w - count_w - 6))
    scale = min(1.0, room / max(max(counts), 1))
    lines = []
    for s, n in zip(stats, counts, strict=True):
        plus = round(s.insertions * scale) or (1 if s.insertions else 0)
        minus = round(s.deletions * scale) or (1 if s.deletions else 0)
        note = {"added": " (new)", "deleted": " (gone)", "modified": ""}[s.status]
        lines.append(f" {s.path.ljust(name_w)} | {str(n).rjust(count_w)} "
                     f"{'+' * plus}{'-' * minus}{note}")
    ins, dels = sum(s.insertions for s in stats), sum(s.deletions for s in stats)
    files = f"{len(stats)} file{'s' if len(stats) != 1 else ''} changed"
    lines.append(f" {files}, {ins} insertion{'s' if ins != 1 else ''}(+), "
                 f"{dels} deletion{'s' if dels != 1 else ''}(-)")
    return "\n".join(lines) + "\n"


def diff_command(
    run_dir: Path = typer.Argument(..., metavar="RUN_DIR",
                                   help="The run directory of a `run --project` run."),
    stat: bool = typer.Option(False, "--stat", help="A per-file summary instead of the diff."),
) -> None:
    """Show what a --project run changed, as a unified diff against the project it copied.

    Example: aetherflow diff runs/20261204-120000-refactor_project | git apply --check
    """
    from aetherflow.execution.project import run_changes

    changes = run_changes(run_dir)
    if not changes.after:
        typer.echo(f"no changes: the run left {changes.manifest.root} as it copied it",
                   err=True)
        return
    if stat:
        width = shutil.get_terminal_size((80, 24)).columns
        sys.stdout.write(format_stat(changes.stat(), width))
    else:
        sys.stdout.write(changes.diff())


def register(app: typer.Typer) -> None:
    """Add ``diff`` to ``app``."""
    app.command("diff", cls=Command)(diff_command)
