"""Pid files of the embedded llama.cpp servers, and the cleanup of stale ones.

Every embedded server AetherFlow starts is recorded in ``$AETHERFLOW_HOME/servers/<pid>.json``
(:class:`ServerPidFile`): the server's pid, its exact command line and process start time,
and the AetherFlow process that owns it (pid and process start time, so a reused pid is
recognised). A normal stop removes the file.

A server normally dies with its owner (see :mod:`aetherflow.providers.local_server`), so a
file whose owner is gone is left by a run that died hard. :func:`clean_stale_servers` (run
before every start) kills such a server only when the pid still runs *exactly* the recorded
command line (and, when recorded, started at the recorded time): a pid reused by another
program is never touched. Nothing is ever killed by name.

The decision is a pure function of what ``/proc`` says (:func:`decide`); ``/proc`` is a
parameter so it can be tested with fake data.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from aetherflow.store.history import data_dir

__all__ = [
    "PROC",
    "CleanupAction",
    "ProcStat",
    "ServerPidFile",
    "StaleServerCleanup",
    "clean_stale_servers",
    "decide",
    "kill_server_group",
    "new_pid_file",
    "parse_proc_stat",
    "read_cmdline",
    "read_proc_stat",
    "remove_pid_file",
    "servers_dir",
    "write_pid_file",
]

PROC = Path("/proc")
"""The real ``/proc`` (the default for every function that reads process data)."""

CleanupAction = Literal["keep", "kill", "forget"]
"""What to do with one pid file: ``keep`` it (its owner runs), ``kill`` its server and remove
the file, or ``forget`` it (remove the file only: the server is gone or the pid is reused)."""


class ServerPidFile(BaseModel):
    """One embedded server, as recorded in ``servers/<pid>.json``."""

    model_config = ConfigDict(extra="ignore")

    pid: int
    cmdline: list[str]
    owner_pid: int
    owner_start_time: int
    port: int
    started_at: str
    server_start_time: int | None = None


@dataclass(frozen=True)
class ProcStat:
    """The two fields of ``/proc/<pid>/stat`` that identify a live process."""

    state: str
    start_time: int
    """Clock ticks after boot at which the process started (field 22); unique per pid."""

    @property
    def zombie(self) -> bool:
        """Dead but not yet reaped by its parent."""
        return self.state in ("Z", "X")


def parse_proc_stat(text: str) -> ProcStat:
    """Parse ``/proc/<pid>/stat`` (the command name may hold spaces and parentheses)."""
    fields = text[text.rindex(")") + 2:].split()
    return ProcStat(state=fields[0], start_time=int(fields[19]))


def read_proc_stat(pid: int, proc: Path = PROC) -> ProcStat | None:
    """The process's state and start time; ``None`` when no such process exists."""
    try:
        return parse_proc_stat((proc / str(pid) / "stat").read_text())
    except (OSError, ValueError, IndexError):
        return None


def read_cmdline(pid: int, proc: Path = PROC) -> list[str] | None:
    """The process's argv; ``None`` when it is gone (a zombie has an empty command line)."""
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    if not raw:
        return None
    return raw.decode("utf-8", "surrogateescape").removesuffix("\0").split("\0")


def decide(entry: ServerPidFile, owner: ProcStat | None, server: ProcStat | None,
           server_cmdline: list[str] | None) -> tuple[CleanupAction, str]:
    """What to do with one pid file, given what ``/proc`` says now, and why.

    ``owner``/``server`` are the current ``/proc`` stats of ``entry.owner_pid`` and
    ``entry.pid`` (``None``: no such process).
    """
    if owner is not None and not owner.zombie and owner.start_time == entry.owner_start_time:
        return "keep", f"owner {entry.owner_pid} is running"
    if server is None or server.zombie or server_cmdline is None:
        return "forget", f"server {entry.pid} is gone"
    if server_cmdline != entry.cmdline:
        return "forget", f"pid {entry.pid} now runs another command line"
    if entry.server_start_time is not None and server.start_time != entry.server_start_time:
        return "forget", f"pid {entry.pid} was reused (another start time)"
    return "kill", f"server {entry.pid} outlived its owner {entry.owner_pid}"


def servers_dir() -> Path:
    """Where the pid files live: ``$AETHERFLOW_HOME/servers``."""
    return data_dir() / "servers"


def new_pid_file(pid: int, cmdline: list[str], port: int,
                 proc: Path = PROC) -> ServerPidFile | None:
    """The record for a server this process just started; ``None`` without ``/proc``."""
    me = read_proc_stat(os.getpid(), proc)
    if me is None:
        return None
    server = read_proc_stat(pid, proc)
    return ServerPidFile(pid=pid, cmdline=list(cmdline), owner_pid=os.getpid(),
                         owner_start_time=me.start_time, port=port,
                         started_at=datetime.now(UTC).isoformat(),
                         server_start_time=server.start_time if server else None)


def write_pid_file(entry: ServerPidFile, directory: Path | None = None) -> Path:
    """Atomically write ``<directory>/<pid>.json`` (default: :func:`servers_dir`)."""
    folder = directory or servers_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{entry.pid}.json"
    tmp = folder / f".{entry.pid}.json.tmp"
    tmp.write_text(entry.model_dump_json(), encoding="utf-8")
    os.replace(tmp, path)
    return path


def remove_pid_file(path: Path | None) -> None:
    """Remove a pid file; nothing happens when it is already gone."""
    if path is not None:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


def kill_server_group(pid: int, proc: Path = PROC, timeout_s: float = 5.0) -> None:
    """SIGKILL the server's process group (or the pid alone when it leads no group) and
    wait until it is gone (or a zombie, which its new parent reaps)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stat = read_proc_stat(pid, proc)
        if stat is None or stat.zombie:
            return
        time.sleep(0.02)


@dataclass(frozen=True)
class StaleServerCleanup:
    """What :func:`clean_stale_servers` did with one pid file."""

    path: Path
    pid: int | None
    action: CleanupAction
    reason: str


def _load(path: Path) -> ServerPidFile | None:
    try:
        return ServerPidFile.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, ValidationError):
        return None


def clean_stale_servers(
    directory: Path | None = None, *, proc: Path = PROC,
    kill: Callable[[int], None] | None = None,
) -> list[StaleServerCleanup]:
    """Kill the servers left by dead AetherFlow runs and remove their pid files.

    Scans ``directory`` (default :func:`servers_dir`); see :func:`decide` for the rule.
    ``kill`` (default :func:`kill_server_group`) is called with the server pid. An unreadable
    file is removed (nothing is killed for it). Returns one entry per file seen.
    """
    folder = directory or servers_dir()
    killer = kill or (lambda pid: kill_server_group(pid, proc))
    try:
        paths = sorted(folder.glob("*.json"))
    except OSError:
        return []
    done: list[StaleServerCleanup] = []
    for path in paths:
        entry = _load(path)
        if entry is None:
            if path.exists():
                remove_pid_file(path)
                done.append(StaleServerCleanup(path, None, "forget", "unreadable pid file"))
            continue
        action, reason = decide(entry, read_proc_stat(entry.owner_pid, proc),
                                read_proc_stat(entry.pid, proc), read_cmdline(entry.pid, proc))
        if action == "kill":
            killer(entry.pid)
        if action != "keep":
            remove_pid_file(path)
        done.append(StaleServerCleanup(path, entry.pid, action, reason))
    return done
