"""Plot-ready series extracted from a :class:`BenchmarkData` (shared by PNG and HTML views)."""

from __future__ import annotations

from dataclasses import dataclass

from aetherflow.bench.aggregate import all_attempts, all_steps
from aetherflow.bench.model import BenchmarkData
from aetherflow.metrics.records import RunRecord

__all__ = ["GanttBar", "StepTotals", "gantt_bars", "latency_samples", "representative_run",
           "step_totals"]


@dataclass(frozen=True)
class GanttBar:
    """One step of one run on the run's clock (ms after run start)."""

    step_id: str
    start_ms: float
    end_ms: float
    status: str
    first_token_ms: float | None


@dataclass(frozen=True)
class StepTotals:
    """Per-step means over measured runs: tokens (measured only) and cost."""

    step_id: str
    input_tokens: float | None
    output_tokens: float | None
    cost_usd: float | None


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


def gantt_bars(run: RunRecord) -> list[GanttBar]:
    """Ready → finished bars of the steps of ``run`` that have both stamps."""
    bars: list[GanttBar] = []
    for s in run.steps:
        if s.ready_at_ms is None or s.finished_at_ms is None:
            continue
        first = None
        if s.attempts and s.ttft_ms is not None:
            dispatched = s.attempts[-1].timeline_ms.get("dispatched")
            first = None if dispatched is None else dispatched + s.ttft_ms
        bars.append(GanttBar(s.step_id, s.ready_at_ms, s.finished_at_ms, s.status, first))
    return bars


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
