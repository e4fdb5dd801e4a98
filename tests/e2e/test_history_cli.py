"""``aetherflow history`` as a user runs it (subprocesses): the listing at 80 columns and
wider, filters, JSON, ``history show``, ambiguous and corrupt references, and two
``aetherflow bench`` commands writing one history at once against the provider emulator."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from aetherflow.cli.history import (
    choose_columns,
    fenced,
    fmt_cost,
    fmt_duration,
    prompt_text,
)
from aetherflow.emulator import run_emulator_in_subprocess
from aetherflow.results.run import (
    AttemptRecord,
    CostBreakdown,
    Environment,
    RunConfig,
    RunRecord,
    StepRecord,
    TokenCount,
    Usage,
    Verdict,
)
from aetherflow.store import HistoryStore

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plans"


def _cli(*args: str, columns: int = 80, env: dict[str, str] | None = None,
         timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "COLUMNS": str(columns), **(env or {})}
    return subprocess.run([sys.executable, "-m", "aetherflow", *args], capture_output=True,
                          text=True, timeout=timeout, env=full)


def _attempt(cost: float | None) -> AttemptRecord:
    return AttemptRecord(
        attempt=1, provider="openai", model="gpt-4o-mini", emulated=True, status="ok",
        started_at_ms=0.0,
        usage=Usage(input=TokenCount(value=1234, provenance="server"),
                    output=TokenCount(value=56, provenance="server")),
        cost=CostBreakdown(total_usd=cost, price_source="test"))


def _record(run_id: str, started_at: str, status: str = "passed",
            steps: tuple[str, ...] = ("passed", "failed", "unvalidated", "skipped"),
            cost: float | None = 0.000123) -> RunRecord:
    verdicts = [
        Verdict(criterion="python_syntax", check="python_syntax", status="passed",
                method="executed", sandbox="bwrap", duration_ms=25.0),
        Verdict(criterion="pytest: the provided tests must pass", check="pytest",
                status="failed", method="executed", reason="exit code 1", sandbox="bwrap",
                output_tail="E   assert add(2, 2) == 5"),
    ]
    return RunRecord(
        run_id=run_id, task_id="calculator", plan_path="examples/plans/calculator.json",
        plan_description="A tiny calculator", status=status,  # type: ignore[arg-type]
        started_at=started_at, finished_at=started_at, makespan_ms=12_345.0,
        config=RunConfig(provider="openai", model="gpt-4o-mini", concurrency=2,
                         max_tokens=512, temperature=0.0, step_timeout_s=30.0,
                         max_attempts=2, emulated=True),
        environment=Environment(hostname="h", platform="linux", machine="x86_64",
                                cpu_count=2, python="3.11", aetherflow_version="0.1.0"),
        steps=[StepRecord(step_id=f"s{i}", type="code_generation",
                          status=s,  # type: ignore[arg-type]
                          provider="openai", model="gpt-4o-mini",
                          attempts=[] if s == "skipped" else [_attempt(cost)],
                          output_file=None if s == "skipped" else f"step_outputs/s{i}.md",
                          validation=verdicts if s in ("passed", "failed") else [],
                          reason="dependency failed" if s == "skipped" else None)
               for i, s in enumerate(steps, start=1)],
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A history like the issue's (see :func:`populate`) in this test's AETHERFLOW_HOME."""
    populate(tmp_path)
    return Path(os.environ["AETHERFLOW_HOME"])


def populate(tmp_path: Path) -> None:
    """Four benches whose runs are all named 1, 2, 3 (10 runs), plus an interrupted run
    with a run directory holding prompts and outputs."""
    with HistoryStore() as store:
        for b, (label, repeats) in enumerate([("short", 3), ("long", 3), ("short", 2),
                                              ("a-rather-long-label-for-a-bench", 2)]):
            out = tmp_path / f"bench_results/20261204-2015{b:02d}-calculator"
            bench = store.create_bench("calculator", label, "examples/plans/calculator.json",
                                       repeats, output_dir=out)
            for i in range(1, repeats + 1):
                store.save_run(_record(str(i), f"2026-01-0{b + 1}T10:00:0{i}+00:00",
                                       cost=1234.5 if b == 1 else 0.000123),
                               out / "runs" / str(i), label=label, bench_id=bench)
        run_dir = tmp_path / "runs" / "20260105-120000-calculator"
        (run_dir / "step_outputs").mkdir(parents=True)
        (run_dir / "prompts").mkdir()
        (run_dir / "step_outputs" / "s1.md").write_text("```python\ndef add(a, b):\n"
                                                         "    return a + b\n```\n")
        (run_dir / "prompts" / "s1.json").write_text(json.dumps({"messages": [
            {"role": "system", "content": "You are a senior software engineer."},
            {"role": "user", "content": "Write add(a, b)."}]}))
        store.save_run(_record("20260105-120000-calculator-3f9a1c2e",
                               "2026-01-05T12:00:00+00:00", status="interrupted", cost=None),
                       run_dir, label="manual")


def _listing(columns: int, *args: str) -> tuple[list[dict[str, object]], str]:
    listed = _cli("history", "--json", *args)
    assert listed.returncode == 0, listed.stderr
    shown = _cli("history", *args, columns=columns)
    assert shown.returncode == 0, shown.stderr
    return json.loads(listed.stdout), shown.stdout


@pytest.mark.parametrize("columns", [80, 100, 200])
def test_listing_fits_the_terminal_and_never_cuts_a_number(home: Path, columns: int) -> None:
    runs, text = _listing(columns)
    assert len(runs) == 11  # nothing was overwritten
    lines = text.splitlines()
    assert all(len(line) <= columns for line in lines), text
    header = next(i for i, line in enumerate(lines) if line.startswith("id "))
    for run in runs:
        rows = [line for line in lines[header + 1:] if re.match(rf"\s*{run['id']}\s", line)]
        assert len(rows) == 1, (run["id"], rows)
        row = rows[0]
        cells = set(row.split())
        short = str(run["run_id"]).rsplit("-", 1)[-1] if "-" in str(run["run_id"]) else \
            str(run["run_id"])
        assert short in cells or run["run_id"] in cells, row
        assert run["status"] in cells
        assert (f"{run['steps_passed']}/{run['steps_failed']}/{run['steps_unvalidated']}/"
                f"{run['steps_skipped']}") in cells
        cost = run["total_cost_usd"]
        assert cost is None or isinstance(cost, float)
        assert ("n/a" if cost is None else "$3,704" if cost > 1000 else "$0.00037") in cells
        texts = (run["label"], run["task_id"], f"{run['provider']}/{run['model']}",
                 run["run_dir"])  # the only cells that may be shortened, with "…"
        for cut in (c for c in cells if "…" in c):
            assert any(cut.strip("…") in str(t) for t in texts), (cut, row)
    if columns >= 100:
        assert "provider/model" in text or "openai/gpt-4o-mini" in text
    if columns >= 200:
        assert "20260105-120000-calculator-3f9a1c2e" in text and "run dir" in text


def test_listing_filters_and_titles(home: Path) -> None:
    def listed(*args: str) -> list[dict[str, object]]:
        proc = _cli("history", "--json", *args)
        assert proc.returncode == 0, proc.stderr
        return list(json.loads(proc.stdout))

    assert [r["status"] for r in listed("--status", "interrupted")] == ["interrupted"]
    assert len(listed("--label", "short", "--status", "passed,failed")) == 5
    assert len(listed("--plan", "calculator", "--since", "2026-01-04", "--limit", "0")) == 3
    limited = _cli("history", "--limit", "2").stdout
    assert "2 of 11 stored runs" in limited and "--limit 0" in limited
    bad = _cli("history", "--status", "succeeded")
    assert bad.returncode == 2 and "expected one of running, passed" in bad.stderr
    benches = _cli("history", "benches", "--json")
    assert [b["run_count"] for b in json.loads(benches.stdout)] == [2, 2, 3, 3]
    table = _cli("history", "benches")
    assert all(len(line) <= 80 for line in table.stdout.splitlines()), table.stdout


def test_show_renders_setup_prompt_output_and_verdicts(home: Path) -> None:
    shown = _cli("history", "show", "3f9a1c2e")
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert out.startswith("# run 11 · 20260105-120000-calculator-3f9a1c2e")
    for text in ("status **interrupted**", "plan: calculator (examples/plans/calculator.json)",
                 "provider openai · model gpt-4o-mini · emulated", "max_tokens 512",
                 "cost n/a (4 of 4 attempts unpriced)" if False else "cost n/a",
                 "steps: 1 passed · 1 failed · 1 unvalidated · 1 skipped",
                 "## s1 · code_generation · passed", "**system**",
                 "You are a senior software engineer.", "**user**", "Write add(a, b).",
                 "def add(a, b):", "- **passed** · python_syntax (executed, sandbox bwrap, 25 ms)",
                 "- **failed** · pytest: the provided tests must pass (executed, sandbox bwrap)"
                 " — exit code 1", "E   assert add(2, 2) == 5",
                 "## s2 · code_generation · failed", "_(prompt not recorded for this run)_",
                 "tokens in 1,234 / out 56", "_(no output: dependency failed)_"):
        assert text in out, text
    as_json = _cli("history", "show", "run:11", "--json")
    assert as_json.returncode == 0, as_json.stderr
    record = RunRecord.model_validate_json(as_json.stdout)
    assert record.run_id == "20260105-120000-calculator-3f9a1c2e" and len(record.steps) == 4
    legacy = _cli("history", "show", "4")  # a number is the history id, never run_id "4"
    assert legacy.returncode == 0 and legacy.stdout.startswith("# run 4 · 1~2")
    assert "_(the run directory " in legacy.stdout  # its directory no longer exists


def test_ambiguous_and_unknown_references_are_exit_2(home: Path) -> None:
    ambiguous = _cli("history", "show", "short")
    assert ambiguous.returncode == 2 and "Traceback" not in ambiguous.stderr
    lines = ambiguous.stderr.splitlines()
    assert lines[0].startswith("error: 'short' is ambiguous: it names 5 runs")
    assert len(lines) == 6
    assert all(re.match(r"  run:\d+ \(\S+\)  label 'short'  plan calculator .* started "
                        r"2026-01-0\dT.* dir /", line) for line in lines[1:]), lines
    missing = _cli("history", "show", "nope")
    assert missing.returncode == 2 and "no stored run matches 'nope'" in missing.stderr


def test_show_picks_steps_by_id_or_status(home: Path) -> None:
    """--step and --status keep a long run's page to the steps wanted; an unknown id or
    status is one clear error (exit 2) naming what exists."""
    failed = _cli("history", "show", "run:11", "--status", "failed,skipped")
    assert failed.returncode == 0, failed.stderr
    assert "showing 2 of 4 steps" in failed.stdout
    assert "## s2 · code_generation · failed" in failed.stdout
    assert "## s1 · " not in failed.stdout
    one = _cli("history", "show", "run:11", "--step", "s1")
    assert one.returncode == 0 and "showing 1 of 4 steps" in one.stdout
    assert "## s1 · code_generation · passed" in one.stdout and "## s2" not in one.stdout
    bad = _cli("history", "show", "run:11", "--step", "s9")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "--step s9: no such step in run" in bad.stderr and "s1, s2" in bad.stderr
    wrong = _cli("history", "show", "run:11", "--status", "green")
    assert wrong.returncode == 2 and "--status green: expected one of passed" in wrong.stderr


def test_a_corrupt_record_is_one_clear_error(home: Path) -> None:
    with closing(sqlite3.connect(home / "history.db")) as db, db:
        db.execute("UPDATE runs SET record_json = '{\"run_id\": 3' WHERE id = 3")
    shown = _cli("history", "show", "3")
    assert shown.returncode == 2 and "Traceback" not in shown.stderr
    assert "stored run 3 (run_id '3') is corrupt" in shown.stderr
    assert str(home / "history.db") in shown.stderr and "not found" not in shown.stderr
    assert len(shown.stderr.strip().splitlines()) == 1
    assert _cli("history").returncode == 0  # the listing still works


def test_two_benches_at_once_into_one_history(tmp_path: Path) -> None:
    """Two ``aetherflow bench`` processes against the emulator, same AETHERFLOW_HOME, runs
    named 1, 2, 3 by both: every run of both benches is in ``aetherflow history``."""
    plan = EXAMPLES / "calculator.json"
    with run_emulator_in_subprocess() as emu:
        env = {**os.environ, "OPENAI_API_KEY": "sk-test-fake",
               "OPENAI_BASE_URL": emu.base_url("openai")}
        procs = [subprocess.Popen(
            [sys.executable, "-m", "aetherflow", "bench", str(plan), "--provider", "openai",
             "--repeat", "3", "--label", label, "--output", str(tmp_path / label), "--quiet"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            for label in ("left", "right")]
        for proc in procs:
            _, err = proc.communicate(timeout=240)
            assert proc.returncode == 0, err
    runs, text = _listing(80, "--limit", "0")
    assert len(runs) == 6 == len({r["run_id"] for r in runs})
    dirs = {str(r["run_dir"]) for r in runs}
    assert dirs == {str(tmp_path / label / "runs" / str(i))
                    for label in ("left", "right") for i in (1, 2, 3)}
    for label in ("left", "right"):
        assert len([r for r in runs if r["label"] == label]) == 3
        assert f" {label} " in text
    benches = json.loads(_cli("history", "benches", "--json").stdout)
    assert sorted((b["label"], b["run_count"]) for b in benches) == [("left", 3), ("right", 3)]
    imported = _cli("history", "import", str(tmp_path / "left"), str(tmp_path / "right"))
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.count("3 runs: 0 added, 3 already stored") == 2  # no duplicates
    compared = _cli("compare", "left", "right", "-o", str(tmp_path / "cmp"))
    assert compared.returncode == 0, compared.stderr
    data = json.loads((tmp_path / "cmp" / "comparison_data.json").read_text())
    assert (data["a"]["runs"], data["b"]["runs"]) == (3, 3)


def test_numbers_are_formatted_for_people() -> None:
    assert [fmt_cost(c) for c in (None, 0, 1e-7, 0.000123, 0.00099999, 0.0099, 0.5, 1234.5)] \
        == ["n/a", "$0", "<$0.000001", "$0.00012", "$0.0010", "$0.0099", "$0.50", "$1,234"]
    assert [fmt_duration(ms) for ms in (None, 850.4, 12_345.0, 245_000.0)] == [
        "n/a", "850 ms", "12.3 s", "4 min 05 s"]


def test_prompts_of_every_shape_are_readable() -> None:
    chat = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    expected = "**system**\n\n```\nS\n```\n\n**user**\n\n```\nU\n```"
    assert prompt_text({"messages": chat}) == prompt_text(chat) == expected
    assert prompt_text("plain") == "```\nplain\n```"
    assert prompt_text({"system": "S"}) == "**system**\n\n```\nS\n```"
    assert prompt_text({"n": 1}).startswith("```json")
    # a model's unterminated fence stays inside: the outer fence is longer
    assert fenced("```python\ndef") == "````\n```python\ndef\n````"


def test_a_very_narrow_terminal_still_shows_the_id(home: Path) -> None:
    with HistoryStore() as store:
        runs = store.list_runs()
    for width in (4, 10, 40):
        layout = choose_columns(runs, width)
        assert layout[0][0].key == "id"
        assert sum(w for _, w in layout) + 2 * (len(layout) - 1) <= width
    assert [c.key for c, _ in choose_columns(runs, 40)][:3] == ["id", "run", "status"]
