"""Realistic bench data for the report views (HTML, Markdown, PNG) and their tests.

Not a test module: builders shared by ``test_html_report.py`` and the headless-Chromium
tests. :func:`realistic_bench` is an emulated bench of five steps over three measured runs
(and a warm-up) with every step status (passed, failed, skipped, unvalidated), a repair, a
truncated answer, a provider error, a judge verdict, a resumed run and a busy machine;
:func:`local_bench` is a real bench of the embedded $0 local model with server timings.
:func:`with_new_aggregates` fills the aggregate fields computed after v2 (ITL, TPOT
provenance, throughput, goodput, compute critical path) so both states can be rendered.
"""

from __future__ import annotations

import re

from aetherflow.bench.runner import build_benchmark_data
from aetherflow.metrics.stats import Distribution, summarize
from aetherflow.report.page import PLOTLY_BUNDLE_VERSION
from aetherflow.results.bench import (
    BenchmarkData,
    BenchMeta,
    BenchRun,
    Goodput,
    MachineLoad,
    Throughput,
)
from aetherflow.results.run import (
    AttemptRecord,
    CodeQuality,
    CostBreakdown,
    Environment,
    RunConfig,
    RunRecord,
    ServerTiming,
    SessionRecord,
    StepRecord,
    TimingMetrics,
    TokenCount,
    Usage,
    Verdict,
)

#: The size a report must stay under to be mailed (1.5 MB).
MAX_PAGE_BYTES = 1_500_000

__all__ = ["ENV", "assert_self_contained", "local_bench", "realistic_bench",
           "with_new_aggregates"]

ENV = Environment(hostname="bench-host", platform="Linux-6.1-x86_64", machine="x86_64",
                  cpu_count=2, python="3.11.2", aetherflow_version="0.1.0",
                  packages={"llama-cpp-python": "0.3.16", "plotly": "7.1.0"})
LOCAL_SOURCE = "local model: no per-token charge"


def executed(check: str, status: str, *, reason: str | None = None,
             duration: float = 150.0, sandbox: str = "bwrap") -> Verdict:
    """An executed check's verdict."""
    return Verdict(criterion=check, check=check, status=status,  # type: ignore[arg-type]
                   method="executed", reason=reason, duration_ms=duration, sandbox=sandbox,
                   exit_code=None if status == "passed" else 1)


def judged(status: str) -> Verdict:
    """An LLM judge's opinion on a free-text criterion (never in executed pass rates)."""
    return Verdict(criterion="explains the design", check="judge", status=status,  # type: ignore[arg-type]
                   method="judge", reason=None if status == "passed" else "too vague")


def unchecked() -> Verdict:
    """A free-text criterion nothing checked."""
    return Verdict(criterion="is readable", status="unchecked")


def attempt(n: int, provider: str, *, start: float, ttft: float, ttr: float, queue: float = 4.0,
            out_tokens: int | None = 120, cost: float | None = 0.0004, ok: bool = True,
            kind: str = "generation", truncated: bool = False,
            verdicts: list[Verdict] | None = None, emulated: bool = True,
            server: ServerTiming | None = None) -> AttemptRecord:
    """One attempt on the run's clock: queued at ``start``, dispatched ``queue`` ms later."""
    dispatched = start + queue
    first = dispatched + ttft
    closed = dispatched + ttr
    tokens = out_tokens or 0
    gaps = [(ttr - ttft) / max(tokens - 1, 1)] * max(min(tokens, 40) - 1, 0) if ok else []
    local = provider == "local"
    return AttemptRecord(
        attempt=n, provider=provider, model="gpt-4o-mini" if not local else "smollm2-135m",
        emulated=emulated and not local, status="ok" if ok else "error",
        error_kind=None if ok else "rate_limited",
        error_message=None if ok else "429 Too Many Requests (Retry-After 1 s)",
        finish_reason=("length" if truncated else "stop") if ok else None,
        started_at_ms=start,
        timeline_ms={"queued": start, "dispatched": dispatched,
                     "first_token": first if ok else None,
                     "last_token": closed - 1 if ok else None, "closed": closed},
        timing=TimingMetrics(queue_latency_ms=queue, network_overhead_ms=0.0,
                             connection_reused=True, ttft_ms=first - dispatched if ok else None,
                             ttr_ms=ttr, tpot_ms=(ttr - ttft) / (tokens - 1)
                             if ok and tokens > 1 else None, itl_ms=gaps,
                             content_chunks=len(gaps) + 1 if ok else 0),
        usage=Usage(input=TokenCount(value=900 if ok else None,
                                     provenance="server" if ok else None),
                    output=TokenCount(value=out_tokens if ok else None,
                                      provenance="server" if ok else None),
                    cache_read=TokenCount(value=0, provenance="server")),
        cost=CostBreakdown(total_usd=0.0 if local or not ok else cost,
                           price_source=LOCAL_SOURCE if local else "genai-prices 0.0.30",
                           note=None if ok else "never answered: not billed"),
        kind=kind,  # type: ignore[arg-type]
        truncated=truncated, verdicts=verdicts or [],
        server_timing=server or ServerTiming.unknown("not reported by this provider"),
    )


def step(step_id: str, step_type: str, status: str, attempts: list[AttemptRecord], *,
         ready: float, deps: list[str] | None = None, validation: list[Verdict] | None = None,
         reason: str | None = None, first_try: str | None = None, repairs: int = 0,
         truncated: bool = False, quality: CodeQuality | None = None) -> StepRecord:
    """A finished step whose time runs from ``ready`` to its last attempt's checks."""
    last = attempts[-1] if attempts else None
    checks = sum(v.duration_ms or 0.0 for a in attempts for v in a.verdicts)
    end = ready if last is None else (last.timeline_ms["closed"] or ready) + checks + 3.0
    queue = sum(a.timing.queue_latency_ms or 0.0 for a in attempts)
    return StepRecord(
        step_id=step_id, type=step_type, status=status,  # type: ignore[arg-type]
        reason=reason, provider=last.provider if last else None,
        model=last.model if last else None, dependencies=deps or [],
        ready_at_ms=ready if attempts else None, finished_at_ms=end if attempts else None,
        step_time_ms=end - ready if attempts else None,
        service_time_ms=end - ready - queue if attempts else None,
        ttft_ms=last.timing.ttft_ms if last else None, ttr_ms=last.timing.ttr_ms if last else None,
        attempts=attempts, validation=validation or [], first_try=first_try,  # type: ignore[arg-type]
        repairs=repairs, truncated=truncated, validation_ms=checks or None, quality=quality,
        output_file=f"{step_id}.py" if attempts else None)


def _run(index: int, *, cli_fails: bool, rate_limited: bool, scale: float = 1.0) -> RunRecord:
    """One run of the five-step plan; ``cli_fails`` makes step cli fail and patch skip."""
    s = scale
    ok_code = CodeQuality(python_files=1, lines=40, ruff_findings=1,
                          ruff_findings_per_100_lines=2.5, maintainability_index=71.0,
                          cyclomatic_complexity_mean=2.0, cyclomatic_complexity_max=4)
    passing = [executed("python_syntax", "passed", duration=5.0),
               executed("pytest", "passed", duration=310.0)]
    models = step("models", "code_generation", "passed", [
        attempt(1, "openai", start=2.0, ttft=420 * s, ttr=1900 * s, verdicts=passing)],
        ready=0.0, validation=passing, first_try="passed", quality=ok_code)
    t0 = models.finished_at_ms or 0.0
    failing = [executed("python_syntax", "passed", duration=5.0),
               executed("pytest", "failed", reason="exit code 1: 2 of 5 tests failed",
                        duration=420.0)]
    first = attempt(1, "openai", start=t0 + 2, ttft=380 * s, ttr=2300 * s, verdicts=failing)
    t1 = (first.timeline_ms["closed"] or 0.0) + 425.0
    repair = attempt(2, "openai", start=t1, queue=30.0, ttft=500 * s, ttr=1700 * s,
                     kind="repair", verdicts=passing)
    service = step("service", "code_generation", "passed", [first, repair], ready=t0,
                   deps=["models"], validation=passing, first_try="failed", repairs=1,
                   quality=ok_code)
    docs = step("docs", "analysis", "unvalidated", [
        attempt(1, "local", start=t0 + 2, queue=900.0, ttft=650 * s, ttr=4200 * s,
                out_tokens=300, verdicts=[unchecked(), judged("passed")],
                server=ServerTiming(compute_ms=3900 * s, prefill_ms=480 * s,
                                    prefill_tokens=800, decode_ms=3400 * s, decode_runs=299,
                                    decode_ms_per_token=11.4, source="llama.cpp log"))],
        ready=t0, deps=["models"], validation=[unchecked(), judged("passed")],
        first_try="unvalidated", reason="no executable check (free-text criteria only)")
    t2 = service.finished_at_ms or 0.0
    cli_attempts = []
    if rate_limited:
        cli_attempts.append(attempt(1, "openai", start=t2 + 2, ttft=0, ttr=120.0, ok=False))
    start = (cli_attempts[-1].timeline_ms["closed"] or 0.0) + 1000 if cli_attempts else t2 + 2
    if cli_fails:
        bad = [executed("pytest", "failed", reason="timeout after 30 s", duration=1200.0),
               executed("ruff", "failed", reason="3 findings (F821 undefined name)",
                        duration=90.0, sandbox="process (fallback: bwrap unavailable)")]
        cli_attempts.append(attempt(len(cli_attempts) + 1, "openai", start=start, ttft=450 * s,
                                    ttr=6100 * s, out_tokens=1024, truncated=True,
                                    verdicts=bad))
        cli = step("cli", "code_generation", "failed", cli_attempts, ready=t2,
                   deps=["service"], validation=bad, first_try="failed", truncated=True)
        patch = step("patch", "patch", "skipped", [], ready=0.0, deps=["cli"],
                     reason="dependency cli failed")
    else:
        cli_attempts.append(attempt(len(cli_attempts) + 1, "openai", start=start,
                                    ttft=410 * s, ttr=2600 * s, verdicts=passing))
        cli = step("cli", "code_generation", "passed", cli_attempts, ready=t2,
                   deps=["service"], validation=passing, first_try="passed", quality=ok_code)
        t3 = cli.finished_at_ms or 0.0
        contains = [executed("contains", "passed", duration=1.0, sandbox="in-process")]
        patch = step("patch", "patch", "passed", [
            attempt(1, "openai", start=t3 + 2, ttft=300 * s, ttr=900 * s, verdicts=contains)],
            ready=t3, deps=["cli"], validation=contains, first_try="passed")
    steps = [models, service, docs, cli, patch]
    makespan = max(x.finished_at_ms or 0.0 for x in steps) + 5.0
    status = "failed" if cli_fails else "unvalidated"
    sessions = [SessionRecord(session=1, started_at=f"2025-05-0{index}T10:00:00+00:00",
                              end="interrupted" if cli_fails else "finished")]
    if cli_fails:  # this run was interrupted once and resumed
        sessions.append(SessionRecord(session=2, started_at=f"2025-05-0{index}T10:05:00+00:00",
                                      end="finished"))
    critical = (models.service_time_ms or 0) + (service.service_time_ms or 0) + (
        cli.service_time_ms or 0) + (patch.service_time_ms or 0)
    return RunRecord(
        run_id=f"run-{index}", task_id="todo-api", plan_path="examples/plans/todo_api.json",
        status=status, started_at=f"2025-05-0{index}T10:00:00+00:00",  # type: ignore[arg-type]
        finished_at=f"2025-05-0{index}T10:01:00+00:00",
        config=RunConfig(provider="openai", model="gpt-4o-mini", concurrency=2, max_tokens=1024,
                         temperature=0.0, step_timeout_s=120, max_attempts=3, emulated=True,
                         prompt_cache="default", repairs=1, workflow="proto", sandbox="auto",
                         seed=7),
        environment=ENV, steps=steps, makespan_ms=makespan, critical_path_ms=critical,
        critical_path=["models", "service", "cli", "patch"],
        parallel_efficiency=critical / makespan, sessions=sessions,
        warnings=["plan key 'metadata.owner' is not used by AetherFlow"])


def realistic_bench(label: str = "gpt-4o-mini emulated", scale: float = 1.0) -> BenchmarkData:
    """Three measured runs (run 2 failed and was resumed) and a warm-up, emulated."""
    meta = BenchMeta(
        plan="examples/plans/todo_api.json", task_id="todo-api", label=label, repeats=3,
        warmup=1, overlay={"concurrency": "2"}, provider="openai", model="gpt-4o-mini",
        emulated=True, bench_id=12, server_mode="fresh provider objects and connections per "
        "repeat", started_at="2025-05-01T10:00:00+00:00", finished_at="2025-05-01T10:04:00+00:00",
        environment=ENV,
        machine_load=MachineLoad(cpu_count=2, load_start=1.9, load_end=2.4, load_max=2.6,
                                 cpu_steal_share=0.08, busy=True,
                                 warning="load 2.6 on 2 CPUs and 8% CPU steal: timings may be "
                                         "inflated; re-run on a quiet machine"))
    runs = [BenchRun(index=0, warmup=True, run_dir="runs/warmup-0",
                     record=_run(0, cli_fails=False, rate_limited=False, scale=scale)
                     .model_copy(update={"run_id": "warm-0"}))]
    runs += [BenchRun(index=i, run_dir=f"runs/{i}", history_id=100 + i,
                      record=_run(i, cli_fails=i == 2, rate_limited=i == 3,
                                  scale=scale * (1 + 0.07 * i)))
             for i in (1, 2, 3)]
    return build_benchmark_data(meta, runs)


def _local_run(index: int) -> RunRecord:
    scale = 1 + 0.1 * index
    steps = []
    ready = 0.0
    for sid, out in (("parse", 80), ("format", 140)):
        server = ServerTiming(compute_ms=900 * scale, prefill_ms=150 * scale, prefill_tokens=400,
                              decode_ms=750 * scale, decode_runs=out - 1,
                              decode_ms_per_token=750 * scale / (out - 1), source="llama.cpp")
        passing = [executed("python_syntax", "passed", duration=4.0)]
        a = attempt(1, "local", start=ready + 1, ttft=200 * scale, ttr=1000 * scale,
                    out_tokens=out, verdicts=passing, emulated=False, server=server)
        s = step(sid, "code_generation", "passed", [a], ready=ready, validation=passing,
                 first_try="passed", deps=["parse"] if sid == "format" else [])
        steps.append(s)
        ready = s.finished_at_ms or 0.0
    makespan = ready + 2.0
    return RunRecord(
        run_id=f"local-{index}", task_id="formatter", status="passed",
        started_at="2025-05-02T09:00:00+00:00", finished_at="2025-05-02T09:00:03+00:00",
        config=RunConfig(provider="local", model="smollm2-135m", concurrency=1, max_tokens=256,
                         temperature=0.0, step_timeout_s=60, max_attempts=1, prompt_cache="on"),
        environment=ENV, steps=steps, makespan_ms=makespan, critical_path_ms=makespan - 4,
        critical_path=["parse", "format"], parallel_efficiency=(makespan - 4) / makespan,
        compute_critical_path_ms=1800 * scale)


def local_bench() -> BenchmarkData:
    """The embedded local model ($0) over two runs: a fresh server, then a reused one."""
    meta = BenchMeta(plan="examples/plans/formatter.json", task_id="formatter", label="local",
                     repeats=2, warmup=0, provider="local", model="smollm2-135m",
                     server_mode="one embedded llama.cpp server reused across repeats",
                     overlay={"cache": "on"}, started_at="2025-05-02T09:00:00+00:00",
                     finished_at="2025-05-02T09:00:10+00:00", environment=ENV,
                     machine_load=MachineLoad(cpu_count=2, load_start=0.3, load_end=0.5,
                                              load_max=0.6, cpu_steal_share=0.0))
    runs = [BenchRun(index=1, run_dir="runs/1", record=_local_run(1), server_reused=False,
                     server_runs_served=1, server_startup_s=2.4),
            BenchRun(index=2, run_dir="runs/2", record=_local_run(2), server_reused=True,
                     server_runs_served=2)]
    return build_benchmark_data(meta, runs)


def _dist(values: list[float]) -> Distribution:
    return summarize(values)


def with_new_aggregates(data: BenchmarkData) -> BenchmarkData:
    """``data`` with ITL, TPOT provenance, throughput, goodput and compute critical path filled
    the way the aggregation computes them (values taken from the runs)."""
    runs = data.measured_runs()
    attempts = [a for r in runs for s in r.steps for a in s.attempts]
    itl = _dist([g for a in attempts for g in a.timing.itl_ms])
    ok_itl = _dist([g for a in attempts if a.status == "ok" for g in a.timing.itl_ms])
    outs = [sum(a.usage.output.value or 0 for s in r.steps for a in s.attempts)
            / ((r.makespan_ms or 1.0) / 1000) for r in runs]
    reqs = [sum(len(s.attempts) for s in r.steps) / ((r.makespan_ms or 1.0) / 1000)
            for r in runs]
    agg = data.aggregates
    slos = {"ttft_ms": 2000.0, "step_time_ms": 10000.0}
    steps = [s for r in runs for s in r.steps]
    within = [s for s in steps if s.status in ("passed", "unvalidated")
              and (s.ttft_ms or 0) <= 2000 and (s.step_time_ms or 0) <= 10000]
    compute = [r.compute_critical_path_ms for r in runs if r.compute_critical_path_ms]
    update = {
        "latency_all": agg.latency_all.model_copy(update={"itl_ms": itl,
                                                          "tpot_provenance": ["server"]}),
        "latency_successful": agg.latency_successful.model_copy(
            update={"itl_ms": ok_itl, "tpot_provenance": ["server"]}),
        "throughput": Throughput(output_tokens_per_s=_dist(outs), requests_per_s=_dist(reqs)),
        "goodput": Goodput(slos=slos, steps=len(steps), within=len(within),
                           goodput=len(within) / len(steps),
                           per_slo={"ttft_ms": 0.9, "step_time_ms": None}),
        "plan_structure": agg.plan_structure.model_copy(update={
            "compute_critical_path_ms": _dist(compute) if compute
            else agg.plan_structure.compute_critical_path_ms}),
    }
    meta = data.meta.model_copy(update={"slos": slos, "slos_default": False})
    return data.model_copy(update={"aggregates": agg.model_copy(update=update), "meta": meta})


def assert_self_contained(page: str, charts: int) -> None:
    """``page`` is one whole, offline HTML page: plotly.js inlined exactly once, no external
    script, stylesheet, font or URL, under :data:`MAX_PAGE_BYTES`, and ``charts`` charts
    ``chart-0`` ... each drawn by one ``Plotly.newPlot`` call."""
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert len(page.encode("utf-8")) < MAX_PAGE_BYTES
    assert page.count("id='plotly-bundle'") == 1  # the bundle, inlined once
    assert page.count(f"plotly.js v{PLOTLY_BUNDLE_VERSION} (cartesian bundle") == 1
    assert page.count("window.PlotlyConfig") == 1
    assert not re.search(r"<script[^>]*\bsrc\s*=", page)  # no CDN, no external script
    assert not re.search(r"<link[^>]*\bhref\s*=\s*['\"](?!data:)", page)  # no stylesheet
    assert "@import" not in page and "@font-face" not in page  # no web font
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", page, re.IGNORECASE), \
        "the page names an external URL"
    assert page.count("class='chart'") == charts
    assert page.count("Plotly.newPlot(") == charts
    for i in range(charts):
        assert page.count(f"id='chart-{i}'") == 1
    assert f"id='chart-{charts}'" not in page
