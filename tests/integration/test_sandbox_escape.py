"""Generated code tries to escape the check sandbox; each attempt is contained, nothing is left.

Every test runs on both backends. A property the ``process`` fallback does not claim (its
``guarantees`` and ``description`` say so) is skipped there with that reason; bwrap tests are
skipped only when bwrap cannot run on this machine (with the probe's reason).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from aetherflow.validation.sandbox import (
    Guarantee,
    Sandbox,
    SandboxLimits,
    bwrap_unavailable_reason,
    get_sandbox,
)

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(params=["bwrap", "process"])
def sandbox(request: pytest.FixtureRequest) -> Sandbox:
    """Each backend in turn."""
    if request.param == "bwrap" and (reason := bwrap_unavailable_reason()):
        pytest.skip(f"bwrap cannot run here: {reason}")
    return get_sandbox(request.param)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A throwaway workspace copy, as the executor will provide."""
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


def _require(sandbox: Sandbox, guarantee: Guarantee) -> None:
    if guarantee not in sandbox.guarantees:
        pytest.skip(f"{sandbox.name} does not claim {guarantee!r}: {sandbox.description}")


def _script(workdir: Path, code: str) -> list[str]:
    (workdir / "check.py").write_text(textwrap.dedent(code))
    return ["python", "check.py"]


def _processes_with(marker: str) -> list[int]:
    """Host pids whose environment or command line carries ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        for name in ("environ", "cmdline"):
            try:
                if marker.encode() in Path(f"/proc/{entry}/{name}").read_bytes():
                    found.append(int(entry))
                    break
            except OSError:
                pass
    return found


def test_a_legitimate_pytest_check_passes(sandbox: Sandbox, workdir: Path) -> None:
    (workdir / "mathx.py").write_text("def add(a, b):\n    return a + b\n")
    (workdir / "test_mathx.py").write_text(
        "from mathx import add\n\n\ndef test_add(tmp_path):\n"
        "    (tmp_path / 'scratch').write_text('ok')\n    assert add(2, 3) == 5\n")
    result = sandbox.run(["python", "-m", "pytest", "-q"], workdir)
    assert result.exit_code == 0, result.output_tail
    assert "1 passed" in result.output_tail
    assert result.limit is None and result.backend == sandbox.name
    failing = sandbox.run(["python", "-c", "raise SystemExit(3)"], workdir)
    assert (failing.exit_code, failing.limit) == (3, None)


def test_writes_outside_the_workspace_do_not_land(sandbox: Sandbox, workdir: Path,
                                                  tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _require(sandbox, "filesystem")
    outside = tmp_path / "outside"
    outside.mkdir()
    fake_home = tmp_path / "home"
    fake_home.mkdir()
    monkeypatch.setenv("HOME", str(fake_home))
    venv_target = Path(sys.prefix) / "pwned"
    targets = [str(outside / "pwned"), str(fake_home / "pwned"), "~/pwned", "../../pwned",
               "/usr/pwned", str(venv_target), "/pwned", "inside.txt"]
    argv = _script(workdir, f"""
        import os
        for target in {targets!r}:
            try:
                with open(os.path.expanduser(target), "w") as f:
                    f.write("pwned")
                print("wrote", target)
            except OSError as exc:
                print("refused", target, type(exc).__name__)
    """)
    result = sandbox.run(argv, workdir)
    assert result.exit_code == 0, result.output_tail
    assert (workdir / "inside.txt").read_text() == "pwned"
    for host_path in (outside / "pwned", fake_home / "pwned", tmp_path / "pwned",
                      workdir.parent.parent / "pwned", Path("/usr/pwned"), venv_target,
                      Path("/pwned")):
        assert not host_path.exists(), f"{host_path} written from the sandbox"
    # the workspace is owned as before, including what the check created
    assert (workdir / "inside.txt").stat().st_uid == workdir.stat().st_uid == os.getuid()


def test_home_aetherflow_home_and_other_dirs_are_invisible(
        sandbox: Sandbox, workdir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    _require(sandbox, "filesystem")
    fake_home = tmp_path / "home"
    fake_home.mkdir()
    (fake_home / ".netrc").write_text("home-marker")
    monkeypatch.setenv("HOME", str(fake_home))
    af_home = Path(os.environ["AETHERFLOW_HOME"])
    (af_home / "keys.toml").write_text("aetherflow-home-marker")
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "plan.json").write_text("plan-dir-marker")
    (tmp_path / "runs" / "other").mkdir(parents=True)
    (tmp_path / "runs" / "other" / "result.json").write_text("other-run-marker")
    secret_files = [fake_home / ".netrc", af_home / "keys.toml", tmp_path / "plans" / "plan.json",
                    tmp_path / "runs" / "other" / "result.json"]
    real_home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    argv = _script(workdir, f"""
        import json, os
        seen = {{}}
        for path in {[str(p) for p in [*secret_files, tmp_path, real_home]]!r}:
            try:
                seen[path] = open(path).read() if os.path.isfile(path) else os.listdir(path)
            except OSError as exc:
                seen[path] = type(exc).__name__
        print(json.dumps(seen))
    """)
    result = sandbox.run(argv, workdir)
    assert result.exit_code == 0, result.output_tail
    seen = json.loads(result.output_tail)
    for path in [*secret_files, tmp_path]:
        assert seen[str(path)] == "FileNotFoundError", (path, seen[str(path)])
    # the real home is absent, or holds only the interpreter's read-only bind mount
    interpreter_tops = {Path(p).relative_to(real_home).parts[0]
                        for p in (sys.prefix, sys.base_prefix, os.path.realpath(sys.prefix))
                        if Path(p).is_relative_to(real_home)}
    home_view = seen[str(real_home)]
    assert home_view == "FileNotFoundError" or set(home_view) <= interpreter_tops, home_view


def test_no_network_not_even_the_hosts_loopback(sandbox: Sandbox, workdir: Path) -> None:
    _require(sandbox, "network")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        server.settimeout(0.2)
        port = server.getsockname()[1]
        socket.create_connection(("127.0.0.1", port), timeout=2).close()  # reachable from host
        server.accept()[0].close()
        argv = _script(workdir, f"""
            import socket
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
                print("CONNECTED")
            except OSError as exc:
                print("blocked", type(exc).__name__)
            with socket.socket() as own:  # the check's own loopback still works
                own.bind(("localhost", 0)); own.listen(1)
                socket.create_connection(own.getsockname(), timeout=3).close()
                print("own loopback ok")
            print("interfaces", sorted(name for _, name in socket.if_nameindex()))
        """)
        result = sandbox.run(argv, workdir)
        with pytest.raises(TimeoutError):
            server.accept()
    assert result.exit_code == 0, result.output_tail
    assert "CONNECTED" not in result.output_tail and "blocked" in result.output_tail
    assert "own loopback ok" in result.output_tail
    assert "interfaces ['lo']" in result.output_tail


def test_environment_carries_no_secrets_and_output_is_scrubbed(
        sandbox: Sandbox, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _require(sandbox, "environment")
    secret = "sk-test-" + uuid.uuid4().hex
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("AETHERFLOW_SOMETHING", "visible-to-nobody")
    (workdir / "leak.txt").write_text(f"key={secret}\n")
    argv = _script(workdir, """
        import json, os
        print(json.dumps(dict(os.environ)))
        print(open("leak.txt").read())
    """)
    result = sandbox.run(argv, workdir, env={"CHECK_EXTRA": "1"})
    assert result.exit_code == 0, result.output_tail
    env = json.loads(result.output_tail.splitlines()[0])
    assert set(env) <= {"PATH", "HOME", "TMPDIR", "LANG", "PYTHONDONTWRITEBYTECODE",
                        "PYTHONUNBUFFERED", "CHECK_EXTRA", "PWD"}
    assert env["PATH"].split(":")[0] == str(Path(sys.executable).parent)
    assert env["HOME"] != os.environ["HOME"] and env["CHECK_EXTRA"] == "1"
    assert secret not in result.output_tail
    assert "key=[redacted]" in result.output_tail


def test_a_cpu_loop_is_stopped_by_the_cpu_limit(sandbox: Sandbox, workdir: Path) -> None:
    _require(sandbox, "limits")
    result = sandbox.run(["python", "-c", "while True: pass"], workdir,
                         limits=SandboxLimits(cpu_s=1, wall_s=30))
    assert result.limit == "cpu"
    assert result.duration_ms < 15_000


def test_a_6_gib_allocation_fails_on_the_memory_limit(sandbox: Sandbox, workdir: Path) -> None:
    _require(sandbox, "limits")
    result = sandbox.run(["python", "-c", "block = bytearray(6 << 30); print('ALLOCATED')"],
                         workdir)
    assert result.limit == "memory", result.output_tail
    assert "ALLOCATED" not in result.output_tail and result.exit_code != 0


def test_the_wall_clock_limit_kills_a_sleeper(sandbox: Sandbox, workdir: Path) -> None:
    _require(sandbox, "limits")
    result = sandbox.run(["sleep", "60"], workdir, limits=SandboxLimits(wall_s=1))
    assert (result.limit, result.exit_code) == ("timeout", None)
    assert 900 < result.duration_ms < 10_000


def test_the_file_size_limit_stops_a_big_write(sandbox: Sandbox, workdir: Path) -> None:
    _require(sandbox, "limits")
    argv = _script(workdir, """
        with open("big.bin", "wb") as f:
            for _ in range(8):
                f.write(b"x" * (1 << 20))
    """)
    result = sandbox.run(argv, workdir, limits=SandboxLimits(max_file_bytes=1 << 20))
    assert result.limit == "file_size", result.output_tail
    assert (workdir / "big.bin").stat().st_size <= 1 << 20


def test_an_output_flood_is_capped_and_ended(sandbox: Sandbox, workdir: Path) -> None:
    _require(sandbox, "limits")
    flood = sandbox.run(["python", "-c", "while True: print('spam' * 50)"], workdir,
                        limits=SandboxLimits(max_output_bytes=2000, max_stream_bytes=1 << 20))
    assert (flood.limit, flood.exit_code, flood.output_truncated) == ("output", None, True)
    assert len(flood.output_tail.encode()) <= 2000
    chatty = sandbox.run(["python", "-c", "for i in range(5000): print('line', i)"], workdir,
                         limits=SandboxLimits(max_output_bytes=2000))
    assert (chatty.limit, chatty.exit_code, chatty.output_truncated) == (None, 0, True)
    assert chatty.output_tail.endswith("line 4999\n")


def test_setsid_daemons_do_not_outlive_the_check(sandbox: Sandbox, workdir: Path) -> None:
    _require(sandbox, "reaping")
    marker = f"AF_DAEMON_{uuid.uuid4().hex}"
    # Real daemons close their output, so the end of the output says nothing about them;
    # 19 setsid children and a classic double-fork daemon, all with stdio closed.
    argv = _script(workdir, """
        import os, subprocess, time
        quiet = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
        pids = [subprocess.Popen(["setsid", "sleep", "300"], **quiet).pid for _ in range(19)]
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                for fd in (0, 1, 2):
                    os.close(fd)
                time.sleep(300)
            os._exit(0)
        time.sleep(0.3)
        print("alive", sum(os.path.exists(f"/proc/{p}") for p in pids) + 1)
    """)
    result = sandbox.run(argv, workdir, env={"AF_MARKER": marker})
    assert result.exit_code == 0, result.output_tail
    assert "alive 20" in result.output_tail
    assert _processes_with(marker) == []


def test_a_fork_bomb_is_stopped_at_the_process_limit(sandbox: Sandbox, workdir: Path) -> None:
    _require(sandbox, "process_limit")
    marker = f"AF_BOMB_{uuid.uuid4().hex}"
    argv = _script(workdir, """
        import os, time
        made = 0
        try:
            for _ in range(200):
                if os.fork() == 0:
                    time.sleep(120)
                    os._exit(0)
                made += 1
        finally:
            print("forked", made, flush=True)
        time.sleep(120)
    """)
    result = sandbox.run(argv, workdir, limits=SandboxLimits(max_processes=32, wall_s=60),
                         env={"AF_MARKER": marker})
    assert result.limit == "processes", result.output_tail
    if sandbox.name == "bwrap":  # kernel-enforced: the 32nd task is refused
        assert int(result.output_tail.split("forked")[1].split()[0]) < 32
        assert result.exit_code == 1  # BlockingIOError ended it
    else:  # polled: the supervisor killed the tree (a burst may overshoot, as documented)
        assert result.exit_code is None
    assert result.duration_ms < 30_000
    assert _processes_with(marker) == []


def test_a_shell_fork_bomb_is_contained(sandbox: Sandbox, workdir: Path) -> None:
    if sandbox.name != "bwrap":
        pytest.skip("an unbounded fork bomb is only run under a kernel-enforced process limit")
    marker = f"AF_SHELLBOMB_{uuid.uuid4().hex}"
    result = sandbox.run(["bash", "-c", "b() { b | b & }; b; sleep 60"], workdir,
                         limits=SandboxLimits(max_processes=24, wall_s=2),
                         env={"AF_MARKER": marker})
    assert result.limit == "timeout"  # it keeps retrying forks at the limit until wall time
    assert "Resource temporarily unavailable" in result.output_tail
    assert result.duration_ms < 10_000
    assert _processes_with(marker) == []


def test_concurrent_runs_from_threads_stay_apart(sandbox: Sandbox, tmp_path: Path) -> None:
    dirs = []
    for i in range(6):
        d = tmp_path / f"ws{i}"
        d.mkdir()
        (d / "me.txt").write_text(f"workspace-{i}")
        dirs.append(d)
    code = "import time; time.sleep(0.2); print(open('me.txt').read())"
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda d: sandbox.run(["python", "-c", code], d), dirs))
    for i, result in enumerate(results):
        assert (result.exit_code, result.limit) == (0, None), result.output_tail
        assert result.output_tail.strip() == f"workspace-{i}"


_UNPRIVILEGED = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from aetherflow.validation.sandbox import SandboxLimits, get_sandbox
ws = Path(sys.argv[1])
out = {}
for mode in ("process", "bwrap"):
    sb = get_sandbox(mode)
    bomb = sb.run(["python3", "-c", "import os, time\\nfor _ in range(200):\\n"
                   "    if os.fork() == 0: time.sleep(30); os._exit(0)\\n"], ws,
                  limits=SandboxLimits(max_processes=16))
    cmd = "echo y > ../pwned-unpriv; echo z > ok.txt" if mode == "bwrap" else "true"
    write = sb.run(["sh", "-c", cmd], ws)
    net = sb.run(["python3", "-c", "import socket; print(sorted(n for _, n in "
                  "socket.if_nameindex()))"], ws)
    out[mode] = {"bomb": bomb.limit, "write": write.exit_code, "net": net.output_tail.strip(),
                 "desc": sb.description}
print(json.dumps(out))
"""


@pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/bin/python3").exists(),
                    reason="needs root to switch to an unprivileged uid, and /usr/bin/python3")
def test_an_unprivileged_caller_gets_the_same_limits() -> None:
    """Run as uid 65534 (bwrap then uses a user namespace, not a throwaway uid)."""
    if reason := bwrap_unavailable_reason():
        pytest.skip(f"bwrap cannot run here: {reason}")
    ws = Path(tempfile.mkdtemp(prefix="af-unpriv-"))
    try:
        os.chown(ws, 65534, 65534)
        proc = subprocess.run(
            ["/usr/bin/python3", "-I", "-c", _UNPRIVILEGED, str(ws), str(SRC)],
            user=65534, group=65534, extra_groups=[], capture_output=True, text=True,
            timeout=120, cwd="/", env={"PATH": "/usr/bin:/bin"})
        if proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr:
            pytest.skip(f"system python cannot import the sandbox: {proc.stderr[-300:]}")
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout.splitlines()[-1])
        assert out["bwrap"]["bomb"] == "processes"
        assert "your uid in a user namespace" in out["bwrap"]["desc"]
        assert out["bwrap"]["net"] == "['lo']"
        assert out["process"]["bomb"] == "processes"
        assert out["process"]["net"] == "['lo']"  # via an unprivileged user namespace
        assert not (ws.parent / "pwned-unpriv").exists()  # bwrap's attempt did not land
        assert (ws / "ok.txt").exists()
    finally:
        shutil.rmtree(ws, ignore_errors=True)
