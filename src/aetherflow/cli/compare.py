"""``aetherflow compare A B [--fail-if EXPR ...]``: B against baseline A, with CIs.

Light at import: the comparison engine and its views load when the command runs.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from aetherflow.cli.common import print_json
from aetherflow.cli.help import Command
from aetherflow.errors import ConfigError

if TYPE_CHECKING:
    from aetherflow.results.comparison import ComparisonData

__all__ = ["FAIL_IF_MODES", "compare_command", "register", "render_comparison_table"]

#: ``--fail-if-mode`` values (``bench.compare.FAIL_IF_MODES``; a unit test keeps them equal).
FAIL_IF_MODES = ("significant", "point")
#: The terminal table's width: it must fit a standard terminal.
TABLE_WIDTH = 80


def render_comparison_table(data: ComparisonData, metrics: Sequence[str] | None = None,
                            legend: bool = True) -> str:
    """The global rows of a comparison as plain text that fits 80 columns (see
    :func:`aetherflow.cli.tables.comparison_table`)."""
    from aetherflow.cli.tables import comparison_table

    return comparison_table(data, metrics, legend)


def compare_command(
    a: str = typer.Argument(..., metavar="A",
                            help="Baseline: bench dir, run dir, bench label or id, or run id."),
    b: str = typer.Argument(..., metavar="B", help="Candidate: same forms as A."),
    fail_if: list[str] = typer.Option(
        [], "--fail-if", metavar="RULE",
        help="Exit 1 when a rule triggers: METRIC>N or METRIC<N, N signed, optional % "
             "(relative), e.g. 'ttft_p50>+10%' or 'pass_rate<-0.05' (repeatable)."),
    fail_if_mode: str = typer.Option(
        "significant", "--fail-if-mode", metavar="MODE",
        help="significant: a rule fires when the change passes the threshold and is "
             "significant (its CI excludes 0; a rule with no CI fails closed); point: the "
             "point estimate alone decides."),
    output: Path | None = typer.Option(
        None, "--output", "-o", metavar="DIR",
        help="Directory for comparison_report.md/.html and comparison_data.json (default "
             "bench_results/comparisons/<A>-vs-<B>)."),
    as_json: bool = typer.Option(False, "--json",
                                 help="Print comparison_data.json on stdout (the table goes "
                                      "to stderr)."),
) -> None:
    """Compare two benches metric by metric: difference, 95% CI, significance.

    Exit 0 when no --fail-if rule triggers, 1 when one does, 2 for bad input.

    Example: aetherflow compare base-label new-label --fail-if 'ttft_p50>+10%'
    """
    from aetherflow.api import compare
    from aetherflow.report.comparison import COMPARISON_HTML, COMPARISON_MD

    if fail_if_mode not in FAIL_IF_MODES:
        raise ConfigError(f"--fail-if-mode {fail_if_mode!r}: expected one of "
                          f"{', '.join(FAIL_IF_MODES)}")
    result = compare(a, b, fail_if=fail_if, mode=fail_if_mode, output=output)
    data, out_dir = result.data, result.directory
    lines = [f"--fail-if {f.expression}: {'TRIGGERED' if f.triggered else 'ok'} ({f.detail})"
             for f in data.fail_if]
    lines.append(f"wrote {COMPARISON_MD}, {COMPARISON_HTML} and comparison_data.json into "
                 f"{out_dir}")
    wrapped = [w for line in lines
               for w in textwrap.wrap(line, TABLE_WIDTH, subsequent_indent="  ",
                                      break_on_hyphens=False)]
    typer.echo("\n".join([render_comparison_table(data), "", *wrapped]), err=as_json)
    if as_json:
        print_json(data.model_dump(mode="json"))
    raise typer.Exit(1 if result.triggered else 0)


def register(app: typer.Typer) -> None:
    """Add ``compare`` to ``app``."""
    app.command("compare", cls=Command)(compare_command)
