"""Is a run still running? A run's process holds ``run.lock`` (``flock``) while it runs.

The operating system releases the lock however the process dies (SIGKILL included), so a run
whose record says ``running`` while its lock is free was left by a dead process: it
crashed. Used by the history (which lists such runs as ``crashed``) and by resume.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

__all__ = ["effective_status", "run_is_live"]


def run_is_live(path: Path) -> bool:
    """Whether a process holds the run's lock (it is running now). A run whose record says
    "running" and whose lock is free was left by a process that died: it crashed."""
    lock = path / "run.lock"
    if not lock.exists():
        return False
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def effective_status(status: str, run_dir: str | Path | None) -> str:
    """``crashed`` for a run recorded as ``running`` whose process is gone (its lock is
    free, or its directory is); the recorded status otherwise."""
    if status != "running" or run_dir is None:
        return status
    path = Path(run_dir)
    return "running" if path.is_dir() and run_is_live(path) else "crashed"
