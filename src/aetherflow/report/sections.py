"""The benchmark report as data: sections of paragraphs, tables, lists and chart places.

Each section is built **once** here from a :class:`BenchmarkData` and rendered twice, as
Markdown (:mod:`aetherflow.report.markdown`) and as HTML (:mod:`aetherflow.report.html`), so
the two reports cannot drift apart. A chart place names a chart key of :data:`CHART_FILES`:
the Markdown links the PNG of that key, the HTML draws the interactive chart of that key.

Every value comes from the model; what was not measured reads ``n/a (reason)``, never 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from aetherflow.metrics.stats import Distribution
from aetherflow.report.analysis import analyse
from aetherflow.report.format import (
    DIST_COLUMNS,
    dist_cells,
    fmt_num,
    fmt_pct,
    fmt_tokens,
    fmt_usd,
    na,
)
from aetherflow.report.series import cost_view, step_totals, top_indices
from aetherflow.results.bench import (
    BenchmarkData,
    BenchMeta,
    BenchRun,
    Goodput,
    GroupStats,
    LatencyTable,
    MachineLoad,
    Throughput,
)
from aetherflow.results.run import RunRecord, StepRecord, Verdict

__all__ = [
    "CHART_FILES",
    "TABLE_ROWS",
    "Block",
    "Chart",
    "Items",
    "Paragraph",
    "Section",
    "Table",
    "banner",
    "bench_sections",
    "bench_title",
]

#: The most rows a per-step table lists; past it, the rows worth reading (failed and skipped
#: steps, the costliest) are kept in their order and a note counts the others, which
#: benchmark_data.json holds with everything else.
TABLE_ROWS = 100
#: Chart key -> PNG file of the Markdown report (the HTML draws the same keys with plotly).
CHART_FILES = {"quality": "quality.png", "latency": "latency.png", "timeline": "timeline.png",
               "tokens_cost": "tokens_cost.png"}


@dataclass(frozen=True)
class Paragraph:
    """A paragraph; ``warning`` paragraphs stand out (a busy machine, an emulated run)."""

    text: str
    tone: Literal["plain", "note", "warning"] = "plain"


@dataclass(frozen=True)
class Table:
    """A table of text cells, with an optional caption above it.

    ``status_column``: the column holding step/run statuses (the HTML colours them).
    """

    header: Sequence[str]
    rows: Sequence[Sequence[str]]
    caption: str | None = None
    status_column: int | None = None


@dataclass(frozen=True)
class Items:
    """A bullet list of ``(lead, text)`` pairs; the lead is set in bold."""

    items: Sequence[tuple[str, str]]


@dataclass(frozen=True)
class Chart:
    """Where the chart ``key`` (of :data:`CHART_FILES`) goes."""

    key: str
    alt: str


Block = Paragraph | Table | Items | Chart


@dataclass(frozen=True)
class Section:
    """A titled part of the report (``level`` 2 or 3) and its blocks, in order."""

    key: str
    title: str
    blocks: Sequence[Block] = field(default_factory=tuple)
    level: int = 2


# --- setup ------------------------------------------------------------------------------

_CACHE_MODES = {"default": "provider default (nothing switched)",
                "on": "used (switched on where the provider needs it)",
                "off": "defeated (a unique nonce starts every prompt)"}


def _distinct(values: Sequence[object]) -> str:
    """One value, or every distinct value in first-seen order (and that they varied)."""
    seen = list(dict.fromkeys("none" if v is None else str(v) for v in values))
    if not seen:
        return "n/a (no measured run)"
    return seen[0] if len(seen) == 1 else " / ".join(seen) + " (varied between runs)"


def _run_settings(runs: Sequence[RunRecord]) -> str:
    names = [("concurrency", "concurrency"), ("max_tokens", "max_tokens"),
             ("temperature", "temperature"), ("max_attempts", "max attempts"),
             ("repairs", "repairs"), ("workflow", "workflow"), ("sandbox", "sandbox"),
             ("seed", "seed"), ("judge", "judge"), ("step_timeout_s", "step timeout s")]
    if not runs:
        return "n/a (no measured run)"
    return ", ".join(f"{label} {_distinct([getattr(r.config, attr) for r in runs])}"
                     for attr, label in names)


def _prompt_cache(data: BenchmarkData) -> str:
    runs = data.measured_runs()
    if not runs:
        return "n/a (no measured run)"
    modes = list(dict.fromkeys(r.config.prompt_cache for r in runs))
    text = "; ".join(f"{m}: {_CACHE_MODES.get(m, m)}" for m in modes)
    return text + (" (varied between runs)" if len(modes) > 1 else "")


def _server(runs: Sequence[BenchRun]) -> str:
    embedded = [r for r in runs if not r.warmup and r.server_reused is not None]
    if not embedded:
        return "n/a (no embedded server: the provider is remote or emulated)"
    fresh = [r for r in embedded if not r.server_reused]
    reused = [r for r in embedded if r.server_reused]
    startups = [r.server_startup_s for r in fresh if r.server_startup_s is not None]
    parts = []
    if fresh:
        parts.append(f"started fresh for run {', '.join(str(r.index) for r in fresh)}"
                     + (f" (start-up {', '.join(f'{s:.1f}' for s in startups)} s, outside "
                        "the makespan)" if startups else ""))
    if reused:
        parts.append(f"reused (it had served earlier runs) for run "
                     f"{', '.join(str(r.index) for r in reused)}")
    return "; ".join(parts)


def _load(load: MachineLoad | None) -> str:
    if load is None:
        return "n/a (not recorded: the bench was written before AetherFlow read the load)"

    def num(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.2f}"

    text = (f"1-minute load average {num(load.load_start)} at the start, {num(load.load_end)} "
            f"at the end, max {num(load.load_max)}, on {load.cpu_count or 'n/a'} CPUs; "
            f"CPU steal {fmt_pct(load.cpu_steal_share)}; "
            + ("BUSY" if load.busy else "quiet (load per CPU ≤ 0.7, steal ≤ 5%)"))
    if load.warning:
        text += f": {load.warning}"
    return text + (f" ({load.note})" if load.note else "")


def _emulated(m: BenchMeta) -> str:
    return ("yes (provider emulator on loopback: its latency is the emulator's model, not a "
            "measurement of the provider)" if m.emulated else "no (real provider)")


def _setup(data: BenchmarkData) -> Section:
    m = data.meta
    env = m.environment
    rows = [
        ["plan", m.plan], ["task", m.task_id], ["label", m.label or "-"],
        ["provider", m.provider], ["model", m.model or "n/a"], ["emulated", _emulated(m)],
        ["repeats", f"{m.repeats} measured + {m.warmup} warm-up (warm-ups excluded from "
                    "statistics, kept in runs/warmup-*)"],
        ["--set overlay", ", ".join(f"{k}={v}" for k, v in m.overlay.items()) or "none"],
        ["run settings", _run_settings(data.measured_runs())],
        ["prompt cache", _prompt_cache(data)],
        ["provider state between repeats", m.server_mode or "n/a (not recorded)"],
        ["embedded server", _server(data.runs)],
        ["started / finished", f"{m.started_at} / {m.finished_at or 'unfinished'}"],
    ]
    if env is not None:
        pkgs = ", ".join(f"{k} {v}" for k, v in env.packages.items())
        rows += [["machine", f"{env.platform} ({env.machine}), {env.cpu_count or 'n/a'} CPUs, "
                             f"host {env.hostname}"],
                 ["versions", f"Python {env.python}, aetherflow {env.aetherflow_version}"
                              + (f", {pkgs}" if pkgs else "")]]
    else:
        rows.append(["machine", "n/a (environment not recorded)"])
    rows.append(["machine load", _load(m.machine_load)])
    blocks: list[Block] = [Table(["item", "value"], rows)]
    warnings = list(dict.fromkeys(w for r in data.measured_runs() for w in r.warnings))
    if warnings:
        blocks.append(Paragraph("Run warnings: " + "; ".join(warnings) + ".", "note"))
    return Section("setup", "Setup", blocks)


def banner(data: BenchmarkData) -> list[Paragraph]:
    """What a reader must know before any number: a busy machine, an emulated provider."""
    out = []
    load = data.meta.machine_load
    if load is not None and load.busy:
        out.append(Paragraph("Machine busy while the bench ran: "
                             + (load.warning or "load per CPU above 0.7 or CPU steal above 5%")
                             + ". Timings on a loaded machine can be several times slower; "
                               "compare them only with benches run under the same load.",
                             "warning"))
    if data.meta.emulated:
        out.append(Paragraph("Emulated provider: latency and token counts come from the "
                             "provider emulator's model, not from the real provider.",
                             "warning"))
    return out


# --- headline figures ---------------------------------------------------------------------

def _global(data: BenchmarkData) -> Section:
    g = data.aggregates.global_figures
    c = g.cost
    rows = [
        ["plan runs (measured)", f"{g.runs:,}"],
        ["plans passed", f"{g.plans_passed:,} of {g.runs - g.plans_unvalidated:,} "
                         f"({fmt_pct(g.plan_pass_rate)}); {g.plans_unvalidated:,} unvalidated"],
        ["steps", f"{g.steps:,} (passed {g.steps_passed:,}, failed {g.steps_failed:,}, "
                  f"skipped {g.steps_skipped:,}, unvalidated {g.steps_unvalidated:,})"],
        ["pass rate (executed checks; failed plans kept)",
         f"{fmt_pct(g.pass_rate)} (n = {g.steps_passed + g.steps_failed + g.steps_skipped:,}; "
         f"{g.steps_unvalidated:,} unvalidated not counted)"],
        ["first-try pass rate", fmt_pct(g.first_try_pass_rate)],
        ["attempts", f"{g.attempts:,} ({g.attempts_failed:,} failed; "
                     f"{fmt_num(g.attempts_per_step, 2)} per step)"],
        ["truncated (stopped at max_tokens)",
         f"{g.truncated_attempts:,} of {g.answered_attempts:,} answered attempts "
         f"({fmt_pct(g.truncation_rate)})"],
        ["makespan p50 / mean (ms)", f"{fmt_num(g.makespan_ms.p50)} / "
                                     f"{fmt_num(g.makespan_ms.mean)}"],
        ["cost total", fmt_usd(c.total_usd) if c.total_usd is not None else na(c.note)],
        ["cost per passed step", fmt_usd(c.per_passed_step_usd)
         if c.per_passed_step_usd is not None else na(c.note or "no step passed")],
        ["cost per passed plan", fmt_usd(c.per_passed_plan_usd)
         if c.per_passed_plan_usd is not None else na(c.note or "no plan passed")],
        ["cost of failed attempts", fmt_usd(c.failed_attempts_usd)],
        ["cost of repairs", fmt_usd(c.repairs_usd)],
        ["price sources", ", ".join(c.price_sources) or "n/a"],
        ["input tokens", fmt_tokens(g.tokens_input)],
        ["output tokens", fmt_tokens(g.tokens_output)],
    ]
    view = cost_view(data)
    blocks: list[Block] = [Table(["figure", "value"], rows)]
    if view.state == "no_charge":
        blocks.append(Paragraph(f"Cost: {view.text}.", "note"))
    return Section("global", "Global figures", blocks)


def _analysis(data: BenchmarkData) -> Section:
    return Section("analysis", "Analysis",
                   [Items([(a.question, a.answer) for a in analyse(data)])])


# --- quality --------------------------------------------------------------------------------

def _quality(data: BenchmarkData) -> Section:
    q = data.aggregates.quality
    g = data.aggregates.global_figures
    n = g.steps_passed + g.steps_failed + g.steps_skipped
    summary = Table(
        ["steps", "passed", "failed", "skipped", "pass rate (n)", "unvalidated (not a success)",
         "first-try pass rate", "repairs (per passed step)"],
        [[f"{g.steps:,}", f"{g.steps_passed:,}", f"{g.steps_failed:,}",
          f"{g.steps_skipped:,}", f"{fmt_pct(g.pass_rate)} ({n:,})", f"{g.steps_unvalidated:,}",
          fmt_pct(g.first_try_pass_rate),
          f"{q.repairs:,} ({fmt_num(q.repairs_per_passed_step, 2)})"]],
        caption="Pass rate = passed / (passed + failed + skipped); unvalidated steps had "
                "nothing executable and are counted apart, never as a success")
    blocks: list[Block] = [summary, Chart("quality", "step statuses per provider, task type "
                                                     "and step")]
    if q.status == "n/a":
        blocks.insert(0, Paragraph(f"Quality: {na(q.reason)}."))
        return Section("quality", "Quality", blocks)
    blocks.append(Paragraph(
        f"Pass rate {fmt_pct(q.pass_rate)} of {q.passed + q.failed + q.skipped} steps (passed "
        f"{q.passed}, failed {q.failed}, skipped {q.skipped}); {q.unvalidated} unvalidated "
        "steps (nothing executable) are not counted as passes. First-try pass rate "
        f"{fmt_pct(q.first_try_pass_rate)} ({q.first_try_passed} steps passed before any "
        f"repair); {q.repairs} repairs ({fmt_num(q.repairs_per_passed_step, 2)} per passed "
        f"step). Checks ran in: {', '.join(q.sandboxes) or 'n/a'}. Validation time per step: "
        f"p50 {fmt_num(q.validation_ms.p50)} ms, mean {fmt_num(q.validation_ms.mean)} ms "
        "(apart from generation)."))
    if q.judged_passed or q.judged_failed:
        blocks.append(Paragraph(f"LLM judge (opinions on free-text criteria, not in the pass "
                                f"rates): {q.judged_passed} passed, {q.judged_failed} failed."))
    if q.unchecked_criteria:
        blocks.append(Paragraph(f"{q.unchecked_criteria} free-text criteria were not checked."))
    rows = [[k.check, str(k.executed), str(k.passed), str(k.failed), str(k.error),
             fmt_pct(k.pass_rate)] for k in q.by_check]
    blocks.append(Table(["check", "verdicts", "passed", "failed", "error", "pass rate"], rows,
                        caption="Verdicts per check kind (every attempt checked)")
                  if rows else Paragraph("Verdicts per check kind: n/a (no check executed)."))
    pk = [[f"pass@{p.k}", fmt_pct(p.value), str(p.steps), p.note or ""] for p in q.pass_at_k]
    blocks.append(Table(["k", "value", "steps", "note"], pk,
                        caption="pass@k over repeats (each repeat's first try)")
                  if pk else Paragraph("pass@k over repeats: n/a (needs repeats)."))
    c = q.code
    cc_max = "n/a" if c.cyclomatic_complexity_max is None else str(c.cyclomatic_complexity_max)
    if c.steps:
        blocks.append(Table(
            ["steps", "Python files", "lines", "ruff findings / 100 lines",
             "maintainability index (mean)", "cyclomatic complexity mean (max)"],
            [[f"{c.steps:,}", f"{c.python_files:,}", f"{c.lines:,}",
              fmt_num(c.ruff_findings_per_100_lines, 2),
              fmt_num(c.maintainability_index_mean, 1),
              f"{fmt_num(c.cyclomatic_complexity_mean, 2)} ({cc_max})"]],
            caption="Code quality of the Python files the steps produced"))
    else:
        blocks.append(Paragraph(f"Code quality: {na(c.note)}."))
    return Section("quality", "Quality", blocks)


def _failing(v: Verdict) -> str:
    how = {"judge": "judge", "executed": f"sandbox {v.sandbox or 'n/a'}",
           "none": "not run"}[v.method]
    return f"{v.check}: {v.reason or v.status} [{how}]"


def _checks(s: StepRecord) -> str:
    executed = [v for v in s.validation if v.method == "executed"]
    ok = sum(v.status == "passed" for v in executed)
    parts = [f"{ok}/{len(executed)} executed passed"] if executed else ["none executed"]
    judged = [v for v in s.validation if v.method == "judge"]
    if judged:
        parts.append(f"judge {sum(v.status == 'passed' for v in judged)}/{len(judged)}")
    unchecked = sum(v.status == "unchecked" for v in s.validation)
    if unchecked:
        parts.append(f"{unchecked} unchecked")
    return "; ".join(parts)


def _why(s: StepRecord) -> str:
    failing = [_failing(v) for v in s.validation if v.status in ("failed", "error")]
    if s.reason and s.reason not in failing:
        failing.append(s.reason)
    errors = [f"attempt {a.attempt}: {a.error_kind or 'error'}" for a in s.attempts
              if a.status == "error"]
    return "; ".join(failing + errors)


def _fit_table(rows: list[list[str]], weights: Sequence[tuple[float, ...]], what: str
               ) -> tuple[list[list[str]], list[Block]]:
    """At most :data:`TABLE_ROWS` of ``rows``: those of largest ``weights``, in order, and a
    note saying how many ``what`` were left out and where they are."""
    if len(rows) <= TABLE_ROWS:
        return rows, []
    keep = top_indices(weights, TABLE_ROWS)
    note = Paragraph(f"{len(rows) - TABLE_ROWS:,} more {what} not listed here: "
                     "benchmark_data.json holds every one.", "note")
    return [rows[i] for i in keep], [note]


def _verdicts(data: BenchmarkData) -> Section:
    rows = []
    weights: list[tuple[float, ...]] = []
    for r in data.runs:
        if r.warmup:
            continue
        for s in r.record.steps:
            rows.append([str(r.index), s.step_id, s.type, s.provider or "n/a", s.status,
                         s.first_try or "n/a", str(s.repairs), "yes" if s.truncated else "no",
                         _checks(s), fmt_num(s.validation_ms), _why(s)])
            weights.append((s.status in ("failed", "skipped"), s.repairs + s.truncated))
    header = ["run", "step", "type", "provider", "status", "first try", "repairs", "truncated",
              "checks", "check time ms", "why"]
    rows, more = _fit_table(rows, weights, "steps of runs (the failed, skipped, repaired and "
                                           "truncated ones are listed first)")
    blocks: list[Block] = [
        Table(header, rows, status_column=4) if rows else Paragraph("n/a (no measured run)"),
        *more,
        Paragraph("why: each failing verdict as check: reason [where it ran], then the step's "
                  "own reason (a skipped step's failed dependency, an unvalidated step's "
                  "missing check) and the attempts the provider refused.", "note")]
    return Section("verdicts", "Steps and verdicts", blocks)


# --- latency ----------------------------------------------------------------------------------

_WHAT = {
    "TTFT": "dispatched → first token",
    "TTR": "dispatched → stream closed (end to end)",
    "queue latency": "client-side wait for a concurrency slot",
    "network overhead": "DNS + TCP + TLS of a new connection; 0 when reused",
    "server prefill": "server-reported prompt evaluation",
    "server decode": "server-reported decode time per token",
    "TTFT outside prefill": "client TTFT − server prefill",
}


def _tpot_what(table: LatencyTable) -> str:
    prov = table.tpot_provenance
    if not prov:
        return ("(last − first token) / (output tokens − 1), one value per attempt; token "
                "provenance: n/a (not recorded in this data)")
    text = ("(last − first token) / (output tokens − 1), one value per attempt; tokens "
            f"counted by: {', '.join(prov)}")
    if "chunk_count" in prov:
        text += " (chunk_count: no token count, so per chunk, not per token)"
    return text


def _percentile_notes(dists: Sequence[Distribution]) -> str | None:
    notes = sorted({note.split(" (n =")[0] for d in dists for note in
                    d.percentile_notes.values()})
    return ("Percentiles shown n/a need more values: " + "; ".join(notes) + ".") if notes \
        else None


def _latency_rows(table: LatencyTable) -> tuple[list[list[str]], list[Distribution]]:
    rows: list[list[str]] = []
    dists: list[Distribution] = []
    for name, unit, d in table.rows():
        what = _tpot_what(table) if name == "TPOT" else _WHAT.get(name, "")
        if name == "ITL":
            what = ("every gap between content chunks, pooled over attempts (a chunk may "
                    "hold several tokens)")
        rows.append([f"{name} ({unit})", *dist_cells(d), what])
        dists.append(d)
    return rows, dists


def _latency(data: BenchmarkData) -> list[Section]:
    a = data.aggregates
    out = [Section("latency", "Latency", [
        Paragraph("TPOT and ITL are different figures: TPOT is one value per attempt, its "
                  "decode time divided by its output tokens; ITL pools every gap between "
                  "streamed chunks. Server rows appear where the server reports its own "
                  "timings (the embedded model)."),
        Chart("latency", "TTFT and TTR distributions")])]
    for key, table in (("latency-all", a.latency_all),
                       ("latency-successful", a.latency_successful)):
        rows, dists = _latency_rows(table)
        blocks: list[Block] = [Table(["metric", *DIST_COLUMNS, "what it measures"], rows)]
        note = _percentile_notes(dists)
        if note:
            blocks.append(Paragraph(note, "note"))
        out.append(Section(key, f"Latency: {table.population}", blocks, level=3))
    return out


def _slo_unit(metric: str) -> str:
    return "ms/token" if metric.startswith("tpot") else ("ms" if metric.endswith("_ms") else "")


def _throughput(t: Throughput | None) -> list[Block]:
    if t is None:
        return [Paragraph("Throughput: n/a (not computed for this data: written before "
                          "AetherFlow computed throughput).")]
    rows = [["output tokens / s (output tokens / makespan)",
             *dist_cells(t.output_tokens_per_s, 2)],
            ["requests / s (attempts / makespan)", *dist_cells(t.requests_per_s, 3)]]
    blocks: list[Block] = [Table(["per run", *DIST_COLUMNS], rows,
                                 caption="Throughput (one value per measured run)")]
    if t.note:
        blocks.append(Paragraph(t.note, "note"))
    return blocks


def _goodput(g: Goodput | None, meta: BenchMeta) -> list[Block]:
    source = ("defaults (not set with --slo)" if meta.slos_default
              else "given with --slo")
    if g is None:
        return [Paragraph("Goodput: n/a (not computed for this data: written before AetherFlow "
                          "computed goodput).")]
    slos = g.slos or meta.slos
    rows = [[metric, f"{limit:g} {_slo_unit(metric)}".strip(),
             fmt_pct(g.per_slo.get(metric)) if g.per_slo.get(metric) is not None
             else "n/a (not measured)"]
            for metric, limit in slos.items()]
    head = (f"Goodput {fmt_pct(g.goodput)}: {g.within:,} of {g.steps:,} steps within every "
            f"SLO (a failed or skipped step never is). SLOs: {source}." if g.goodput is not None
            else f"Goodput: {na(g.note)}. SLOs: {source}.")
    blocks: list[Block] = [Paragraph(head)]
    if rows:
        blocks.append(Table(["SLO metric", "limit", "steps within it"], rows,
                            caption="Service-level objectives"))
    if g.note and g.goodput is not None:
        blocks.append(Paragraph(g.note, "note"))
    return blocks


def _throughput_goodput(data: BenchmarkData) -> Section:
    a = data.aggregates
    return Section("throughput", "Throughput and goodput",
                   [*_throughput(a.throughput), *_goodput(a.goodput, data.meta)])


# --- groups, structure, cost, cache, runs -------------------------------------------------------

_GROUP_HEADER = ["key", "steps", "pass rate (n)", "unvalidated", "first try", "attempts (failed)",
                 "step time p50 ms", "TTFT p50 ms", "TTFT p95 ms", "TTR p50 ms", "TPOT p50 ms",
                 "output tokens", "cost", "passed / failed / skipped"]


def _groups(key: str, title: str, groups: Sequence[GroupStats],
            throughput: bool = False) -> Section:
    """One row per group; ``throughput`` adds output tokens / s (a provider's output tokens
    over the runs' wall time: per task type or per step that would be the rate of nothing)."""
    rows = [[
        g.key, f"{g.steps:,}",
        f"{fmt_pct(g.pass_rate)} ({g.steps_passed + g.steps_failed + g.steps_skipped:,})",
        f"{g.steps_unvalidated:,}", fmt_pct(g.first_try_pass_rate),
        f"{g.attempts:,} ({g.attempts_failed:,})",
        fmt_num(g.step_time_ms.p50), fmt_num(g.latency.ttft_ms.p50),
        fmt_num(g.latency.ttft_ms.p95), fmt_num(g.latency.ttr_ms.p50),
        fmt_num(g.latency.tpot_ms.p50, 2), fmt_tokens(g.tokens_output),
        fmt_usd(g.cost_usd) if g.cost_usd is not None else na(g.cost_note),
        f"{g.steps_passed:,} / {g.steps_failed:,} / {g.steps_skipped:,}",
        *([fmt_num(g.output_tokens_per_s)] if throughput else []),
    ] for g in groups]
    header = [*_GROUP_HEADER, *(["output tokens / s"] if throughput else [])]
    rows, more = _fit_table(rows, [(g.steps_failed + g.steps_skipped,) for g in groups],
                            "groups (those with failed or skipped steps are listed first)")
    blocks: list[Block] = [Paragraph("Latency columns: all attempts."),
                           Table(header, rows) if rows else Paragraph("n/a (no steps)"), *more]
    if throughput and rows:
        blocks.append(Paragraph("output tokens / s: the provider's output tokens over the "
                                "measured runs' wall time (sum of makespans)."
                                + (" n/a where an attempt's output tokens were not measured "
                                   "or no run has a makespan."
                                   if any(g.output_tokens_per_s is None for g in groups)
                                   else ""), "note"))
    return Section(key, title, blocks)


def _structure(data: BenchmarkData) -> Section:
    ps = data.aggregates.plan_structure
    rows = [["makespan (ms)", *dist_cells(ps.makespan_ms)],
            ["critical path (ms)", *dist_cells(ps.critical_path_ms)],
            ["parallel efficiency", *dist_cells(ps.parallel_efficiency, 3)],
            ["compute critical path (ms, server compute times)",
             *dist_cells(ps.compute_critical_path_ms)],
            ["compute parallel efficiency", *dist_cells(ps.compute_parallel_efficiency, 3)]]
    path = " → ".join(ps.critical_path) or "n/a"
    blocks: list[Block] = [
        Table(["figure", *DIST_COLUMNS], rows),
        Paragraph(f"Most frequent critical path: {path}. The critical path chains service "
                  "times (step time minus the wait for a concurrency slot); parallel "
                  "efficiency = critical path / makespan (1.0 = the schedule reached the "
                  "bound). The compute critical path chains the server's own compute times "
                  "where the server reports them: a single-slot server makes steps wait "
                  "inside it, which the service-time path counts as work."),
    ]
    if ps.compute_gap_runs:
        blocks.append(Paragraph(f"In {ps.compute_gap_runs} runs the two critical paths differ "
                                "by more than half: steps waited for each other inside the "
                                "server.", "warning"))
    blocks += [Chart("timeline", "step timeline"),
               Paragraph("Timeline: each step's grey bar runs from ready to finished; inside "
                         "it, orange is waiting for a concurrency slot (queue), blue is the "
                         "request running (dispatched → stream closed; a tick marks the first "
                         "token), purple is the checks running (validation time, drawn right "
                         "after the attempt they checked).", "note")]
    return Section("structure", "Plan structure", blocks)


def _tokens_cost(data: BenchmarkData) -> Section:
    totals = step_totals(data)
    rows = [[t.step_id, fmt_num(t.input_tokens), fmt_num(t.output_tokens),
             fmt_usd(t.cost_usd) if t.cost_usd is not None else "n/a (unpriced attempt)"]
            for t in totals]
    rows, more = _fit_table(rows, [(t.cost_usd is None, t.cost_usd or 0.0,
                                    (t.input_tokens or 0.0) + (t.output_tokens or 0.0))
                                   for t in totals],
                            "steps (unpriced, then the costliest, are listed first)")
    blocks: list[Block] = [
        Table(["step", "input tokens / attempt (mean)", "output tokens / attempt (mean)",
               "cost / run (mean)"], rows) if rows else Paragraph("n/a (no steps)"), *more,
        Chart("tokens_cost", "tokens and cost per step")]
    view = cost_view(data)
    if view.state != "priced":
        blocks.append(Paragraph(f"Cost: {view.text}.", "note"))
    return Section("tokens-cost", "Tokens and cost", blocks)


def _cache(data: BenchmarkData) -> Section:
    c = data.aggregates.cache
    setting = f" (cache setting: {c.cache_setting})" if c.cache_setting else ""
    if c.status == "n/a":
        text = f"Provider prompt cache: {na(c.reason)}{setting}."
    else:
        text = (f"Provider prompt cache{setting}: {c.cache_read_tokens:,} cached input tokens "
                f"of {c.input_tokens if c.input_tokens is not None else 'n/a'}; token hit "
                f"rate {fmt_pct(c.token_hit_rate)}, request hit rate "
                f"{fmt_pct(c.request_hit_rate)}.")
    return Section("cache", "Cache", [Paragraph(text)])


def _sessions(r: RunRecord) -> str:
    n = len(r.sessions)
    if n == 0:
        return "n/a (not recorded)"
    return f"{n} (resumed {n - 1}×)" if n > 1 else "1"


def _server_cell(r: BenchRun) -> str:
    if r.server_reused is None:
        return "n/a (not embedded)"
    if r.server_reused:
        served = "n/a" if r.server_runs_served is None else str(r.server_runs_served)
        return f"reused ({served} runs served so far)"
    startup = f", start-up {r.server_startup_s:.1f} s" if r.server_startup_s is not None else ""
    return f"fresh{startup}"


def _runs(data: BenchmarkData) -> Section:
    rows = [[str(r.index), "warm-up" if r.warmup else "measured", r.record.run_id,
             r.record.status, _sessions(r.record), fmt_num(r.record.makespan_ms),
             fmt_num(r.record.critical_path_ms), fmt_num(r.record.compute_critical_path_ms),
             fmt_num(r.record.parallel_efficiency, 3), _server_cell(r), r.run_dir or "n/a"]
            for r in data.runs]
    header = ["#", "kind", "run id", "status", "sessions", "makespan ms", "critical path ms",
              "compute critical path ms", "parallel efficiency", "embedded server",
              "directory"]
    blocks: list[Block] = [Table(header, rows, status_column=3)]
    resumed = [r.index for r in data.runs if len(r.record.sessions) > 1]
    if resumed:
        blocks.append(Paragraph(f"Resumed runs (interrupted, then continued with --resume): "
                                f"{', '.join(map(str, resumed))}.", "note"))
    if any(r.record.compute_critical_path_ms is None for r in data.runs):
        blocks.append(Paragraph("compute critical path n/a: no server-reported compute times "
                                "(the provider does not report them, or the run was recorded "
                                "before AetherFlow read them).", "note"))
    return Section("runs", "Runs", blocks)


# --- the report -----------------------------------------------------------------------------------

def bench_title(data: BenchmarkData) -> str:
    """``Benchmark: <task> (<label>)``."""
    return f"Benchmark: {data.meta.task_id}" + (f" ({data.meta.label})"
                                                if data.meta.label else "")


def bench_sections(data: BenchmarkData) -> list[Section]:
    """Every section of the benchmark report, in reading order."""
    a = data.aggregates
    return [
        _setup(data), _global(data), _analysis(data), _quality(data), _verdicts(data),
        *_latency(data), _throughput_goodput(data),
        _groups("per-provider", "Per provider", a.per_provider, throughput=True),
        _groups("per-task-type", "Per task type", a.per_task_type),
        _groups("per-step", "Per step", a.per_step),
        _structure(data), _tokens_cost(data), _cache(data), _runs(data),
    ]

