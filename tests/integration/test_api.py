"""The Python API does what the commands do: runs and benches saved to the history, reports
written, comparisons with gates; settings as options or keywords, never both."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import aetherflow as api
from aetherflow.bench import Variant
from aetherflow.emulator import run_emulator_in_subprocess
from aetherflow.errors import ConfigError
from aetherflow.execution import RunOptions
from aetherflow.store.history import HistoryStore


def _plan(tmp_path: Path) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"task_id": "api", "steps": [
        {"id": "a", "description": "Write add.", "validation_criteria": [
            {"check": "contains", "text": "def add("}]},
        {"id": "b", "description": "Write docs.", "dependencies": ["a"]}]}))
    return path


def test_run_bench_compare_like_the_commands(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    plan = _plan(tmp_path)
    with run_emulator_in_subprocess() as emu:
        run = api.run_plan(plan, provider="openai", emulator_url=emu.url)
        # a passes (the filler holds "def add("), b has nothing to check: unvalidated
        assert [s.status for s in run.record.steps] == ["passed", "unvalidated"]
        assert run.record.status == "unvalidated" and run.ok
        assert run.run_dir.is_dir() and run.history_id is not None
        first = api.run_bench(plan, repeats=2, label="api-a", provider="openai",
                              emulator_url=emu.url)
        second = api.run_bench(plan, RunOptions(provider="openai", emulator_url=emu.url),
                               repeats=2, label="api-b", overlay={"max_tokens": "16"})
    assert (first.directory / "benchmark_data.json").is_file()
    assert {p.name for p in first.files} >= {"benchmark_report.md", "benchmark_report.html"}
    assert first.data.aggregates.global_figures.runs == 2
    with HistoryStore() as store:
        assert len(store.list_runs(limit=None)) == 5  # the run and both benches' runs
    cmp = api.compare(first.directory, second.directory, fail_if=["output_tokens_mean<-1%"],
                      mode="point")
    assert cmp.triggered and cmp.directory is not None
    assert (cmp.directory / "comparison_report.md").is_file()
    assert cmp.data.fail_if_mode == "point"


def test_settings_given_both_ways_or_unknown_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="both in options and as keywords"):
        api.run_plan(_plan(tmp_path), RunOptions(concurrency=4), concurrency=2)
    with pytest.raises(ConfigError, match="unknown setting"):
        api.run_plan(_plan(tmp_path), colour="red")
    with pytest.raises(ConfigError, match="give a plan"):
        api.run_plan()


def test_run_suite_writes_its_result_and_resumes(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    plan = _plan(tmp_path)
    variants = [Variant(name="short", set={"max_tokens": 8}),
                Variant(name="long", set={"max_tokens": 32})]
    with run_emulator_in_subprocess() as emu:
        suite = api.run_suite([plan], variants, repeats=2, output=tmp_path / "s",
                              provider="openai", emulator_url=emu.url)
        again = api.run_suite(resume=tmp_path / "s")  # everything finished: reused
    assert [b.variant for b in suite.data.benches] == ["short", "long"]
    assert {f.name for f in suite.files} == {"suite_data.json", "comparison_report.md",
                                             "comparison_report.html"}
    out = suite.data.comparisons[0].comparison.row("output_tokens_mean")
    assert out is not None and out.estimate.b_value is not None \
        and out.estimate.a_value is not None and out.estimate.b_value > out.estimate.a_value
    assert again.data == suite.data
    assert api.load_result(tmp_path / "s") == suite.data
    with pytest.raises(ConfigError, match="give no plans"):
        api.run_suite([plan], resume=tmp_path / "s")
