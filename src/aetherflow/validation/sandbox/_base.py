"""What every sandbox backend shares: limits, results, the minimal environment, output capture,
secret scrubbing and the classification of which limit ended a check."""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from aetherflow.errors import SandboxError

SandboxMode = Literal["auto", "bwrap", "process"]
LimitHit = Literal["timeout", "cpu", "memory", "processes", "output", "file_size"]
Guarantee = Literal["filesystem", "network", "environment", "limits", "process_limit", "reaping"]
"""A property a backend enforces: ``filesystem`` (only the workspace is visible read-write, the
system and interpreter read-only, nothing else), ``network`` (no network, loopback included),
``environment`` (no inherited variables), ``limits`` (wall, CPU, memory, file size, output),
``process_limit`` (process count), ``reaping`` (no process outlives the check)."""

REDACTED = "[redacted]"
_SECRET_NAME = re.compile(r"(_API_KEY$|_TOKEN$|SECRET|PASSWORD)", re.IGNORECASE)
_MIN_SECRET_LEN = 8
_GRACE_S = 3.0  # after a kill, how long to wait before escalating


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits for one check. Every field must be positive.

    ``max_output_bytes`` is the tail kept in the result (older output is dropped, the check goes
    on); ``max_stream_bytes`` is the total output after which the check is ended
    (``limit="output"``). ``max_tmp_bytes`` sizes the private ``/tmp`` (bwrap only).
    ``memory_bytes`` bounds each process's address space; ``cpu_s`` each process's CPU time;
    ``max_processes`` counts tasks (threads included) on bwrap, processes on the fallback.
    """

    wall_s: float = 60.0
    cpu_s: float = 60.0
    memory_bytes: int = 1 << 30
    max_processes: int = 64
    max_output_bytes: int = 16_384
    max_file_bytes: int = 64 << 20
    max_stream_bytes: int = 8 << 20
    max_tmp_bytes: int = 256 << 20

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not value > 0:
                raise SandboxError(f"sandbox limit {name} must be positive, got {value!r}")


@dataclass(frozen=True)
class SandboxResult:
    """How one check ended.

    ``exit_code`` follows the shell convention (128 + signal number when a signal ended it) and
    is ``None`` when the sandbox itself killed the check (wall time, output flood, polled
    process limit). ``output_tail`` is stdout and stderr interleaved, the last
    ``max_output_bytes``, with secrets scrubbed. ``limit`` says which limit ended it (best
    effort, see ``classify_limit``), ``backend`` which sandbox ran it.
    """

    exit_code: int | None
    output_tail: str
    output_truncated: bool
    duration_ms: float
    limit: LimitHit | None
    backend: str


class Sandbox(Protocol):
    """Runs one command against a workspace directory, isolated as far as the backend can."""

    name: str
    description: str
    guarantees: frozenset[Guarantee]

    def run(self, argv: Sequence[str], workdir: Path, *, limits: SandboxLimits = SandboxLimits(),
            ro_paths: Sequence[Path] = (), env: Mapping[str, str] | None = None
            ) -> SandboxResult:
        """Run ``argv`` with ``workdir`` as its writable cwd; return when every process is gone."""
        ...


def secret_values(extra: Sequence[str] = ()) -> list[str]:
    """The strings to redact: values (>= 8 chars) of this process's environment variables named
    like ``*_API_KEY``, ``*_TOKEN``, ``*SECRET*``, ``*PASSWORD*``, plus ``extra`` (non-empty);
    longest first so a secret containing another is replaced whole."""
    found = set(secrets_in(os.environ))
    found.update(s for s in extra if s)
    return sorted(found, key=len, reverse=True)


def secrets_in(env: Mapping[str, str] | None) -> list[str]:
    """The values in ``env`` that look like secrets (same name and length rule)."""
    return [v for k, v in (env or {}).items()
            if _SECRET_NAME.search(k) and len(v) >= _MIN_SECRET_LEN]


def scrub_secrets(text: str, extra: Sequence[str] = ()) -> str:
    """Replace every secret (see :func:`secret_values`) in ``text`` with ``[redacted]``."""
    for secret in secret_values(extra):
        text = text.replace(secret, REDACTED)
    return text


def _scrub_tail(text: str, truncated: bool, extra: Sequence[str]) -> str:
    """Scrub a tail; if it was cut, also redact a secret's end left at its very start."""
    secrets = secret_values(extra)
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    if truncated:
        for secret in secrets:
            for k in range(len(secret) - 1, 3, -1):
                if text.startswith(secret[-k:]):
                    return REDACTED + text[k:]
    return text


def minimal_env(home: str, tmpdir: str, extra: Mapping[str, str] | None) -> dict[str, str]:
    """The whole environment of a check: nothing inherited. PATH starts with this interpreter's
    bin dir so ``python``, ``pytest`` and ``ruff`` resolve to its environment's; ``extra`` is
    added last (it may override PATH)."""
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": tmpdir,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    for key, value in (extra or {}).items():
        if not isinstance(key, str) or not isinstance(value, str) or not key or "=" in key:
            raise SandboxError(f"sandbox env entries must be str=str, got {key!r}={value!r}")
        env[key] = value
    return env


def check_call(argv: Sequence[str], workdir: Path) -> tuple[list[str], Path]:
    """Validate a run's command and workdir; return them normalised (workdir resolved)."""
    args = list(argv)
    if not args or not all(isinstance(a, str) for a in args) or not args[0]:
        raise SandboxError(f"sandbox command must be a non-empty list of strings, got {argv!r}")
    resolved = Path(workdir).resolve()
    if not resolved.is_dir():
        raise SandboxError(f"sandbox workdir {workdir} is not a directory")
    return args, resolved


class OutputTail:
    """Keeps the last ``keep`` bytes of a stream and counts all of it."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.total = 0
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        """Append ``data``, dropping what falls out of the window."""
        self.total += len(data)
        self._buf += data
        if len(self._buf) > 2 * self.keep + 65_536:
            del self._buf[: -self.keep]

    @property
    def truncated(self) -> bool:
        """Whether output was dropped."""
        return self.total > self.keep

    def text(self) -> str:
        """The kept tail, decoded (undecodable bytes replaced)."""
        return bytes(self._buf[-self.keep:]).decode("utf-8", "replace")


def watch(proc: subprocess.Popen[bytes], streams: Mapping[int, Callable[[bytes], None]],
          tail: OutputTail, limits: SandboxLimits, started: float,
          stop: Callable[[], None], force: Callable[[], None]) -> LimitHit | None:
    """Pump ``streams`` (fd -> consumer) until the process has exited and its output is closed.

    Ends the check with ``stop()`` on the wall-time limit or an output flood and returns that
    reason (``None`` if it ended by itself). ``force()`` is the escalation if ``stop()`` has not
    ended it after a grace period. The caller closes the fds.
    """
    sel = selectors.DefaultSelector()
    for fd, consumer in streams.items():
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ, consumer)
    deadline = started + limits.wall_s
    killed: LimitHit | None = None
    killed_at = exited_at = 0.0
    forced = False
    try:
        while True:
            now = time.monotonic()
            if killed is None and now >= deadline:
                killed, killed_at = "timeout", now
                stop()
            if killed is None and tail.total > limits.max_stream_bytes:
                killed, killed_at = "output", now
                stop()
            if killed is not None and not forced and now - killed_at > _GRACE_S:
                forced = True
                force()
            if proc.poll() is not None:
                exited_at = exited_at or now
                if not sel.get_map() or now - exited_at > 1.0:
                    break
            if not sel.get_map():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=max(0.001, min(0.05, deadline - now)))
                continue
            wait = 0.1 if killed is None else 0.02
            for key, _ in sel.select(timeout=max(0.0, min(wait, deadline - now))):
                try:
                    data = os.read(key.fd, 65_536)
                except BlockingIOError:
                    continue
                if data:
                    key.data(data)
                else:
                    sel.unregister(key.fd)
        proc.wait()
    except BaseException:  # interrupted (KeyboardInterrupt): never leave the check running
        stop()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=_GRACE_S)
        raise
    finally:
        sel.close()
    return killed


_LIMIT_PATTERNS: tuple[tuple[LimitHit, re.Pattern[str]], ...] = (
    ("file_size", re.compile(r"File too large|\[Errno 27\]")),
    ("memory", re.compile(r"MemoryError|Cannot allocate memory|std::bad_alloc|out of memory"
                          r"|\[Errno 12\]", re.IGNORECASE)),
    ("processes", re.compile(r"Cannot fork|fork: |can't start new thread|BlockingIOError"
                             r"|Resource temporarily unavailable|\[Errno 11\]")),
)


def classify_limit(killed: LimitHit | None, exit_code: int | None, tail: str) -> LimitHit | None:
    """Which limit ended a check (best effort).

    What the sandbox killed it for wins (``timeout``, ``output``, polled ``processes``). A
    clean exit is ``None``. Otherwise, by exit status: 128+SIGXCPU is ``cpu``, 128+SIGXFSZ is
    ``file_size``; then by the last error text in the output: EFBIG ("File too large") is
    ``file_size``, ENOMEM/``MemoryError`` is ``memory``, EAGAIN from fork/thread creation is
    ``processes``. A check that prints such text itself and fails is misclassified; a check
    that swallows the error shows ``None``.
    """
    if killed is not None:
        return killed
    if exit_code is None or exit_code == 0:
        return None
    if exit_code == 128 + signal.SIGXCPU:
        return "cpu"
    if exit_code == 128 + signal.SIGXFSZ:
        return "file_size"
    best: tuple[int, LimitHit] | None = None
    for limit, pattern in _LIMIT_PATTERNS:
        for match in pattern.finditer(tail):
            if best is None or match.start() > best[0]:
                best = (match.start(), limit)
    return best[1] if best else None


def make_result(*, backend: str, killed: LimitHit | None, exit_code: int | None,
                tail: OutputTail, started: float, secrets: Sequence[str] = ()) -> SandboxResult:
    """Assemble a :class:`SandboxResult` (classify, scrub, time)."""
    raw = tail.text()
    code = None if killed is not None else exit_code
    return SandboxResult(
        exit_code=code,
        output_tail=_scrub_tail(raw, tail.truncated, secrets),
        output_truncated=tail.truncated,
        duration_ms=(time.monotonic() - started) * 1000.0,
        limit=classify_limit(killed, code, raw),
        backend=backend,
    )


def shell_exit_code(returncode: int) -> int:
    """A Popen return code in the shell convention (a signal death is 128 + signal)."""
    return 128 - returncode if returncode < 0 else returncode
