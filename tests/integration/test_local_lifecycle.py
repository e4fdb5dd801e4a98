"""The embedded server never outlives AetherFlow: after a run, on a start failure, on Ctrl-C,
on SIGKILL (also when started from a thread that has exited); stale servers are cleaned;
a bench can share one server per configuration.

The tests marked ``local_model`` start the real embedded model; the others use dummy
processes. Processes are identified by pid (pid files, ``/proc``), never by name: other
servers may run on the machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from aetherflow.errors import ProviderUnavailableError
from aetherflow.providers.base import ProviderSettings
from aetherflow.providers.local import (
    LocalProvider,
    LocalServer,
    shared_local_servers,
    shared_vocab,
)
from aetherflow.providers.local_pidfiles import (
    ServerPidFile,
    clean_stale_servers,
    new_pid_file,
    read_cmdline,
    read_proc_stat,
    servers_dir,
    write_pid_file,
)
from aetherflow.providers.local_server import (
    _PDEATHSIG_EXEC,
    LocalServerPool,
    ServerKey,
    spawn_tied,
)

SRC = Path(__file__).resolve().parents[2] / "src"
local_model = pytest.mark.local_model


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it counts as dead)."""
    stat = read_proc_stat(pid)
    return stat is not None and not stat.zombie


def _wait_gone(pid: int, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def _children() -> set[int]:
    """This process's live children (forked by any of its threads)."""
    pids: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        pids |= {int(p) for p in (task / "children").read_text().split()}
    return {p for p in pids if _alive(p)}


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])])}


SLEEPER_CMD = [sys.executable, "-c", "import time; time.sleep(120)",
               "aetherflow-test-dummy-server"]


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A dummy long-lived process with a recognisable command line (our own child)."""
    proc = subprocess.Popen(SLEEPER_CMD, start_new_session=True)
    deadline = time.monotonic() + 10
    while read_cmdline(proc.pid) != SLEEPER_CMD and time.monotonic() < deadline:
        time.sleep(0.01)  # until exec has replaced the forked copy of pytest
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _dead_owner() -> tuple[int, int]:
    """The pid and start time of a process that has exited (a dead AetherFlow)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    stat = read_proc_stat(proc.pid)
    assert stat is not None
    proc.kill()
    proc.wait()
    return proc.pid, stat.start_time


def _record(pid: int, cmdline: list[str], owner: tuple[int, int]) -> Path:
    entry = new_pid_file(pid, cmdline, 1)
    assert entry is not None
    entry = entry.model_copy(update={"owner_pid": owner[0], "owner_start_time": owner[1]})
    return write_pid_file(entry)


# --- without the model ----------------------------------------------------------------------


def test_parent_death_signal_is_tied_to_the_spawning_thread() -> None:
    """Why every server is forked by the spawner thread: a child armed with PDEATHSIG and
    forked by a short-lived thread dies when that thread exits; through :func:`spawn_tied`
    it survives the calling thread."""
    dummy = [sys.executable, "-c", "import time; time.sleep(120)"]
    procs: dict[str, subprocess.Popen[bytes]] = {}

    def direct() -> None:  # what a Popen from an asyncio.to_thread worker would do
        procs["direct"] = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _PDEATHSIG_EXEC, str(os.getpid()), *dummy])
        time.sleep(0.5)  # let the wrapper arm the signal before this thread exits

    def via_spawner() -> None:
        procs["tied"] = spawn_tied(dummy)

    for target in (direct, via_spawner):
        t = threading.Thread(target=target)
        t.start()
        t.join()
    try:
        assert procs["direct"].wait(timeout=10) == -signal.SIGKILL
        time.sleep(0.5)
        assert procs["tied"].poll() is None
        assert read_cmdline(procs["tied"].pid) == dummy  # exec'd: the wrapper is gone
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait()


def test_stale_cleanup_kills_only_exact_orphans(sleeper: subprocess.Popen[bytes]) -> None:
    """A dead owner's server (exact command line) is killed; a live owner's is left alone;
    a pid whose command line differs is never killed."""
    cmd = read_cmdline(sleeper.pid)
    assert cmd == SLEEPER_CMD
    me = read_proc_stat(os.getpid())
    assert me is not None
    dead, live = _dead_owner(), (os.getpid(), me.start_time)

    live_file = _record(sleeper.pid, cmd, live)
    assert [d.action for d in clean_stale_servers()] == ["keep"]
    assert live_file.exists() and _alive(sleeper.pid)
    live_file.unlink()

    other_file = _record(sleeper.pid, [*cmd[:-1], "another-program"], dead)
    assert [d.action for d in clean_stale_servers()] == ["forget"]
    assert not other_file.exists() and _alive(sleeper.pid)

    stale_file = _record(sleeper.pid, cmd, dead)
    done = clean_stale_servers()
    assert [d.action for d in done] == ["kill"], done
    assert not stale_file.exists()
    assert sleeper.wait(timeout=5) == -signal.SIGKILL


_DUMMY_HTTP = """
import http.server, sys
class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Ok).serve_forever()
"""


class _DummyServer(LocalServer):
    """A LocalServer whose process is a tiny HTTP server (answers 200 to everything)."""

    def __init__(self, *args: str) -> None:
        super().__init__(Path(sys.executable), extra_args=list(args))

    def command(self) -> list[str]:
        return [sys.executable, "-c", _DUMMY_HTTP, str(self.port), *self.extra_args]


async def test_pool_shares_per_configuration_and_restarts_a_dead_server() -> None:
    pool = LocalServerPool()
    a, use_a = await pool.acquire(_DummyServer())
    b, use_b = await pool.acquire(_DummyServer())
    c, use_c = await pool.acquire(_DummyServer("other"))
    assert a is b and c is not a and ServerKey.of(c) != ServerKey.of(a)
    assert (use_a.reused, use_a.runs_served, use_b.reused, use_b.runs_served) == (
        False, 1, True, 2)
    assert use_a.startup_s is not None and use_a.startup_s > 0 and use_b.startup_s is None
    assert use_a.pid == use_b.pid != use_c.pid and pool.uses == [use_a, use_b, use_c]
    pool.release(a)
    assert a.running  # released, not stopped
    assert a.process is not None
    os.killpg(a.process.pid, signal.SIGKILL)  # the pooled server crashed between runs
    a.process.wait()
    d, use_d = await pool.acquire(_DummyServer())
    assert d is not a and d.running and not use_d.reused and use_d.runs_served == 1
    stray = _DummyServer()
    await stray.start()
    pool.release(stray)  # not the pool's: stopped
    assert not stray.running
    pool.stop_all()
    assert not any(s.running for s in (a, c, d)) and pool.closed
    assert list(servers_dir().iterdir()) == []
    with pytest.raises(RuntimeError, match="closed"):
        await pool.acquire(_DummyServer())


# --- with the real embedded model -----------------------------------------------------------

_OWNER_SCRIPT = """
import asyncio, sys, threading, time
from aetherflow.providers.local import LocalServer
server = LocalServer()
if sys.argv[1] == "thread":
    worker = threading.Thread(target=lambda: asyncio.run(server.start()))
    worker.start()
    worker.join()
else:
    asyncio.run(server.start())
print(server.process.pid, flush=True)
time.sleep(300)
"""


def _start_owner(tmp_path: Path, mode: str) -> tuple[subprocess.Popen[str], int]:
    script = tmp_path / "owner.py"
    script.write_text(_OWNER_SCRIPT)
    owner = subprocess.Popen([sys.executable, str(script), mode], stdout=subprocess.PIPE,
                             text=True, env=_env())
    assert owner.stdout is not None
    line = owner.stdout.readline()
    if not line:
        owner.kill()
        owner.stdout.close()
        pytest.fail(f"the owner script exited with {owner.wait()}")
    return owner, int(line)


def _answers(pid: int) -> bool:
    entry = ServerPidFile.model_validate_json((servers_dir() / f"{pid}.json").read_text())
    with urllib.request.urlopen(f"http://127.0.0.1:{entry.port}/v1/models", timeout=5) as r:
        return bool(r.status == 200)


@local_model
@pytest.mark.parametrize("mode", ["main", "thread"])
def test_server_dies_when_its_owner_is_sigkilled(tmp_path: Path, mode: str) -> None:
    """SIGKILL leaves no orphan; started from a worker thread that has exited, the server
    lives as long as its owner (the parent-death signal did not fire early)."""
    owner, pid = _start_owner(tmp_path, mode)
    try:
        assert _alive(pid)
        assert (servers_dir() / f"{pid}.json").exists()
        if mode == "thread":
            time.sleep(2)  # the starting thread has long exited
            assert _alive(pid) and _answers(pid)
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        assert owner.stdout is not None
        owner.stdout.close()
    assert _wait_gone(pid, 5), f"server {pid} outlived its SIGKILLed owner"
    # Its pid file is left behind (nobody could remove it); the next start forgets it.
    assert [d.action for d in clean_stale_servers()] == ["forget"]


@local_model
async def test_provider_starts_and_stops_its_server() -> None:
    provider = LocalProvider(ProviderSettings(name="local"))
    await provider.start()
    server = provider._server
    assert server is not None and server.process is not None
    pid = server.process.pid
    assert _alive(pid) and provider.server_pid == pid
    assert provider.server_reused is False and provider.server_runs_served == 1
    assert provider._vocab() is shared_vocab(server.model_path)  # loaded once per model
    # The pid file holds exactly what /proc says the server runs (else cleanup never matches).
    entry = ServerPidFile.model_validate_json((servers_dir() / f"{pid}.json").read_text())
    assert entry.cmdline == read_cmdline(pid) == server.command()
    assert entry.owner_pid == os.getpid() and entry.port == server.port
    await provider.aclose()
    await provider.aclose()  # idempotent
    assert not _alive(pid)
    assert list(servers_dir().iterdir()) == []


@local_model
async def test_a_real_stale_server_is_cleaned_by_the_next_start() -> None:
    """A server whose owner is dead (simulated: its pid file names a dead owner) is killed
    by the next start, which then runs normally."""
    stale = LocalServer()
    await stale.start()
    assert stale.process is not None and stale.pid_file is not None
    entry = ServerPidFile.model_validate_json(stale.pid_file.read_text())
    dead = _dead_owner()
    stale.pid_file.write_text(entry.model_copy(
        update={"owner_pid": dead[0], "owner_start_time": dead[1]}).model_dump_json())
    fresh = LocalServer()
    try:
        await fresh.start()
        assert fresh.process is not None
        assert stale.process.wait(timeout=5) == -signal.SIGKILL
        assert [p.name for p in servers_dir().iterdir()] == [f"{fresh.process.pid}.json"]
    finally:
        fresh.stop()
        stale.stop()


@local_model
async def test_start_failure_is_clear_and_leaves_nothing(tmp_path: Path) -> None:
    before = _children()
    bogus = tmp_path / "not-a-model.gguf"
    bogus.write_bytes(b"nope")
    server = LocalServer(bogus, startup_timeout_s=60)
    with pytest.raises(ProviderUnavailableError, match="exited with code"):
        await server.start()
    server.stop()
    assert _children() <= before
    assert list(servers_dir().iterdir()) == []


@local_model
async def test_shared_servers_one_per_configuration() -> None:
    """Inside ``shared_local_servers()`` providers in sequence share the server of their
    configuration; other ``server_args`` get another server; outside, every provider gets a
    fresh one; the pool stops everything when the block ends."""

    async def use(options: dict[str, object] | None = None) -> tuple[int, bool | None, int]:
        provider = LocalProvider(ProviderSettings(name="local", options=options or {}))
        await provider.start()
        try:
            pid = provider.server_pid
            assert pid is not None
            return pid, provider.server_reused, provider.server_runs_served or 0
        finally:
            await provider.aclose()

    with shared_local_servers() as pool:
        first, second = await use(), await use()
        cached = await use({"server_args": ["--cache", "True"]})
        assert first[0] == second[0] and _alive(first[0])
        assert first[1:] == (False, 1) and second[1:] == (True, 2)
        assert cached[0] != first[0] and cached[1:] == (False, 1) and _alive(cached[0])
        assert len(pool.servers()) == 2
        assert [(u.pid, u.reused) for u in pool.uses] == [
            (first[0], False), (first[0], True), (cached[0], False)]
        assert len(list(servers_dir().iterdir())) == 2
    assert not _alive(first[0]) and not _alive(cached[0])
    assert list(servers_dir().iterdir()) == []

    outside = [await use(), await use()]
    assert outside[0][0] != outside[1][0] and all(o[1:] == (False, 1) for o in outside)
    assert not any(_alive(o[0]) for o in outside)


@local_model
def test_ctrl_c_stops_server_and_keeps_results(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    steps = [{"id": f"s{i}", "description": "Write a long Python module with many functions.",
              "dependencies": [f"s{i-1}"] if i else []} for i in range(6)]
    plan.write_text(json.dumps({"task_id": "ctrlc", "steps": steps}))
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from aetherflow.cli.main import main; main()", "run", str(plan),
         "--output", str(out), "--quiet", "--max-tokens", "200", "--concurrency", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
    )
    server_pids: set[int] = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        server_pids |= {int(p.stem) for p in servers_dir().glob("*.json")}
        if (out / "run.json").exists() and json.loads((out / "run.json").read_text())["steps"]:
            break
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("run never completed a step")
    assert len(server_pids) == 1
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "interrupted"
    assert record["steps"] and record["steps"][0]["status"] == "unvalidated"
    assert _wait_gone(server_pids.pop(), 5)
    assert list(servers_dir().iterdir()) == []


def test_no_pool_outside_a_shared_block() -> None:
    from aetherflow.providers.local_server import active_server_pool

    assert active_server_pool() is None
    with shared_local_servers() as pool:
        assert active_server_pool() is pool

        async def inner() -> bool:
            return active_server_pool() is pool

        assert asyncio.run(inner())  # tasks inherit the block's pool
    assert active_server_pool() is None and pool.closed
