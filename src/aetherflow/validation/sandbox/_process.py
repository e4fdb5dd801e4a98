"""The ``process`` fallback: a supervised child process with rlimits, a scrubbed environment, a
private network namespace where the kernel allows one, and reaping by a child subreaper. It has
no filesystem isolation. See ``_supervisor.py`` for the supervisor itself."""

from __future__ import annotations

import getpass
import marshal
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from math import ceil
from pathlib import Path
from typing import Any

from aetherflow.validation.sandbox._base import (
    Guarantee,
    LimitHit,
    OutputTail,
    SandboxLimits,
    SandboxResult,
    check_call,
    make_result,
    minimal_env,
    secrets_in,
    watch,
)

SUPERVISOR = Path(__file__).with_name("_supervisor.py")
POLL_S = 0.01


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover - uid without a passwd entry
        return f"uid {os.getuid()}"


class ProcessSandbox:
    """The weaker fallback: see the module docstring and :attr:`description`."""

    name = "process"
    #: The check runs as you (as root: root) and could write through a hard link into the
    #: file it shares an inode with: give this backend real copies, never link farms.
    protects_linked_files = False

    def __init__(self, *, network: bool) -> None:
        self._network = network
        base: set[Guarantee] = {"environment", "limits", "process_limit", "reaping"}
        self.guarantees: frozenset[Guarantee] = frozenset(
            base | {"network"} if network else base)
        user = _user()
        net = ("network isolated (private netns)" if network else
               "NO network isolation (no network namespace allowed here)")
        self.description = (
            f"process: NO filesystem isolation — the check runs as {user} and can read and "
            f"write whatever {user} can, your home included; {net}; process count polled every "
            f"{POLL_S * 1000:.0f} ms (a fast burst can overshoot); a check that kills its "
            "supervisor can leave processes behind")

    @classmethod
    def detect(cls) -> ProcessSandbox:
        """The fallback, knowing whether it can give checks a private network namespace."""
        sandbox = cls(network=True)
        with tempfile.TemporaryDirectory(prefix="aetherflow-probe-") as tmp:
            status = sandbox._execute(["true"], Path(tmp), SandboxLimits(wall_s=10.0), None)[1]
        return sandbox if status.get("netns") else cls(network=False)

    def run(self, argv: Sequence[str], workdir: Path, *, limits: SandboxLimits = SandboxLimits(),
            ro_paths: Sequence[Path] = (), env: Mapping[str, str] | None = None
            ) -> SandboxResult:
        """Run ``argv`` with the workdir as cwd; ``ro_paths`` is accepted and ignored (nothing is
        hidden from the check, so nothing needs binding)."""
        args, wd = check_call(argv, workdir)
        return self._execute(args, wd, limits, env)[0]

    def _execute(self, argv: list[str], workdir: Path, limits: SandboxLimits,
                 env: Mapping[str, str] | None) -> tuple[SandboxResult, dict[str, Any]]:
        private = Path(tempfile.mkdtemp(prefix="aetherflow-sandbox-"))
        try:
            (private / "home").mkdir()
            (private / "tmp").mkdir()
            cfg = {
                "argv": argv, "cwd": str(workdir), "parent": os.getpid(),
                "env": minimal_env(str(private / "home"), str(private / "tmp"), env),
                "network": self._network, "max_processes": limits.max_processes,
                "poll_s": POLL_S, "rlimits": _rlimits(limits),
            }
            return self._supervise(cfg, limits, secrets_in(env))
        finally:
            shutil.rmtree(private, ignore_errors=True)

    def _supervise(self, cfg: dict[str, Any], limits: SandboxLimits, extra_secrets: list[str]
                   ) -> tuple[SandboxResult, dict[str, Any]]:
        status_r, status_w = os.pipe()
        started = time.monotonic()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(SUPERVISOR), marshal.dumps(cfg).hex(),
                 str(status_w)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                pass_fds=(status_w,), env={"LANG": "C.UTF-8"}, cwd=cfg["cwd"],
                start_new_session=True)
        except BaseException:
            os.close(status_r)
            raise
        finally:
            os.close(status_w)
        assert proc.stdout is not None
        tail = OutputTail(limits.max_output_bytes)
        chunks: list[bytes] = []
        try:
            killed: LimitHit | None = watch_supervisor(proc, status_r, chunks, tail, limits,
                                                       started)
        finally:
            os.close(status_r)
            proc.stdout.close()
        try:
            status: dict[str, Any] = marshal.loads(b"".join(chunks))
        except (EOFError, ValueError, TypeError):
            status = {}  # the supervisor was killed before it reported
        killed = killed or status.get("limit")
        result = make_result(backend=self.name, killed=killed, exit_code=status.get("exit_code"),
                             tail=tail, started=started, secrets=extra_secrets)
        return result, status


def watch_supervisor(proc: subprocess.Popen[bytes], status_fd: int, chunks: list[bytes],
                     tail: OutputTail, limits: SandboxLimits, started: float) -> LimitHit | None:
    """Pump the supervisor's output and status; on a limit, ask it (SIGTERM) to kill the tree."""
    assert proc.stdout is not None
    return watch(proc, {proc.stdout.fileno(): tail.feed, status_fd: chunks.append}, tail,
                 limits, started, lambda: proc.send_signal(signal.SIGTERM), proc.kill)


def _rlimits(limits: SandboxLimits) -> dict[str, tuple[int, int]]:
    cpu = ceil(limits.cpu_s)
    return {
        "RLIMIT_AS": (limits.memory_bytes, limits.memory_bytes),
        "RLIMIT_CPU": (cpu, cpu + 1),
        "RLIMIT_FSIZE": (limits.max_file_bytes, limits.max_file_bytes),
        "RLIMIT_CORE": (0, 0),
    }


_lock = threading.Lock()
_detected: list[ProcessSandbox] = []


def detect_process() -> ProcessSandbox:
    """:meth:`ProcessSandbox.detect`, once per process (thread-safe)."""
    with _lock:
        if not _detected:
            _detected.append(ProcessSandbox.detect())
        return _detected[0]
