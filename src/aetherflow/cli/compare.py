"""``aetherflow compare A B [--fail-if EXPR ...]``: B against baseline A, with CIs."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from aetherflow.bench.compare import compare_benches, evaluate_rules, parse_fail_if
from aetherflow.bench.sources import resolve_bench
from aetherflow.report.comparison import COMPARISON_HTML, write_comparison

__all__ = ["compare_command", "register"]


def compare_command(
    a: str = typer.Argument(..., help="Baseline: bench dir, run dir, bench label/id or run id."),
    b: str = typer.Argument(..., help="Candidate: same forms as A."),
    fail_if: list[str] = typer.Option(
        [], "--fail-if",
        help="Exit 1 when a rule triggers: METRIC>N or METRIC<N, N signed, optional % "
             "(relative). E.g. 'ttft_p50>+10%', 'success_rate<-0.05'."),
    output: Path = typer.Option(Path("."), "--output", "-o",
                                help="Directory for comparison_report.md/.html and "
                                     "comparison_data.json."),
) -> None:
    """Compare two benches metric by metric (difference, 95% CI, significance)."""
    console = Console(stderr=True)
    rules = [parse_fail_if(e) for e in fail_if]  # bad expressions fail before any work
    bench_a, bench_b = resolve_bench(a), resolve_bench(b)
    data = compare_benches(bench_a, bench_b, a, b)
    data.fail_if = evaluate_rules(data, rules)
    md = write_comparison(data, output, bench_a, bench_b)
    for row in data.rows:
        if row.scope == "global":
            e = row.estimate
            sig = {True: "significant", False: "not significant", None: "no CI"}[e.significant]
            console.print(f"{row.metric:<22} A={e.a_value!s:<12.10} B={e.b_value!s:<12.10} "
                          f"B-A={e.difference!s:<12.10} ({sig})")
    triggered = [f for f in data.fail_if if f.triggered]
    for f in data.fail_if:
        console.print(f"--fail-if {f.expression}: {'TRIGGERED' if f.triggered else 'ok'} "
                      f"({f.detail})")
    console.print(f"wrote {md}, {COMPARISON_HTML} and comparison_data.json")
    raise typer.Exit(1 if triggered else 0)


def register(app: typer.Typer) -> None:
    """Add ``compare`` to ``app``."""
    app.command("compare")(compare_command)
