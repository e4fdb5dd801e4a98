"""``benchmark_report.md``: the Markdown view of a :class:`BenchmarkData`.

Deterministic: the same JSON renders the same text (no render-time clock), so a report
re-rendered later from the stored JSON is identical.
"""

from __future__ import annotations

from collections.abc import Sequence

from aetherflow.bench.model import BenchmarkData, GroupStats, LatencyTable
from aetherflow.report.analysis import analyse
from aetherflow.report.charts import CHART_FILES
from aetherflow.report.format import (
    DIST_COLUMNS,
    dist_cells,
    fmt_num,
    fmt_pct,
    fmt_tokens,
    fmt_usd,
    na,
)

__all__ = ["md_table", "render_markdown"]


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _setup(data: BenchmarkData) -> str:
    m = data.meta
    env = m.environment
    rows = [
        ["plan", m.plan], ["task", m.task_id], ["label", m.label or "-"],
        ["provider", m.provider], ["model", m.model or "n/a"],
        ["emulated", "yes (emulator, not a real provider)" if m.emulated else "no"],
        ["repeats", f"{m.repeats} measured + {m.warmup} warm-up (warm-ups excluded from "
                    "statistics, kept in runs/warmup-*)"],
        ["--set overlay", ", ".join(f"{k}={v}" for k, v in m.overlay.items()) or "none"],
        ["provider state between repeats", m.server_mode or "n/a"],
        ["started / finished", f"{m.started_at} / {m.finished_at or 'unfinished'}"],
    ]
    if env is not None:
        pkgs = ", ".join(f"{k} {v}" for k, v in env.packages.items())
        rows.append(["environment", f"{env.platform}, {env.cpu_count} CPUs, Python "
                                    f"{env.python}, aetherflow {env.aetherflow_version}"
                                    f"{', ' + pkgs if pkgs else ''}"])
    return "## Setup\n\n" + md_table(["item", "value"], rows)


def _global(data: BenchmarkData) -> str:
    g = data.aggregates.global_figures
    c = g.cost
    rows = [
        ["plan runs (measured)", str(g.runs)],
        ["plans passed", f"{g.plans_passed} of {g.runs - g.plans_unvalidated} "
                         f"({fmt_pct(g.plan_pass_rate)}); {g.plans_unvalidated} unvalidated"],
        ["steps", f"{g.steps} (passed {g.steps_passed}, failed {g.steps_failed}, skipped "
                  f"{g.steps_skipped}, unvalidated {g.steps_unvalidated})"],
        ["pass rate (executed checks; failed plans kept)",
         f"{fmt_pct(g.pass_rate)} (n = {g.steps_passed + g.steps_failed + g.steps_skipped}; "
         f"{g.steps_unvalidated} unvalidated not counted)"],
        ["first-try pass rate", fmt_pct(g.first_try_pass_rate)],
        ["attempts", f"{g.attempts} ({g.attempts_failed} failed; "
                     f"{fmt_num(g.attempts_per_step, 2)} per step)"],
        ["truncated (stopped at max_tokens)",
         f"{g.truncated_attempts} of {g.answered_attempts} answered attempts "
         f"({fmt_pct(g.truncation_rate)})"],
        ["makespan p50 / mean (ms)", f"{fmt_num(g.makespan_ms.p50)} / "
                                     f"{fmt_num(g.makespan_ms.mean)}"],
        ["cost total", fmt_usd(c.total_usd) if c.total_usd is not None else na(c.note)],
        ["cost per passed step", fmt_usd(c.per_passed_step_usd)
         if c.per_passed_step_usd is not None else na(c.note)],
        ["cost per passed plan", fmt_usd(c.per_passed_plan_usd)
         if c.per_passed_plan_usd is not None else na(c.note)],
        ["cost of failed attempts", fmt_usd(c.failed_attempts_usd)],
        ["cost of repairs", fmt_usd(c.repairs_usd)],
        ["price sources", ", ".join(c.price_sources) or "n/a"],
        ["input tokens", fmt_tokens(g.tokens_input)],
        ["output tokens", fmt_tokens(g.tokens_output)],
    ]
    return "## Global figures\n\n" + md_table(["figure", "value"], rows)


def _latency(table: LatencyTable) -> str:
    rows = [[f"{name} ({unit})", *dist_cells(d)] for name, unit, d in table.rows()]
    return f"### Latency: {table.population}\n\n" + md_table(["metric", *DIST_COLUMNS], rows)


def _groups(title: str, groups: Sequence[GroupStats]) -> str:
    header = ["key", "steps", "pass rate (n)", "unvalidated", "first try", "attempts (failed)",
              "step time p50 ms", "TTFT p50 ms", "TTFT p95 ms", "TTR p50 ms", "TPOT p50 ms",
              "output tokens", "cost"]
    rows = [[
        g.key, str(g.steps),
        f"{fmt_pct(g.pass_rate)} ({g.steps_passed + g.steps_failed + g.steps_skipped})",
        str(g.steps_unvalidated), fmt_pct(g.first_try_pass_rate),
        f"{g.attempts} ({g.attempts_failed})",
        fmt_num(g.step_time_ms.p50), fmt_num(g.latency.ttft_ms.p50),
        fmt_num(g.latency.ttft_ms.p95), fmt_num(g.latency.ttr_ms.p50),
        fmt_num(g.latency.tpot_ms.p50, 2), fmt_tokens(g.tokens_output),
        fmt_usd(g.cost_usd) if g.cost_usd is not None else na(g.cost_note),
    ] for g in groups]
    body = md_table(header, rows) if rows else "n/a (no steps)"
    return f"## {title}\n\nLatency columns: all attempts.\n\n{body}"


def _structure(data: BenchmarkData) -> str:
    ps = data.aggregates.plan_structure
    rows = [["makespan (ms)", *dist_cells(ps.makespan_ms)],
            ["critical path (ms)", *dist_cells(ps.critical_path_ms)],
            ["parallel efficiency", *dist_cells(ps.parallel_efficiency, 3)]]
    path = " → ".join(ps.critical_path) or "n/a"
    return ("## Plan structure\n\n" + md_table(["figure", *DIST_COLUMNS], rows)
            + f"\n\nMost frequent critical path: {path}. Parallel efficiency = critical path"
            f" / makespan (1.0 = the schedule reached the bound).\n\n"
            f"![step timeline]({CHART_FILES['timeline']})")


def _cache(data: BenchmarkData) -> str:
    c = data.aggregates.cache
    setting = f" (cache setting: {c.cache_setting})" if c.cache_setting else ""
    if c.status == "n/a":
        return f"## Cache\n\nProvider prompt cache: {na(c.reason)}{setting}."
    return (f"## Cache\n\nProvider prompt cache{setting}: {c.cache_read_tokens:,} cached input "
            f"tokens of {c.input_tokens if c.input_tokens is not None else 'n/a'}; token hit "
            f"rate {fmt_pct(c.token_hit_rate)}, request hit rate {fmt_pct(c.request_hit_rate)}.")


def _quality(data: BenchmarkData) -> str:
    q = data.aggregates.quality
    if q.status == "n/a":
        return f"## Quality\n\nQuality: {na(q.reason)}."
    n = q.passed + q.failed + q.skipped
    lines = [
        f"Pass rate {fmt_pct(q.pass_rate)} of {n} steps (passed {q.passed}, failed "
        f"{q.failed}, skipped {q.skipped}); {q.unvalidated} unvalidated steps (nothing "
        "executable) are not counted as passes. First-try pass rate "
        f"{fmt_pct(q.first_try_pass_rate)} ({q.first_try_passed} steps passed before any "
        f"repair); {q.repairs} repairs ({fmt_num(q.repairs_per_passed_step, 2)} per passed "
        "step).",
        f"Checks ran in: {', '.join(q.sandboxes) or 'n/a'}. Validation time per step: "
        f"p50 {fmt_num(q.validation_ms.p50)} ms, mean {fmt_num(q.validation_ms.mean)} ms "
        "(apart from generation).",
    ]
    if q.judged_passed or q.judged_failed:
        lines.append(f"LLM judge (opinions on free-text criteria, not in the pass rates): "
                     f"{q.judged_passed} passed, {q.judged_failed} failed.")
    if q.unchecked_criteria:
        lines.append(f"{q.unchecked_criteria} free-text criteria were not checked.")
    rows = [[k.check, str(k.executed), str(k.passed), str(k.failed), str(k.error),
             fmt_pct(k.pass_rate)] for k in q.by_check]
    table = md_table(["check", "verdicts", "passed", "failed", "error", "pass rate"], rows) \
        if rows else "n/a (no check executed)"
    pk = ", ".join(f"pass@{p.k} {fmt_pct(p.value)} ({p.steps} steps)" if p.value is not None
                   else f"pass@{p.k} n/a ({p.note})" for p in q.pass_at_k) or "n/a"
    c = q.code
    code = (f"Code quality of {c.python_files} Python files ({c.lines} lines): ruff findings "
            f"per 100 lines {fmt_num(c.ruff_findings_per_100_lines, 2)}, maintainability "
            f"index mean {fmt_num(c.maintainability_index_mean, 1)}, cyclomatic complexity "
            f"mean {fmt_num(c.cyclomatic_complexity_mean, 2)} (max "
            f"{c.cyclomatic_complexity_max if c.cyclomatic_complexity_max is not None else 'n/a'})"
            if c.steps else f"Code quality: {na(c.note)}")
    return ("## Quality\n\n" + " ".join(lines) + "\n\n### Verdicts per check kind\n\n"
            + table + f"\n\npass@k over repeats (first tries): {pk}.\n\n{code}.")


def _verdicts(data: BenchmarkData) -> str:
    """Every step of every measured run with its status and why."""
    rows = []
    for r in data.runs:
        if r.warmup:
            continue
        for s in r.record.steps:
            failing = [v for v in s.validation if v.status not in ("passed", "unchecked")]
            detail = "; ".join(f"{v.check}: {v.reason or v.status}" for v in failing[:3])
            rows.append([str(r.index), s.step_id, s.status, s.first_try or "n/a",
                         str(s.repairs), "yes" if s.truncated else "no",
                         detail or (s.reason or "")])
    return "## Steps and verdicts\n\n" + (md_table(
        ["run", "step", "status", "first try", "repairs", "truncated", "why"], rows)
        if rows else "n/a (no measured run)")


def _analysis(data: BenchmarkData) -> str:
    items = [f"- **{a.question}** {a.answer}" for a in analyse(data)]
    return "## Analysis\n\n" + "\n".join(items)


def _runs(data: BenchmarkData) -> str:
    rows = [[str(r.index), "warm-up" if r.warmup else "measured", r.record.run_id,
             r.record.status, fmt_num(r.record.makespan_ms), r.run_dir or "n/a"]
            for r in data.runs]
    return "## Runs\n\n" + md_table(["#", "kind", "run id", "status", "makespan ms",
                                     "directory"], rows)


def render_markdown(data: BenchmarkData) -> str:
    """The whole report as Markdown."""
    a = data.aggregates
    title = f"# Benchmark: {data.meta.task_id}" + (f" ({data.meta.label})"
                                                   if data.meta.label else "")
    sections = [
        title, _setup(data), _global(data), _analysis(data),
        "## Latency\n\n" + _latency(a.latency_all) + "\n\n" + _latency(a.latency_successful)
        + f"\n\n![TTFT and TTR distributions]({CHART_FILES['latency']})",
        _groups("Per provider", a.per_provider), _groups("Per task type", a.per_task_type),
        _groups("Per step", a.per_step), _structure(data),
        f"## Tokens and cost\n\n![tokens and cost per step]({CHART_FILES['tokens_cost']})",
        _cache(data), _quality(data), _verdicts(data), _runs(data),
    ]
    return "\n\n".join(sections) + "\n"
