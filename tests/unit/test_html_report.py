"""benchmark_report.html and .md: the same sections, every model field, honest charts, a page
that stands alone. Rendered from realistic data (tests/unit/report_builders.py)."""

from __future__ import annotations

import base64
import gzip
import html
import re
from importlib import resources
from pathlib import Path

import matplotlib.pyplot as plt
import plotly.offline
import pytest
from report_builders import (
    MAX_PAGE_BYTES,
    assert_self_contained,
    local_bench,
    realistic_bench,
    with_new_aggregates,
)
from test_report_model import make_data, make_run, make_step

from aetherflow.report import render_html, render_markdown, write_bench_reports
from aetherflow.report.charts import chart_figures
from aetherflow.report.figures import bench_figures
from aetherflow.report.markdown import md_table
from aetherflow.report.page import PLOTLY_BUNDLE_FILE, PLOTLY_BUNDLE_VERSION, html_table
from aetherflow.report.sections import (
    CHART_FILES,
    TABLE_ROWS,
    Chart,
    Items,
    Paragraph,
    Table,
    bench_sections,
)
from aetherflow.report.series import (
    BOX_LEGEND,
    CHART_ROWS,
    PHASE_LABEL,
    STATUS_ORDER,
    StatusCounts,
    StepLane,
    StepTotals,
    cost_view,
    fit_lanes,
    fit_status_rows,
    fit_totals,
    listed,
    others_note,
    timeline_lanes,
)
from aetherflow.results.bench import BenchmarkData, LatencyTable


@pytest.fixture(scope="module")
def full() -> BenchmarkData:
    """The realistic bench with every aggregate field filled."""
    return with_new_aggregates(realistic_bench())


@pytest.fixture(scope="module")
def full_pages(full: BenchmarkData) -> tuple[str, str]:
    """``(markdown, html)`` of :func:`full`."""
    return render_markdown(full), render_html(full)


def _text(page: str) -> str:
    """The page's text with scripts, styles and tags dropped, entities decoded (what a reader
    sees); Markdown code spans lose their backticks as the HTML sets them in <code>."""
    body = re.sub(r"<(script|style)\b.*?</\1>", "", page, flags=re.DOTALL)
    return html.unescape(re.sub(r"<[^>]+>", "", body))


# --- one set of sections, two views ------------------------------------------------------

def test_markdown_and_html_render_the_same_sections(full: BenchmarkData,
                                                    full_pages: tuple[str, str]) -> None:
    md, page = full_pages
    sections = bench_sections(full)
    assert [s.key for s in sections if s.level == 2] == [
        "setup", "global", "analysis", "quality", "verdicts", "latency", "throughput",
        "per-provider", "per-task-type", "per-step", "structure", "tokens-cost", "cache",
        "runs"]
    for s in sections:
        assert f"\n{'#' * s.level} {s.title}\n" in md
        assert f"<h{s.level} id='{s.key}'>{html.escape(s.title)}</h{s.level}>" in page
        assert f"<a href='#{s.key}'>" in page or s.level == 3  # the table of contents
        for block in s.blocks:
            if isinstance(block, Table):
                assert md_table(block.header, block.rows) in md
                assert html_table(block.header, block.rows, block.status_column) in page
            elif isinstance(block, Paragraph):
                assert block.text in md and block.text.replace("`", "") in _text(page)
            elif isinstance(block, Items):
                for lead, text in block.items:
                    assert f"- **{lead}** {text}" in md
                    assert text.replace("`", "") in _text(page)
            else:
                assert isinstance(block, Chart)
                assert f"]({CHART_FILES[block.key]})" in md
    # every chart place in the Markdown is a chart in the HTML, in the same order
    charts = [b.key for s in sections for b in s.blocks if isinstance(b, Chart)]
    assert charts == ["quality", "latency", "timeline", "tokens_cost"]
    assert_self_contained(page, len(charts))


def test_every_model_field_is_rendered(full_pages: tuple[str, str]) -> None:
    md, page = full_pages
    text = _text(page)
    for needle in (
        # setup: plan, provider, model, machine, versions, emulated, prompt cache, server mode
        "examples/plans/todo_api.json", "gpt-4o-mini", "Linux-6.1-x86_64 (x86_64), 2 CPUs",
        "Python 3.11.2, aetherflow 0.1.0, llama-cpp-python 0.3.16",
        "yes (provider emulator on loopback", "default: provider default (nothing switched)",
        "fresh provider objects and connections per repeat", "concurrency 2, max_tokens 1024",
        # machine load, busy: in the table and as a warning above everything
        "1-minute load average 1.90 at the start, 2.40 at the end, max 2.60, on 2 CPUs; "
        "CPU steal 8.0%; BUSY", "Machine busy while the bench ran",
        # quality: pass rate with n, unvalidated apart, first try, per check, pass@k, code
        "83.3% (12)", "unvalidated (not a success)", "58.3%", "| pytest | 12 | 8 | 4 | 0 |",
        "pass@1", "temperature 0: the repeats are the same draw",
        "ruff findings / 100 lines", "LLM judge (opinions on free-text criteria",
        # steps and verdicts: reasons, sandboxes, skipped, repairs, truncated, refused attempts
        "pytest: timeout after 30 s [sandbox bwrap]",
        "ruff: 3 findings (F821 undefined name) [sandbox process (fallback: bwrap unavailable)]",
        "dependency cli failed", "no executable check (free-text criteria only)",
        "attempt 1: rate_limited", "none executed; judge 1/1; 1 unchecked",
        # latency: TPOT with its token provenance, ITL pooled as its own row
        "| TPOT (ms/token, not ITL) |", "tokens counted by: server",
        "| ITL (ms, gaps between chunks, not TPOT) | 663 |",
        "TPOT and ITL are different figures",
        # throughput and goodput with the SLOs used and where they came from
        "output tokens / s (output tokens / makespan)", "requests / s (attempts / makespan)",
        "Goodput 86.7%: 13 of 15 steps within every SLO", "SLOs: given with --slo",
        "| ttft_ms | 2000 ms | 90.0% |", "| step_time_ms | 10000 ms | n/a (not measured) |",
        # plan structure: both critical paths; cache; runs (resumed marked)
        "critical path (ms)", "compute critical path (ms, server compute times)",
        "Provider prompt cache", "2 (resumed 1×)", "warm-up",
    ):
        assert needle in md, needle
        plain = needle.strip("| ").split(" | ")[0]
        assert plain in text, plain
    assert "<span class='badge s-skipped'>skipped</span>" in page
    assert "<span class='badge s-unvalidated'>unvalidated</span>" in page


def test_fields_not_computed_yet_read_na_never_zero() -> None:
    data = realistic_bench()  # as a bench written before these fields existed reads
    latency = data.aggregates.latency_all.model_copy(update={
        "itl_ms": LatencyTable.model_fields["itl_ms"].get_default(call_default_factory=True),
        "tpot_provenance": []})
    data = data.model_copy(update={"aggregates": data.aggregates.model_copy(update={
        "throughput": None, "goodput": None, "latency_all": latency})})
    md = render_markdown(data)
    assert ("| ITL (ms, gaps between chunks, not TPOT) | 0 | n/a (not in this data "
            "(recorded before AetherFlow pooled ITL)) | n/a |") in md
    assert "tokens: n/a" not in md and "token provenance: n/a (not recorded in this data)" in md
    assert "Throughput: n/a (not computed for this data" in md
    assert "Goodput: n/a (not computed for this data" in md
    assert "| compute critical path (ms, server compute times) | 0 | n/a (" in md
    local = render_markdown(local_bench())
    assert "Machine busy" not in local and "quiet (load per CPU ≤ 0.7, steal ≤ 5%)" in local
    assert "started fresh for run 1 (start-up 2.4 s, outside the makespan); reused" in local
    older = make_data()  # a bench written before the machine load was read
    assert "| machine load | n/a (not recorded" in render_markdown(older)


def test_quality_na_still_shows_the_statuses() -> None:
    data = make_data([make_run("r", [make_step("a", [1.0], "unvalidated")],
                               status="unvalidated")])
    md = render_markdown(data)
    assert "Quality: n/a (" in md and "| 1 | 0 | 0 | 0 | n/a (0) | 1 |" in md
    assert "![step statuses per provider, task type and step](quality.png)" in md


def test_renders_are_deterministic(full: BenchmarkData, full_pages: tuple[str, str]) -> None:
    assert render_markdown(full) == full_pages[0]
    assert render_html(full) == full_pages[1]


# --- a page that stands alone ------------------------------------------------------------

def test_page_is_small_and_inlines_the_vendored_bundle(full_pages: tuple[str, str]) -> None:
    page = full_pages[1]
    assert len(page.encode()) < MAX_PAGE_BYTES
    assert plotly.offline.get_plotlyjs_version() == PLOTLY_BUNDLE_VERSION  # matches plotly.py
    blob = re.search(r"id='plotly-bundle'>([A-Za-z0-9+/=]+)</script>", page)
    assert blob is not None
    assets = resources.files("aetherflow.report").joinpath("assets")
    vendored = assets.joinpath(PLOTLY_BUNDLE_FILE).read_bytes()
    assert gzip.decompress(base64.b64decode(blob.group(1))) == vendored
    assert vendored.startswith(b"/**\n* plotly.js (cartesian - minified) v" +
                               PLOTLY_BUNDLE_VERSION.encode())
    assert "MIT License" in assets.joinpath("plotly-LICENSE.txt").read_text()
    assert "npm pack plotly.js-cartesian-dist-min" in assets.joinpath("README.md").read_text()


def test_untrusted_text_cannot_escape_its_place() -> None:
    evil = "</script><script>alert(1)</script><b>x</b>"
    step = make_step(evil, [100.0])
    data = make_data([make_run("r", [step])])
    page = render_html(data)
    assert evil not in page and "alert(1)</script>" not in page
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in page  # the tables escape it
    # inside the chart JSON "<" and "/" are escaped: it cannot close its <script>
    assert "\\u003c\\u002fscript\\u003e\\u003cscript\\u003ealert(1)" in page


# --- honest charts -------------------------------------------------------------------------

def test_status_chart_stacks_every_status_with_n(full: BenchmarkData) -> None:
    fig = bench_figures(full)["quality"]
    names = [t.name for t in fig.data]
    assert names == ["passed", "failed", "skipped", "unvalidated"] * 3  # three panels
    per_step = {t.name: dict(zip(t.y, t.x, strict=True)) for t in fig.data[8:]}
    assert per_step["skipped"]["patch"] == 1 and per_step["failed"]["cli"] == 1
    assert per_step["unvalidated"]["docs"] == 3 and per_step["passed"]["docs"] == 0
    labels = [a.text for a in fig.layout.annotations]
    assert "pass rate n/a (n = 0); 3 unvalidated, not counted" in labels  # never a success
    assert "pass rate 66.7% (n = 3)" in labels
    png = chart_figures(full)
    try:
        texts = [t.get_text() for ax in png["quality"].axes for t in ax.texts]
        assert "  pass rate n/a (n = 0); 3 unvalidated, not counted" in texts
        assert [p.get_label() for p in png["quality"].axes[0].containers] == [
            "passed", "failed", "skipped", "unvalidated"]
    finally:
        for f in png.values():
            plt.close(f)


def test_box_plots_show_n_and_what_their_marks_mean(full: BenchmarkData) -> None:
    fig = bench_figures(full)["latency"]
    assert {t.name for t in fig.data} == {"local (n=3)", "openai (n=14)", "openai (n=15)"}
    assert all(t.boxpoints == "all" and t.boxmean is True for t in fig.data)
    assert BOX_LEGEND in [a.text for a in fig.layout.annotations]
    assert fig.layout.yaxis.rangemode == "tozero"
    png = chart_figures(full)
    try:
        ax = png["latency"].axes[0]
        assert [t.get_text() for t in ax.get_xticklabels()] == ["local\n(n=3)", "openai\n(n=14)"]
        assert ax.get_ylim()[0] == 0
        legend = [t.get_text() for t in png["latency"].legends[0].get_texts()]
        assert legend == ["p25–p75", "median", "mean", "whiskers: within 1.5 × box",
                          "every attempt"]
    finally:
        for f in png.values():
            plt.close(f)


def test_timeline_separates_waiting_running_and_checks(full: BenchmarkData) -> None:
    run = next(r for r in full.measured_runs() if r.run_id == "run-2")
    lanes, missing = timeline_lanes(run)
    assert missing == ["patch (skipped: dependency cli failed)"]
    docs = next(lane for lane in lanes if lane.step_id == "docs")
    attempt = run.steps[2].attempts[0].timeline_ms
    waiting, running = docs.segments[:2]
    assert (waiting.kind, waiting.start_ms, waiting.end_ms) == (
        "waiting", attempt["queued"], attempt["dispatched"])
    assert (running.kind, running.start_ms, running.end_ms) == (
        "running", attempt["dispatched"], attempt["closed"])
    service = next(lane for lane in lanes if lane.step_id == "service")
    assert [s.kind for s in service.segments] == ["waiting", "running", "checks", "waiting",
                                                  "running", "checks"]
    assert service.segments[2].end_ms - service.segments[2].start_ms == pytest.approx(425.0)
    assert service.label() == "service · passed (1 repair)"
    fig = bench_figures(full)["timeline"]
    assert [t.name for t in fig.data] == [PHASE_LABEL["span"], PHASE_LABEL["waiting"],
                                          PHASE_LABEL["running"], PHASE_LABEL["checks"],
                                          "first token"]


def test_a_local_model_says_no_charge_instead_of_an_empty_chart() -> None:
    data = local_bench()
    assert cost_view(data).state == "no_charge" and cost_view(data).text == (
        "local model: no charge")
    fig = bench_figures(data)["tokens_cost"]
    assert [t.name for t in fig.data] == ["input tokens", "output tokens"]  # no cost bars
    assert "local model: no charge" in [a.text for a in fig.layout.annotations]
    assert fig.layout.xaxis2.visible is False and fig.layout.yaxis2.visible is False
    assert "Cost: local model: no charge." in render_markdown(data)
    png = chart_figures(data)
    try:
        cost_ax = png["tokens_cost"].axes[1]
        assert [t.get_text() for t in cost_ax.texts] == ["local model: no charge"]
        assert not cost_ax.patches and not cost_ax.axison
    finally:
        for f in png.values():
            plt.close(f)


def test_cost_axes_start_at_zero(full: BenchmarkData) -> None:
    fig = bench_figures(full)["tokens_cost"]
    assert fig.layout.yaxis2.rangemode == "tozero" and fig.layout.yaxis.rangemode == "tozero"
    cost = fig.data[-1]
    assert min(cost.y) >= 0 and "no charge" in cost.text  # docs ran on the local model
    png = chart_figures(full)
    try:
        assert png["tokens_cost"].axes[1].get_ylim()[0] == 0
    finally:
        for f in png.values():
            plt.close(f)


def test_unpriced_cost_is_na_not_a_zero_bar() -> None:
    data = make_data([make_run("r", [make_step("a", [100.0], cost=None)])])
    assert cost_view(data).state == "unpriced"
    fig = bench_figures(data)["tokens_cost"]
    assert len(fig.data) == 2  # tokens only
    assert any(a.text.startswith("n/a (") for a in fig.layout.annotations)


def test_every_chart_file_is_written(tmp_path: Path, full: BenchmarkData) -> None:
    files = write_bench_reports(full, tmp_path)
    assert {f.name for f in files} == {"benchmark_report.md", "benchmark_report.html",
                                       *CHART_FILES.values()}
    for name in CHART_FILES.values():
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    md = (tmp_path / "benchmark_report.md").read_text(encoding="utf-8")
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (tmp_path / link).is_file(), link


def test_nothing_measured_says_na_in_every_chart() -> None:
    data = make_data([])
    figs = bench_figures(data)
    for key in ("quality", "latency", "timeline"):
        texts = [a.text for a in figs[key].layout.annotations]
        assert any(t.startswith("n/a") for t in texts), key
    png = chart_figures(data)
    try:
        for key in ("quality", "latency", "timeline"):
            texts = [t.get_text() for ax in png[key].axes for t in ax.texts]
            assert any(t.startswith("n/a") for t in texts), key
    finally:
        for f in png.values():
            plt.close(f)
    page = render_html(data)
    assert_self_contained(page, 4)


def test_output_rate_is_a_provider_column_only(full: BenchmarkData) -> None:
    md = render_markdown(full)
    provider = md[md.index("## Per provider"):md.index("## Per task type")]
    per_type = md[md.index("## Per task type"):md.index("## Per step")]
    header = next(line for line in provider.splitlines() if line.startswith("| key"))
    assert header.endswith("| output tokens / s |")
    assert "the provider's output tokens over the measured runs' wall time" in provider
    assert "output tokens / s" not in per_type


# --- a plan of thousands of steps keeps charts people can read ---------------------------------
def test_fit_helpers_keep_the_worst_rows_and_count_every_step() -> None:
    counts = [StatusCounts(f"s{i}", 1, i % 7 == 0, 0, 1) for i in range(100)]
    rows, rest = fit_status_rows(counts, limit=10)
    assert [c.key for c in rows] == [f"s{i}" for i in range(0, 70, 7)]  # the failures
    assert rest is not None and rest.key == "90 others"
    for status in STATUS_ORDER:  # nothing is lost: the rest is counted
        assert sum(c.count(status) for c in [*rows, rest]) == sum(c.count(status)
                                                                   for c in counts)
    assert others_note(rest) == "90 others not drawn: 90 passed, 5 failed, 90 unvalidated"
    assert fit_status_rows(counts[:10], limit=10) == (counts[:10], None)
    lanes = [StepLane(f"s{i}", "passed", 0.0, float(i % 13)) for i in range(50)]
    kept, hidden = fit_lanes(lanes, limit=5)
    # the longest: 12 ms (s12, s25, s38), then 11 ms (s11, s24; s37 ties but comes later)
    assert hidden == 45 and [lane.step_id for lane in kept] == ["s11", "s12", "s24", "s25",
                                                                  "s38"]
    totals = [StepTotals(f"s{i}", 10.0, float(i), None) for i in range(30)]
    kept_totals, left = fit_totals(totals, limit=3)
    assert left == 27 and [t.step_id for t in kept_totals] == ["s27", "s28", "s29"]
    assert listed(["a", "b", "c"], limit=2) == "a, b and 1 more" and listed(["a"]) == "a"


def test_a_bench_of_thousands_of_steps_draws_charts_of_bounded_size() -> None:
    """1,500 steps: every per-step chart draws at most CHART_ROWS rows (the statuses' own
    annotations included) and says how many it left out; the PNGs stay screen-sized."""
    steps = [make_step(f"s{i:04d}", [100.0 + i], status="failed" if i % 100 == 0 else "passed")
             for i in range(1500)]
    data = make_data([make_run("big", steps, status="failed")])
    figs = bench_figures(data)
    per_step = figs["quality"].data[-4:]
    assert all(len(t.y) == CHART_ROWS for t in per_step)
    shown = list(per_step[0].y)
    assert all(f"s{i:04d}" in shown for i in range(0, 1500, 100))  # every failed step
    others = 1500 - CHART_ROWS
    titles = [a.text for a in figs["quality"].layout.annotations]
    assert f"per step ({others:,} others not drawn: {others:,} passed)" in titles
    assert sum(sum(t.x) for t in per_step) == CHART_ROWS
    assert len(figs["quality"].layout.annotations) <= 3 * CHART_ROWS + 3
    assert len(figs["timeline"].data[0].y) == CHART_ROWS
    assert f"the {CHART_ROWS} longest of 1,500 steps drawn" in figs["timeline"].layout.title.text
    assert len(figs["tokens_cost"].data[0].x) == CHART_ROWS
    png = chart_figures(data)
    try:
        assert all(f.get_size_inches()[1] < 40 for f in png.values())
    finally:
        for f in png.values():
            plt.close(f)
    md = render_markdown(data)
    verdicts = md.split("## Steps and verdicts", 1)[1].split("\n## ", 1)[0]
    assert verdicts.count("| failed |") == 15  # every failed step is listed
    assert f"{1500 - TABLE_ROWS:,} more steps of runs" in verdicts
    assert f"{1500 - TABLE_ROWS:,} more groups" in md and f"{1500 - TABLE_ROWS:,} more steps" in md
    assert md.count("\n| s") < 4 * TABLE_ROWS
