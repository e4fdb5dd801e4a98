"""A focused benchmark's views, rendered from its
:class:`~aetherflow.results.focused.FocusedData` alone: the Markdown report
(``focused_report.md``, ``prompt_cache_report.md`` or ``slm_local_report.md``) and each
pair's ``comparison_report.*``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from aetherflow.metrics.stats import DiffEstimate
from aetherflow.report.comparison import write_comparison
from aetherflow.report.format import fmt_num, fmt_pct
from aetherflow.report.markdown import md_table
from aetherflow.results.bench import BenchmarkData
from aetherflow.results.focused import FOCUSED_DATA_FILE, FocusedData, FocusedPair, HeadlineRow

__all__ = ["HEADLINE_HEADER", "headline_table", "render_focused_markdown",
           "write_focused_reports"]

HEADLINE_HEADER = ["pair", "metric", "A", "B", "B − A", "relative [95% CI]", "95% CI",
                   "significant", "n A/B"]


def _g(value: float | None, digits: int) -> str:
    """``digits`` decimals, or 3 significant digits for tiny non-zero values (costs)."""
    if value is not None and value != 0 and abs(value) < 10 ** (1 - digits):
        return f"{value:.3g}"
    return fmt_num(value, digits)


def _relative(e: DiffEstimate) -> str:
    """The relative change with its log-ratio interval, when there is one."""
    text = fmt_pct(e.relative_difference)
    if e.relative_ci_low is not None and e.relative_ci_high is not None:
        text += f" [{fmt_pct(e.relative_ci_low)}, {fmt_pct(e.relative_ci_high)}]"
    return text


def headline_table(rows: Sequence[HeadlineRow], digits: int = 2) -> str:
    """Markdown table (columns of :data:`HEADLINE_HEADER`); a missing CI says why."""
    body = []
    for r in rows:
        e = r.estimate
        ci = ("n/a" + (f" ({e.note})" if e.note else "") if e.ci_low is None
              or e.ci_high is None else f"[{_g(e.ci_low, digits)}, {_g(e.ci_high, digits)}]")
        sig = {True: "yes", False: "no", None: "n/a"}[e.significant]
        body.append([r.pair, r.metric, _g(e.a_value, digits), _g(e.b_value, digits),
                     _g(e.difference, digits), _relative(e), ci, sig,
                     f"{e.n_a}/{e.n_b}"])
    return md_table(HEADLINE_HEADER, body)


def _speedup_lines(pair: FocusedPair) -> list[str]:
    """``bench parallel``: each side's makespan, critical path and efficiency; speedup."""
    lines = []
    for name, ps in (("A", pair.a_structure), ("B", pair.b_structure)):
        lines.append(f"- {name}: makespan mean {fmt_num(ps.makespan_ms.mean)} ms, critical "
                     f"path mean {fmt_num(ps.critical_path_ms.mean)} ms, parallel "
                     f"efficiency mean {fmt_num(ps.parallel_efficiency.mean, 3)}")
    ma, mb = pair.a_structure.makespan_ms.mean, pair.b_structure.makespan_ms.mean
    speed = None if not ma or not mb else ma / mb
    return [*lines, f"- speedup (mean makespan A / B): {fmt_num(speed, 2)}"]


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def _cache_finding(pair: FocusedPair) -> str:
    """``bench prompt-cache``: one pair's cached share, TTFT and cost in a sentence."""
    cmp = pair.comparison
    share, ttft, cost = (cmp.row(m) for m in ("cached_input_share", "ttft_p50", "cost_total"))
    parts = [f"**{pair.title}**"]
    if share is not None and share.estimate.b_value is not None:
        parts.append(f"cached share of input {_pct(share.estimate.a_value)} defeated → "
                     f"{_pct(share.estimate.b_value)} used")
    else:
        parts.append("cached tokens n/a" + (f" ({share.estimate.note})"
                                            if share and share.estimate.note else ""))
    if ttft is not None and ttft.estimate.difference is not None:
        e = ttft.estimate
        sig = {True: "significant", False: "not significant", None: "no CI"}[e.significant]
        parts.append(f"TTFT p50 {fmt_num(e.a_value)} → {fmt_num(e.b_value)} ms "
                     f"({e.difference:+,.0f} ms, {sig})")
    if cost is not None and cost.estimate.a_value is not None:
        e = cost.estimate
        rel = "" if e.relative_difference is None else f", {100 * e.relative_difference:+.0f}%"
        b_cost = "n/a" if e.b_value is None else f"${e.b_value:.6f}"
        parts.append(f"cost per run ${e.a_value:.6f} → {b_cost}{rel}")
    emulated = " (emulated: TTFT is the emulator's latency model)" if pair.emulated else ""
    return "- " + "; ".join(parts) + emulated


def render_focused_markdown(data: FocusedData) -> str:
    """The focused benchmark's Markdown report: what A and B are, the figures it is about
    (speedup for ``parallel``, a finding per pair for ``prompt-cache``), the headline table
    with CIs, and its notes."""
    parts = [f"# {data.title}", *data.intro]
    if data.benchmark == "parallel":
        parts += ["\n".join(_speedup_lines(p)) for p in data.pairs]
    if data.benchmark == "prompt-cache":
        parts.append("\n".join(_cache_finding(p) for p in data.pairs))
    parts += [headline_table(data.headline), *data.notes]
    return "\n\n".join(parts) + "\n"


def write_focused_reports(
    data: FocusedData, out: Path,
    benches: Mapping[str, tuple[BenchmarkData | None, BenchmarkData | None]] | None = None,
) -> list[Path]:
    """Write ``focused_data.json``, each pair's ``comparison_report.*`` (in ``out`` joined
    with the pair's directory) and the Markdown report into ``out``; return the files.

    ``benches`` maps a pair's directory to the benches of A and B, when the caller has them:
    the comparison pages then also draw their distributions.
    """
    out.mkdir(parents=True, exist_ok=True)
    files = [out / FOCUSED_DATA_FILE]
    files[0].write_text(data.model_dump_json(indent=1), encoding="utf-8")
    for pair in data.pairs:
        a, b = (benches or {}).get(pair.directory, (None, None))
        md = write_comparison(pair.comparison, out / pair.directory, a, b)
        files += [md, md.with_suffix(".html")]
    report = out / data.report_file
    report.write_text(render_focused_markdown(data), encoding="utf-8")
    return [*files, report]
