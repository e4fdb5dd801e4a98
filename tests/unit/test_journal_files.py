"""The journal (torn lines, folding, rebuilding), step file views and collisions, verdict
classification and the backoff."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from aetherflow.errors import ProviderError, ProviderHTTPError
from aetherflow.execution.executor import ExecutionSettings, backoff_delay, classify_verdicts
from aetherflow.execution.files import StepFiles
from aetherflow.execution.journal import JournalWriter, load_state, read_journal, rebuild_record
from aetherflow.results.run import Verdict


def _verdict(status: str, method: str = "executed", check: str = "pytest") -> Verdict:
    return Verdict(criterion=check, check=check, status=status, method=method)  # type: ignore[arg-type]


def test_a_torn_last_line_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    writer = JournalWriter(path)
    writer.append({"e": "session", "session": 1, "started_at": "x"})
    writer.append({"e": "warning", "session": 1, "text": "w"})
    writer.close()
    with path.open("ab") as f:
        f.write(b'{"e": "attempt", "sess')  # a crash mid-write
    assert [e["e"] for e in read_journal(path)] == ["session", "warning"]


def test_a_garbage_line_in_the_middle_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text('{"e": "session", "session": 1, "started_at": "x"}\nnot json\n'
                    '{"e": "warning", "session": 1, "text": "w"}\n')
    assert [e["e"] for e in read_journal(path)] == ["session", "warning"]


def test_writer_appends_one_line_per_event_and_reports_a_dead_disk(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    writer = JournalWriter(path)
    for i in range(100):
        writer.append({"e": "text", "session": 1, "step": "a", "attempt": 1, "text": str(i)})
    writer.sync()
    assert writer.lines == 100 and len(path.read_text().splitlines()) == 100
    writer.close()
    writer.close()  # idempotent


def _header() -> dict[str, object]:
    env = {"hostname": "h", "platform": "p", "machine": "m", "cpu_count": 2, "python": "3",
           "aetherflow_version": "0"}
    config = {"provider": "p", "concurrency": 1, "max_tokens": 1, "temperature": 0,
              "step_timeout_s": 1, "max_attempts": 1}
    return {"run_id": "r", "task_id": "t", "started_at": "2026-01-01T00:00:00+00:00",
            "config": config, "environment": env}


def test_state_folds_attempts_partials_and_steps(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    attempt = {"attempt": 1, "provider": "p", "model": "m", "status": "ok",
               "started_at_ms": 0.0}
    step = {"step_id": "a", "type": "code_generation", "status": "passed"}
    events = [
        {"e": "session", "session": 1, "started_at": "t0", "pid": 1, "header": _header(),
         "options": {"concurrency": 1}},
        {"e": "text", "session": 1, "step": "a", "attempt": 1, "text": "par"},
        {"e": "attempt", "session": 1, "step": "a", "record": attempt, "text": "partial"},
        {"e": "step", "session": 1, "step": "a", "record": step, "files": {"x.py": "1"},
         "output": "partial"},
        {"e": "text", "session": 1, "step": "b", "attempt": 1, "text": "in "},
        {"e": "text", "session": 1, "step": "b", "attempt": 1, "text": "flight"},
    ]
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    state = load_state(path)
    assert state.options == {"concurrency": 1}
    assert state.finished_steps == ["a"]
    assert state.steps["a"].files == {"x.py": "1"} and state.steps["a"].partial == {}
    assert state.steps["b"].partial == {1: "in flight"} and state.steps["b"].record is None
    record = rebuild_record(state, ["a", "b"])
    assert [s.step_id for s in record.steps] == ["a"]
    assert len(record.steps[0].attempts) == 1 and record.sessions[0].end == "running"


def test_a_view_holds_ancestors_in_finish_order_never_siblings() -> None:
    files = StepFiles({"a": [], "b": ["a"], "c": [], "d": ["b", "c"]})
    files.record("a", {"m.py": "a1", "only_a.py": "x"})
    files.record("c", {"c.py": "c"})
    files.record("b", {"m.py": "b1"})
    assert files.view("b", {"b.py": "own"}) == {"m.py": "a1", "only_a.py": "x",
                                                 "b.py": "own"}
    assert files.view("d") == {"m.py": "b1", "only_a.py": "x", "c.py": "c"}
    assert files.ancestors("d") == {"a", "b", "c"}


def test_collisions_only_between_writers_no_dependency_orders() -> None:
    files = StepFiles({"a": [], "b": [], "c": ["b"]})
    assert files.record("a", {"x.py": "a"}) == []
    clash = files.record("b", {"x.py": "b"})
    assert [(c.path, c.overwritten_step, c.by_step) for c in clash] == [("x.py", "a", "b")]
    assert files.record("c", {"x.py": "c"}) == []  # a refactoring chain rewrites it


@pytest.mark.parametrize(("verdicts", "expected"), [
    ([], ("unvalidated", None)),
    ([_verdict("unchecked", "none")], ("unvalidated", None)),
    ([_verdict("passed", "judge")], ("unvalidated", None)),  # a judge never decides
    ([_verdict("passed"), _verdict("unchecked", "none")], ("passed", None)),
    ([_verdict("passed"), _verdict("failed", check="ruff")], ("failed", "checks failed: ruff")),
    ([_verdict("error", check="pytest")], ("failed", "checks failed: pytest")),
])
def test_classify_verdicts(verdicts: list[Verdict], expected: tuple[str, str | None]) -> None:
    assert classify_verdicts(verdicts) == expected


def test_backoff_is_full_jitter_and_honours_retry_after_up_to_the_cap() -> None:
    settings = ExecutionSettings(backoff_base_s=0.5, backoff_cap_s=30.0)
    rng = random.Random(1)
    err = ProviderError("x", transient=True)
    delays = [backoff_delay(3, err, settings, rng) for _ in range(2000)]
    assert min(delays) < 0.1 and max(delays) <= 2.0  # uniform on [0, 0.5 * 2**2]
    assert 0.9 < sum(delays) / len(delays) < 1.1
    late = [backoff_delay(20, err, settings, rng) for _ in range(200)]
    assert max(late) <= 30.0
    limited = ProviderHTTPError("429", status=429, retry_after_s=90)
    assert backoff_delay(1, limited, settings, rng) == 30.0
    polite = ProviderHTTPError("429", status=429, retry_after_s=2)
    assert backoff_delay(1, polite, settings, rng) == 2.0


def test_judge_replies_parse_strictly() -> None:
    from aetherflow.validation.judge import parse_judge_reply

    ok = parse_judge_reply(["a", "b"], '[{"criterion": 2, "verdict": "FAIL", "reason": "x"},'
                           ' {"criterion": 1, "verdict": "pass"}]', "j")
    assert [(v.status, v.method) for v in ok] == [("passed", "judge"), ("failed", "judge")]
    missing = parse_judge_reply(["a", "b"], '[{"criterion": 1, "verdict": "pass"}]', "j")
    assert missing[1].status == "error" and "no verdict" in (missing[1].reason or "")
    prose = parse_judge_reply(["a"], "Looks good to me, it passes!", "j")
    assert prose[0].status == "error"  # words are never a verdict
