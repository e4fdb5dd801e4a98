"""The run journal: an append-only JSON-lines file, the crash-safe record of a run.

Every event is one line written with a single ``write`` on a file opened ``O_APPEND``, so a
process killed at any moment leaves whole lines plus at most one torn last line, which
:func:`read_journal` ignores. Durability against power loss is a *group commit*: a
background thread ``fsync``s the file shortly after writes (at most every
``fsync_interval_s``), never once per line, so thousands of attempts a second stay cheap.
A process killed with SIGKILL loses nothing it wrote (the page cache survives the process).

Events (``"e"`` names the kind; every event carries ``"session"``):

* ``session``: a process started (or resumed) the run: pid, options, plan hash, the run
  header (the first session only);
* ``prompt``: the messages of a step's first request;
* ``text``: a batch of streamed text of an attempt still in flight (bounded batches);
* ``attempt``: an attempt ended: its full :class:`AttemptRecord` and its text;
* ``step``: a step ended: its :class:`StepRecord` without attempts (they are in the
  ``attempt`` events), the files it wrote, its final output text;
* ``end``: the session ended (finished or interrupted), with its makespan.

``run.json`` is rebuilt from these events (:func:`rebuild_record`), at the end of a
session and at a bounded interval, never per step.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aetherflow.errors import RunDirectoryError
from aetherflow.results.run import AttemptRecord, RunRecord, SessionRecord, StepRecord

__all__ = [
    "JOURNAL_FILE",
    "JournalState",
    "JournalWriter",
    "StepEntry",
    "read_journal",
    "rebuild_record",
    "step_prompts",
]

JOURNAL_FILE = "journal.jsonl"


class JournalWriter:
    """Appends events to a journal file; a background thread group-commits them to disk."""

    def __init__(self, path: Path, *, fsync_interval_s: float = 0.05) -> None:
        self.path = path
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise RunDirectoryError(f"cannot write the run journal {path}: "
                                    f"{exc.strerror or exc}") from exc
        self._interval = fsync_interval_s
        self._dirty = threading.Event()
        self._closed = False
        self._lock = threading.Lock()
        self._error: OSError | None = None
        self.lines = 0
        self._syncer = threading.Thread(target=self._sync_loop, name="journal-fsync",
                                        daemon=True)
        self._syncer.start()

    def append(self, event: Mapping[str, Any]) -> None:
        """Write one event as one line (one ``write`` call); raise if the disk refuses."""
        self.append_raw(json.dumps(event, separators=(",", ":"), ensure_ascii=False))

    def append_raw(self, line: str) -> None:
        """Write one already-serialised JSON object as one line."""
        if self._error is not None:
            raise RunDirectoryError(f"cannot write the run journal {self.path}: "
                                    f"{self._error.strerror or self._error}")
        data = (line + "\n").encode("utf-8")
        try:
            written = os.write(self._fd, data)
            while written < len(data):  # a short write (rare): finish the line
                written += os.write(self._fd, data[written:])
        except OSError as exc:
            raise RunDirectoryError(f"cannot write the run journal {self.path}: "
                                    f"{exc.strerror or exc}") from exc
        self.lines += 1
        self._dirty.set()

    def _sync_loop(self) -> None:
        while True:
            self._dirty.wait()
            with self._lock:
                if self._closed:
                    return
                self._dirty.clear()
                try:
                    os.fsync(self._fd)
                except OSError as exc:
                    self._error = exc
            threading.Event().wait(self._interval)

    def sync(self) -> None:
        """Flush to disk now (end of a session)."""
        with self._lock:
            if not self._closed:
                os.fsync(self._fd)

    def close(self) -> None:
        """Sync and close (idempotent)."""
        with self._lock:
            if self._closed:
                return
            with contextlib.suppress(OSError):
                os.fsync(self._fd)
            self._closed = True
            os.close(self._fd)
        self._dirty.set()
        self._syncer.join(timeout=2)


def read_journal(path: Path) -> Iterator[dict[str, Any]]:
    """Every whole event of the journal at ``path``, in order.

    A last line without its newline (a write torn by a crash) and lines that do not parse
    are skipped: a crash can only tear the last line, and the events before it are whole.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    # The piece after the last newline is empty, or a line torn by a crash: never whole.
    for raw in data.split(b"\n")[:-1]:
        if not raw.strip():
            continue
        try:
            event = json.loads(raw)
        except ValueError:
            continue
        if isinstance(event, dict) and "e" in event:
            yield event


@dataclass
class StepEntry:
    """What the journal says of one step."""

    attempts: list[AttemptRecord] = field(default_factory=list)
    texts: dict[int, str] = field(default_factory=dict)
    partial: dict[int, str] = field(default_factory=dict)
    record: StepRecord | None = None
    files: dict[str, str] = field(default_factory=dict)
    output: str = ""
    prompt: list[dict[str, str]] = field(default_factory=list)


@dataclass
class JournalState:
    """The journal folded into a state: the header, sessions, and each step's entries."""

    header: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    sessions: list[SessionRecord] = field(default_factory=list)
    steps: dict[str, StepEntry] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def entry(self, step_id: str) -> StepEntry:
        """The entry of ``step_id`` (created on first use)."""
        if step_id not in self.steps:
            self.steps[step_id] = StepEntry()
        return self.steps[step_id]

    @property
    def finished_steps(self) -> list[str]:
        """Steps whose final record is in the journal, in the order they finished."""
        return [s for s in self.order if self.steps[s].record is not None]


def load_state(path: Path) -> JournalState:
    """Fold the journal at ``path`` into a :class:`JournalState`."""
    state = JournalState()
    for ev in read_journal(path):
        kind = ev["e"]
        if kind == "session":
            if "header" in ev and not state.header:
                state.header = ev["header"]
                state.options = ev.get("options", {})
            state.sessions.append(SessionRecord(session=ev["session"],
                                                started_at=ev["started_at"],
                                                pid=ev.get("pid")))
        elif kind == "text":
            entry = state.entry(ev["step"])
            entry.partial[ev["attempt"]] = entry.partial.get(ev["attempt"], "") + ev["text"]
        elif kind == "attempt":
            entry = state.entry(ev["step"])
            rec = AttemptRecord.model_validate(ev["record"])
            entry.attempts.append(rec)
            entry.texts[rec.attempt] = ev.get("text", "")
            entry.partial.pop(rec.attempt, None)
        elif kind == "step":
            entry = state.entry(ev["step"])
            entry.record = StepRecord.model_validate(ev["record"])
            entry.files = dict(ev.get("files", {}))
            entry.output = ev.get("output", "")
            state.order.append(ev["step"])
        elif kind == "prompt":
            state.entry(ev["step"]).prompt = list(ev.get("messages", []))
        elif kind == "warning":
            state.warnings.append(ev["text"])
        elif kind == "end":
            for s in state.sessions:
                if s.session == ev["session"]:
                    s.end = ev["status"]
                    s.finished_at = ev.get("finished_at")
                    s.makespan_ms = ev.get("makespan_ms")
                    s.cpu_ms = ev.get("cpu_ms")
    return state


def rebuild_record(state: JournalState, step_order: list[str] | None = None) -> RunRecord:
    """The run record the journal describes: the header, every finished step with all its
    attempts, the sessions. Steps are listed in ``step_order`` (the plan's) when given."""
    header = dict(state.header)
    record = RunRecord.model_validate({**header, "steps": []})
    ids = [s for s in (step_order or state.order) if s in state.steps
           and state.steps[s].record is not None]
    steps = []
    for sid in ids:
        entry = state.steps[sid]
        assert entry.record is not None
        steps.append(entry.record.model_copy(update={"attempts": list(entry.attempts)}))
    record.steps = steps
    record.sessions = [s.model_copy() for s in state.sessions]
    record.warnings = list(dict.fromkeys([*record.warnings, *state.warnings]))
    return record


def step_prompts(path: Path) -> dict[str, list[dict[str, str]]]:
    """Each step's first request (its messages), from the journal at ``path``."""
    return {ev["step"]: list(ev.get("messages", []))
            for ev in read_journal(path) if ev["e"] == "prompt"}
