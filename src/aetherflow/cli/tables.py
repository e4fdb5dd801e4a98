"""Plain-text terminal tables of comparisons: ``aetherflow compare`` and the focused
benchmarks' headline. They fit 80 columns without cutting a number: values are formatted
for people (thousands separators, percentages, dollars), never in exponent notation.

Imported when a command renders (it needs the comparison and report models).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from aetherflow.report.format import fmt_num, fmt_pct, fmt_usd
from aetherflow.results.comparison import ComparisonData, MetricComparison

__all__ = ["LEGEND", "TABLE_WIDTH", "comparison_table", "fmt_signed", "fmt_value"]

#: The terminal table's width: it must fit a standard terminal.
TABLE_WIDTH = 80
_COLUMNS = (("metric", 23, "<"), ("A", 10, ">"), ("B", 10, ">"), ("change", 9, ">"),
            ("95% CI", 19, ">"), ("sig", 3, ">"))
#: What the columns mean (printed under the table, or once under several).
LEGEND = ("Times in ms (TPOT ms/token). change: B/A - 1, or points (pp) for rates.",
          "sig: the CI of B - A excludes 0. Per provider and task type: see the report.")


def fmt_value(unit: str | None, v: float | None) -> str:
    """A value in its unit, for people (``n/a`` when not measured)."""
    if v is None:
        return "n/a"
    if unit in ("rate", "share"):
        return fmt_pct(v)
    if unit == "usd":
        return _usd(v)
    if unit in ("ms", "tokens"):
        return fmt_num(v, 0 if abs(v) >= 1000 else 1)
    if unit in ("ms/token", "count"):
        return fmt_num(v, 2)
    return fmt_num(v, 3)


def _usd(v: float) -> str:
    if abs(v) >= 1:
        return f"${v:,.2f}"
    text = fmt_usd(v)  # six decimals
    return text if len(text) <= 10 else f"${v:.2g}"


def _pct(v: float) -> str:
    return f"{100 * v:+.1f}%" if abs(v) < 10 else f"{100 * v:+,.0f}%"


def fmt_signed(v: float) -> str:
    """A signed difference for people: no exponent, at most 3 significant digits below 1."""
    if abs(v) >= 100:
        return f"{v:+,.0f}"
    if abs(v) >= 1 or v == 0:
        return f"{v:+.2f}"
    return f"{v:+.2g}" if abs(v) >= 0.0001 else f"{v:+.6f}"


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
          else f"[{fmt_signed(e.ci_low)}, {fmt_signed(e.ci_high)}]")
    return fmt_signed(e.difference), ci


def _line(cells: list[str]) -> str:
    parts = [f"{c:{align}{width}}" for c, (_, width, align) in zip(cells, _COLUMNS, strict=True)]
    return " ".join(parts).rstrip()


def _side(name: str, data: ComparisonData) -> str:
    ref = data.a if name == "A" else data.b
    what = ref.label or ref.source
    emulated = ", emulated" if ref.emulated else ""
    return f"{name}  {what}: {ref.runs} runs, {ref.provider}/{ref.model or 'n/a'}{emulated}"


def _wrap(text: str) -> list[str]:
    return textwrap.wrap(text, TABLE_WIDTH, subsequent_indent="  ", break_on_hyphens=False,
                         break_long_words=False)


def comparison_table(data: ComparisonData, metrics: Sequence[str] | None = None,
                     legend: bool = True, title: str | None = None) -> str:
    """The global rows of a comparison (only ``metrics``, in that order, when given) as
    plain text that fits 80 columns.

    Values are formatted in their units; ``change`` is the relative change ``B / A - 1``
    for amounts and the difference in percentage points for rates, with its CI; ``sig``
    says whether the CI of ``B - A`` excludes 0. With ``legend``, the column legend and
    the reasons for every missing CI follow (else only the reasons).
    """
    head = [title or f"B against baseline A ({100 * data.confidence:g}% CIs; "
                     f"{data.design_note})", _side("A", data), _side("B", data)]
    lines = [w for h in head for w in _wrap(h)]
    lines += ["", _line([c[0] for c in _COLUMNS])]
    rows = [r for r in data.rows if r.scope == "global"]
    if metrics is not None:
        by_name = {r.metric: r for r in rows}
        rows = [by_name[m] for m in metrics if m in by_name]
    reasons: dict[str, list[str]] = {}
    for r in rows:
        e = r.estimate
        change, ci = _change(r)
        sig = {True: "yes", False: "no", None: "n/a"}[e.significant]
        lines.append(_line([r.metric, fmt_value(r.unit, e.a_value),
                            fmt_value(r.unit, e.b_value), change, ci, sig]))
        if e.significant is None and e.note:
            reasons.setdefault(e.note, []).append(r.metric)
    lines += [""] + (list(LEGEND) if legend else [])
    for note, names in reasons.items():
        lines += _wrap(f"{', '.join(names)}: {note}")
    return "\n".join(lines).rstrip("\n")
