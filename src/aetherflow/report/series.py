"""Plot-ready series extracted from a :class:`BenchmarkData` (shared by PNG and HTML views).

Nothing here invents a value: a step without stamps is left out of a timeline (and the
chart names it), an unpriced cost stays None, a $0 bench is said to cost nothing rather
than drawn as an empty chart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from aetherflow.report.format import na
from aetherflow.results.bench import BenchmarkData, GroupStats
from aetherflow.results.run import RunRecord, StepRecord, all_attempts, all_steps

__all__ = [
    "BOX_LEGEND",
    "CHART_ROWS",
    "NAMES_LISTED",
    "PHASE_COLOUR",
    "PHASE_LABEL",
    "STATUS_COLOUR",
    "STATUS_ORDER",
    "CostView",
    "Segment",
    "StatusCounts",
    "StepLane",
    "StepTotals",
    "cost_view",
    "fit_lanes",
    "fit_status_rows",
    "fit_totals",
    "latency_samples",
    "listed",
    "others_note",
    "representative_run",
    "status_counts",
    "step_totals",
    "summed",
    "timeline_lanes",
    "top_indices",
]

#: The four step statuses in the order a stacked pass-rate bar draws them.
STATUS_ORDER: tuple[str, ...] = ("passed", "failed", "skipped", "unvalidated")
STATUS_COLOUR = {"passed": "#2e7d32", "failed": "#c62828", "skipped": "#8d6e63",
                 "unvalidated": "#1565c0"}
#: Phases of a step on a timeline: waiting for a slot, the request running, checks running.
PHASE_LABEL = {"span": "step: ready → finished", "waiting": "waiting for a slot (queue)",
               "running": "request running (dispatched → closed)",
               "checks": "checks running (validation)"}
PHASE_COLOUR = {"span": "#e0e0e0", "waiting": "#ffb74d", "running": "#1976d2",
                "checks": "#8e24aa"}
#: The most steps one chart draws, one row or bar each: a plan of thousands of steps keeps
#: charts people can read (and plotly's per-annotation cost, O(rows) each, stays small).
#: The rest are summed into one row, or left out with their number said in the title.
CHART_ROWS = 40
#: The most step ids a chart's note names before it counts the rest.
NAMES_LISTED = 10
#: What the marks of every box plot mean (plotly and matplotlib draw them the same way).
BOX_LEGEND = ("box: middle half of the values (p25 to p75); line in the box: median; "
              "dashed line: mean; whiskers: the furthest value within 1.5 × the box height; "
              "dots: every value; n: values per box")


@dataclass(frozen=True)
class StepTotals:
    """Per-step means over measured runs: tokens (measured only) and cost."""

    step_id: str
    input_tokens: float | None
    output_tokens: float | None
    cost_usd: float | None


@dataclass(frozen=True)
class StatusCounts:
    """How many steps of a group ended in each status (for a stacked pass-rate bar)."""

    key: str
    passed: int
    failed: int
    skipped: int
    unvalidated: int

    @property
    def n(self) -> int:
        """The pass rate's denominator: passed + failed + skipped (unvalidated excluded)."""
        return self.passed + self.failed + self.skipped

    @property
    def pass_rate(self) -> float | None:
        """passed / n; None when no step had an executable check."""
        return self.passed / self.n if self.n else None

    def count(self, status: str) -> int:
        """The number of steps with ``status``."""
        return int(getattr(self, status))

    def label(self) -> str:
        """``pass rate 75.0% (n = 4); 1 unvalidated, not counted`` for the bar's end."""
        rate = "n/a" if self.pass_rate is None else f"{100 * self.pass_rate:.1f}%"
        extra = f"; {self.unvalidated:,} unvalidated, not counted" if self.unvalidated else ""
        return f"pass rate {rate} (n = {self.n:,}){extra}"


@dataclass(frozen=True)
class Segment:
    """One phase of one attempt of a step on the run's clock (ms after run start)."""

    kind: Literal["waiting", "running", "checks"]
    start_ms: float
    end_ms: float
    attempt: int


@dataclass(frozen=True)
class StepLane:
    """One step of one run on a timeline: its span and the phases inside it."""

    step_id: str
    status: str
    ready_ms: float
    finished_ms: float
    segments: list[Segment] = field(default_factory=list)
    first_tokens_ms: list[float] = field(default_factory=list)
    attempts: int = 0
    repairs: int = 0

    def label(self) -> str:
        """``service · passed (1 repair)`` for the lane's axis."""
        extra = f" ({self.repairs} repair{'s' * (self.repairs != 1)})" if self.repairs else ""
        return f"{self.step_id} · {self.status}{extra}"


@dataclass(frozen=True)
class CostView:
    """How a cost chart should read: drawn (``priced``), or a sentence instead of a chart."""

    state: Literal["priced", "no_charge", "unpriced"]
    text: str = ""


def latency_samples(data: BenchmarkData, metric: str) -> dict[str, list[float]]:
    """``{provider: [values]}`` of an attempt timing metric (e.g. ``ttft_ms``), all attempts."""
    out: dict[str, list[float]] = {}
    for a in all_attempts(all_steps(data.measured_runs())):
        value = getattr(a.timing, metric)
        if value is not None:
            out.setdefault(a.provider, []).append(float(value))
    return dict(sorted(out.items()))


def representative_run(data: BenchmarkData) -> RunRecord | None:
    """The measured run with the median makespan (the first one on ties)."""
    runs = [r for r in data.measured_runs() if r.makespan_ms is not None]
    if not runs:
        return None
    ordered = sorted(runs, key=lambda r: r.makespan_ms or 0.0)
    return ordered[(len(ordered) - 1) // 2]


def status_counts(groups: Sequence[GroupStats]) -> list[StatusCounts]:
    """Step statuses per group (provider, task type or step id)."""
    return [StatusCounts(g.key, g.steps_passed, g.steps_failed, g.steps_skipped,
                         g.steps_unvalidated) for g in groups]


def listed(names: Sequence[str], limit: int = NAMES_LISTED) -> str:
    """``a, b, c`` or, past ``limit`` names, ``a, b, c and 1,234 more``."""
    more = f" and {len(names) - limit:,} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def top_indices(weights: Sequence[tuple[float, ...]], limit: int) -> list[int]:
    """The indices of the ``limit`` largest ``weights`` (ties: the first), in order."""
    ranked = sorted(range(len(weights)), key=lambda i: (tuple(-w for w in weights[i]), i))
    return sorted(ranked[:limit])


def summed(counts: Sequence[StatusCounts], key: str) -> StatusCounts:
    """One row adding up ``counts``, under ``key``."""
    return StatusCounts(key, sum(c.passed for c in counts), sum(c.failed for c in counts),
                        sum(c.skipped for c in counts), sum(c.unvalidated for c in counts))


def fit_status_rows(counts: Sequence[StatusCounts], limit: int = CHART_ROWS
                    ) -> tuple[list[StatusCounts], StatusCounts | None]:
    """``counts`` when it has at most ``limit`` rows (and None). Otherwise the ``limit``
    rows with the most failed and skipped steps (the ones worth reading; ties: the first
    listed), in their order, and the others added up in one :class:`StatusCounts` keyed
    ``N others``, for the chart to say in words (a bar of thousands of steps beside bars
    of a few would flatten them): every step is still counted."""
    if len(counts) <= limit:
        return list(counts), None
    keep = set(top_indices([(c.failed + c.skipped,) for c in counts], limit))
    rest = [c for i, c in enumerate(counts) if i not in keep]
    return ([c for i, c in enumerate(counts) if i in keep],
            summed(rest, f"{len(rest):,} others"))


def others_note(rest: StatusCounts) -> str:
    """``1,961 others not drawn: 5,883 unvalidated`` (their statuses, over every run)."""
    parts = [f"{rest.count(s):,} {s}" for s in STATUS_ORDER if rest.count(s)]
    return f"{rest.key} not drawn: {', '.join(parts) or 'no step'}"


def fit_lanes(lanes: Sequence[StepLane], limit: int = CHART_ROWS
              ) -> tuple[list[StepLane], int]:
    """At most ``limit`` lanes of a timeline: the longest ones (ready to finished), in run
    order, and how many were left out."""
    keep = top_indices([(lane.finished_ms - lane.ready_ms,) for lane in lanes], limit)
    return [lanes[i] for i in keep], len(lanes) - len(keep)


def fit_totals(totals: Sequence[StepTotals], limit: int = CHART_ROWS
               ) -> tuple[list[StepTotals], int]:
    """At most ``limit`` steps of the tokens-and-cost chart: the costliest, then those with
    the most tokens, in plan order, and how many were left out."""
    keep = top_indices([(t.cost_usd or 0.0, (t.input_tokens or 0.0) + (t.output_tokens or 0.0))
                        for t in totals], limit)
    return [totals[i] for i in keep], len(totals) - len(keep)


def _segments(s: StepRecord) -> tuple[list[Segment], list[float]]:
    """The waiting/running/checks phases of ``s``'s attempts, and their first tokens.

    Checks are drawn right after the attempt whose files they checked, as long as their
    verdicts' durations (or, without those, the step's validation time after its last
    attempt), clipped to the step's end.
    """
    end = s.finished_at_ms if s.finished_at_ms is not None else float("inf")
    out: list[Segment] = []
    firsts: list[float] = []
    closed_last: float | None = None
    per_verdict = False
    for a in s.attempts:
        t = a.timeline_ms
        queued, dispatched, closed = t.get("queued"), t.get("dispatched"), t.get("closed")
        if queued is not None and dispatched is not None and dispatched > queued:
            out.append(Segment("waiting", queued, dispatched, a.attempt))
        if dispatched is not None and closed is not None:
            out.append(Segment("running", dispatched, closed, a.attempt))
            closed_last = closed
        first = t.get("first_token")
        if first is not None:
            firsts.append(first)
        checks = sum(v.duration_ms or 0.0 for v in a.verdicts)
        if checks and closed is not None:
            per_verdict = True
            out.append(Segment("checks", closed, min(closed + checks, end), a.attempt))
    if not per_verdict and s.validation_ms and closed_last is not None and s.attempts:
        out.append(Segment("checks", closed_last, min(closed_last + s.validation_ms, end),
                           s.attempts[-1].attempt))
    return out, firsts


def timeline_lanes(run: RunRecord) -> tuple[list[StepLane], list[str]]:
    """The lanes of the steps of ``run`` that have ready and finished stamps, and a
    ``step (status: reason)`` line for each step that could not be drawn."""
    lanes: list[StepLane] = []
    missing: list[str] = []
    for s in run.steps:
        if s.ready_at_ms is None or s.finished_at_ms is None:
            missing.append(f"{s.step_id} ({s.status}" + (f": {s.reason})" if s.reason else ")"))
            continue
        segments, firsts = _segments(s)
        lanes.append(StepLane(s.step_id, s.status, s.ready_at_ms, s.finished_at_ms, segments,
                              firsts, len(s.attempts), s.repairs))
    return lanes, missing


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def step_totals(data: BenchmarkData) -> list[StepTotals]:
    """Per step id: mean input/output tokens and mean cost per run (measured values only)."""
    per: dict[str, tuple[list[float], list[float], list[float], bool]] = {}
    for run in data.measured_runs():
        for s in run.steps:
            ins, outs, costs, _ = per.setdefault(s.step_id, ([], [], [], False))
            ins.extend(float(a.usage.input.value) for a in s.attempts
                       if a.usage.input.value is not None)
            outs.extend(float(a.usage.output.value) for a in s.attempts
                        if a.usage.output.value is not None)
            step_cost = [a.cost.total_usd for a in s.attempts]
            if any(c is None for c in step_cost):
                per[s.step_id] = (ins, outs, costs, True)
            else:
                costs.append(sum(c or 0.0 for c in step_cost))
    return [StepTotals(k, _mean(i), _mean(o), None if bad else _mean(c))
            for k, (i, o, c, bad) in per.items()]


def cost_view(data: BenchmarkData) -> CostView:
    """Whether the bench's cost can be drawn: ``no_charge`` when every attempt cost $0
    (``local model: no charge`` for the embedded model), ``unpriced`` with the reason."""
    c = data.aggregates.global_figures.cost
    if c.total_usd is None:
        return CostView("unpriced", na(c.note or "some attempt could not be priced"))
    if c.total_usd == 0:
        local = bool(c.price_sources) and all(s.startswith("local model")
                                              for s in c.price_sources)
        sources = ", ".join(c.price_sources) or "no price source"
        return CostView("no_charge", "local model: no charge" if local
                        else f"no charge: every attempt cost $0 (price source: {sources})")
    return CostView("priced")
