"""Formatting helpers shared by every view: a None value prints as ``n/a``, never 0."""

from __future__ import annotations

from aetherflow.metrics.stats import Distribution
from aetherflow.results.bench import TokenTotal

__all__ = ["DIST_COLUMNS", "dist_cells", "fmt_num", "fmt_pct", "fmt_tokens", "fmt_usd", "na"]

DIST_COLUMNS = ("n", "mean", "p50", "p90", "p95", "p99", "min", "max")


def na(reason: str | None) -> str:
    """``n/a (reason)``, or plain ``n/a``."""
    return f"n/a ({reason})" if reason else "n/a"


def fmt_num(value: float | None, digits: int = 1) -> str:
    """A number with ``digits`` decimals and thousands separators; ``n/a`` for None."""
    return "n/a" if value is None else f"{value:,.{digits}f}"


def fmt_pct(value: float | None) -> str:
    """A ratio as a percentage; ``n/a`` for None."""
    return "n/a" if value is None else f"{100 * value:.1f}%"


def fmt_usd(value: float | None) -> str:
    """US dollars with enough decimals for tiny per-token costs; ``n/a`` for None."""
    return "n/a" if value is None else f"${value:.6f}"


def fmt_tokens(total: TokenTotal) -> str:
    """A token total with provenance and missing counts."""
    if total.total is None:
        return na(total.note)
    prov = "/".join(total.provenance) or "unknown provenance"
    extra = f", {total.missing} not measured" if total.missing else ""
    return f"{total.total:,} ({prov}{extra})"


def dist_cells(d: Distribution, digits: int = 1) -> list[str]:
    """The n/mean/p50/p90/p95/p99/min/max cells of a distribution (n/a with reason if empty)."""
    if d.n == 0:
        return ["0", na(d.note), *["n/a"] * 6]
    values = (d.mean, d.p50, d.p90, d.p95, d.p99, d.min, d.max)
    return [f"{d.n:,}", *(fmt_num(v, digits) for v in values)]
