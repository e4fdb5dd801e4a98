"""A run recorded as running whose process is gone is listed as crashed."""

from __future__ import annotations

from pathlib import Path

from test_report_model import make_run, make_step

from aetherflow.execution.rundir import RunDirectory
from aetherflow.store.history import HistoryStore
from aetherflow.store.liveness import effective_status, run_is_live


def test_a_held_lock_is_live_and_a_free_one_is_not(tmp_path: Path) -> None:
    run_dir = RunDirectory(tmp_path / "run")
    run_dir.check_writable()
    assert not run_is_live(run_dir.path)
    run_dir.lock()
    assert run_is_live(run_dir.path) and effective_status("running", run_dir.path) == "running"
    run_dir.close()
    assert not run_is_live(run_dir.path)
    assert effective_status("running", run_dir.path) == "crashed"
    assert effective_status("running", tmp_path / "gone") == "crashed"
    assert effective_status("passed", tmp_path / "gone") == "passed"


def test_history_lists_a_dead_running_run_as_crashed(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    record = make_run("r-crash", [make_step("a", [1.0])], status="running")
    with HistoryStore(tmp_path / "h.db") as store:
        store.save_run(record, run_dir)
        [summary] = store.list_runs()
        assert summary.status == "crashed"
        assert store.get_run(summary.id).status == "crashed"
