"""``aetherflow compare A B [--fail-if EXPR ...]``: B against baseline A, with CIs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import typer

from aetherflow.bench.compare import (
    FAIL_IF_MODES,
    ComparisonData,
    FailIfMode,
    MetricComparison,
    compare_benches,
    default_comparison_dir,
    evaluate_rules,
    parse_fail_if,
)
from aetherflow.bench.sources import resolve_benches
from aetherflow.errors import ConfigError
from aetherflow.report.comparison import COMPARISON_HTML, write_comparison
from aetherflow.report.format import fmt_num, fmt_pct, fmt_usd

__all__ = ["compare_command", "register", "render_comparison_table"]

#: The terminal table's width: it must fit a standard terminal.
TABLE_WIDTH = 80
_COLUMNS = (("metric", 23, "<"), ("A", 10, ">"), ("B", 10, ">"), ("change", 9, ">"),
            ("95% CI", 19, ">"), ("sig", 3, ">"))


def _value(unit: str | None, v: float | None) -> str:
    """A value in its unit, for people (``n/a`` when not measured)."""
    if v is None:
        return "n/a"
    if unit in ("rate", "share"):
        return fmt_pct(v)
    if unit == "usd":
        return fmt_usd(v) if abs(v) < 1 else f"${v:,.2f}"
    if unit in ("ms", "tokens"):
        return fmt_num(v, 0 if abs(v) >= 1000 else 1)
    if unit in ("ms/token", "count"):
        return fmt_num(v, 2)
    return fmt_num(v, 3)


def _pct(v: float) -> str:
    return f"{100 * v:+.1f}%" if abs(v) < 10 else f"{100 * v:+.0f}%"


def _change(r: MetricComparison) -> tuple[str, str]:
    """``(change, CI)``: percentage points for rates, relative change for amounts, else
    the absolute difference."""
    e = r.estimate
    if e.difference is None:
        return "n/a", "n/a"
    if r.unit in ("rate", "share"):
        ci = ("n/a" if e.ci_low is None or e.ci_high is None
              else f"[{100 * e.ci_low:+.1f}, {100 * e.ci_high:+.1f}] pp")
        return f"{100 * e.difference:+.1f} pp", ci
    if e.relative_difference is not None:
        ci = ("n/a" if e.relative_ci_low is None or e.relative_ci_high is None
              else f"[{_pct(e.relative_ci_low)}, {_pct(e.relative_ci_high)}]")
        return _pct(e.relative_difference), ci
    ci = ("n/a" if e.ci_low is None or e.ci_high is None
          else f"[{e.ci_low:+.3g}, {e.ci_high:+.3g}]")
    return f"{e.difference:+.3g}", ci


def _line(cells: list[str]) -> str:
    parts = [f"{c:{align}{width}}" for c, (_, width, align) in zip(cells, _COLUMNS, strict=True)]
    return " ".join(parts).rstrip()


def _side(name: str, data: ComparisonData) -> str:
    ref = data.a if name == "A" else data.b
    what = ref.label or ref.source
    emulated = ", emulated" if ref.emulated else ""
    return f"{name}  {what}: {ref.runs} runs, {ref.provider}/{ref.model or 'n/a'}{emulated}"


def render_comparison_table(data: ComparisonData) -> str:
    """The global rows of a comparison as plain text that fits 80 columns.

    Values are formatted in their units; ``change`` is the relative change ``B / A - 1``
    for amounts and the difference in percentage points for rates, with its CI; ``sig``
    says whether the CI of ``B - A`` excludes 0. The reasons for every missing CI follow.
    """
    head = [f"B against baseline A ({100 * data.confidence:g}% CIs; {data.design_note})",
            _side("A", data), _side("B", data)]
    lines = [w for h in head for w in textwrap.wrap(h, TABLE_WIDTH, subsequent_indent="  ")]
    lines += ["", _line([c[0] for c in _COLUMNS])]
    reasons: dict[str, list[str]] = {}
    for r in data.rows:
        if r.scope != "global":
            continue
        e = r.estimate
        change, ci = _change(r)
        sig = {True: "yes", False: "no", None: "n/a"}[e.significant]
        lines.append(_line([r.metric, _value(r.unit, e.a_value), _value(r.unit, e.b_value),
                            change, ci, sig]))
        if e.significant is None and e.note:
            reasons.setdefault(e.note, []).append(r.metric)
    lines += ["", "Times in ms (TPOT ms/token). change: B/A - 1, or points (pp) for rates.",
              "sig: the CI of B - A excludes 0. Per provider and task type: see the report."]
    for note, metrics in reasons.items():
        lines += textwrap.wrap(f"{', '.join(metrics)}: {note}", TABLE_WIDTH,
                               subsequent_indent="  ")
    return "\n".join(lines)


def compare_command(
    a: str = typer.Argument(..., help="Baseline: bench dir, run dir, bench label/id or run id."),
    b: str = typer.Argument(..., help="Candidate: same forms as A."),
    fail_if: list[str] = typer.Option(
        [], "--fail-if",
        help="Exit 1 when a rule triggers: METRIC>N or METRIC<N, N signed, optional % "
             "(relative). E.g. 'ttft_p50>+10%', 'pass_rate<-0.05'."),
    fail_if_mode: str = typer.Option(
        "significant", "--fail-if-mode",
        help="significant: a rule fires when the change passes the threshold AND is "
             "significant (CI excludes 0; a gate with no CI fails closed); point: the point "
             "estimate alone decides."),
    output: Path | None = typer.Option(
        None, "--output", "-o",
        help="Directory for comparison_report.md/.html and comparison_data.json (default "
             "bench_results/comparisons/<A>-vs-<B>)."),
    as_json: bool = typer.Option(False, "--json",
                                 help="Print comparison_data.json on stdout (the table goes "
                                      "to stderr)."),
) -> None:
    """Compare two benches metric by metric (difference, 95% CI, significance)."""
    if fail_if_mode not in FAIL_IF_MODES:
        raise ConfigError(f"--fail-if-mode {fail_if_mode!r}: expected one of "
                          f"{', '.join(FAIL_IF_MODES)}")
    mode: FailIfMode = "point" if fail_if_mode == "point" else "significant"
    rules = [parse_fail_if(e) for e in fail_if]  # bad expressions fail before any work
    bench_a, bench_b = resolve_benches(a, b)
    data = compare_benches(bench_a, bench_b, a, b)
    if rules:
        data.fail_if = evaluate_rules(data, rules, mode)
        data.fail_if_mode = mode
    out_dir = output or default_comparison_dir(bench_a, bench_b, a, b)
    md = write_comparison(data, out_dir, bench_a, bench_b)
    lines = [f"--fail-if {f.expression}: {'TRIGGERED' if f.triggered else 'ok'} ({f.detail})"
             for f in data.fail_if]
    lines.append(f"wrote {md.name}, {COMPARISON_HTML} and comparison_data.json into {out_dir}")
    wrapped = [w for line in lines
               for w in textwrap.wrap(line, TABLE_WIDTH, subsequent_indent="  ",
                                      break_on_hyphens=False)]
    typer.echo("\n".join([render_comparison_table(data), "", *wrapped]), err=as_json)
    if as_json:
        typer.echo(data.model_dump_json(indent=2))
    raise typer.Exit(1 if any(f.triggered for f in data.fail_if) else 0)


def register(app: typer.Typer) -> None:
    """Add ``compare`` to ``app``."""
    app.command("compare")(compare_command)
