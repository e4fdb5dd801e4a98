"""Run the emulator in the foreground (CLI) or in a child process (benchmarks)."""

from __future__ import annotations

import asyncio
import contextlib
import selectors
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from aetherflow.emulator.paths import BASE_PATHS
from aetherflow.emulator.profile import EmulatorProfile
from aetherflow.emulator.server import EmulatorServer, ensure_loopback
from aetherflow.errors import ConfigError, ProviderUnavailableError

__all__ = ["EmulatorProcess", "describe", "run_emulator_in_subprocess", "serve_forever"]

READY_PREFIX = "emulator listening on "
#: Lines of the child's output kept (the rest is read and dropped).
LOG_TAIL_LINES = 200


def describe(emu: EmulatorServer) -> list[str]:
    """Lines announcing a running emulator: the ready line, then one base URL per provider."""
    lines = [f"{READY_PREFIX}{emu.url} (seed {emu.profile.seed})"]
    lines += [f"  {name:<9} {url}" for name, url in emu.base_urls().items()]
    return lines


async def _serve(
    profile: EmulatorProfile, host: str, port: int, on_ready: Callable[[EmulatorServer], None]
) -> None:
    emu = EmulatorServer(profile, host, port)
    try:
        await emu.start()
    except OSError as exc:
        await emu.stop()
        raise ConfigError(f"cannot bind the emulator to {host}:{port}: {exc.strerror}") from exc
    try:
        on_ready(emu)
        await asyncio.Event().wait()
    finally:
        await emu.stop()


def serve_forever(
    profile: EmulatorProfile, host: str, port: int, on_ready: Callable[[EmulatorServer], None]
) -> None:
    """Serve until Ctrl-C (SIGINT); ``on_ready`` is called once the port is bound."""
    ensure_loopback(host)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(profile, host, port, on_ready))


@dataclass(frozen=True)
class EmulatorProcess:
    """A running emulator child process."""

    url: str
    pid: int
    #: The last lines the child wrote (stdout and stderr), for diagnostics.
    log_tail: deque[str] = field(default_factory=lambda: deque(maxlen=LOG_TAIL_LINES),
                                 compare=False, repr=False)

    def base_url(self, provider: str) -> str:
        """Base URL of ``provider`` on this emulator."""
        return self.url + BASE_PATHS[provider]


def _read_ready_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise ProviderUnavailableError(f"emulator did not start within {timeout} s")
    line = proc.stdout.readline()
    if not line.startswith(READY_PREFIX):
        err = proc.stderr.read() if proc.stderr and proc.poll() is not None else ""
        raise ProviderUnavailableError(f"emulator failed to start: {line.strip()} {err.strip()}")
    return line[len(READY_PREFIX) :].split()[0]


def _command(profile_path: str | Path | None, host: str, port: int, seed: int | None) -> list[str]:
    cmd = [sys.executable, "-m", "aetherflow.emulator", "--host", host, "--port", str(port)]
    if profile_path is not None:
        cmd += ["--profile", str(profile_path)]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    return cmd


def _drain(pipe: IO[str], tail: deque[str]) -> None:
    """Read the child's output until it closes, keeping the last lines. Without a reader a
    full pipe (64 KiB of logged disconnections) would block the emulator mid-request."""
    with contextlib.suppress(OSError, ValueError):
        for line in pipe:
            tail.append(line.rstrip("\n"))


@contextlib.contextmanager
def run_emulator_in_subprocess(
    profile_path: str | Path | None = None,
    port: int = 0,
    host: str = "127.0.0.1",
    seed: int | None = None,
    timeout: float = 20.0,
) -> Iterator[EmulatorProcess]:
    """Start ``python -m aetherflow.emulator`` in a child process; stop it on exit."""
    ensure_loopback(host)
    proc = subprocess.Popen(
        _command(profile_path, host, port, seed),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = _read_ready_line(proc, timeout)
        emu = EmulatorProcess(url=url, pid=proc.pid)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                threading.Thread(target=_drain, args=(pipe, emu.log_tail), daemon=True,
                                 name="emulator-log").start()
        yield emu
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
