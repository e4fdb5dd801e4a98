"""Stale embedded-server cleanup: the decision, on fake /proc data (nothing is killed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aetherflow.providers.local_pidfiles import (
    ProcStat,
    ServerPidFile,
    clean_stale_servers,
    decide,
    new_pid_file,
    parse_proc_stat,
    read_cmdline,
    read_proc_stat,
    remove_pid_file,
    servers_dir,
    write_pid_file,
)

SERVER_CMD = ["/venv/bin/python", "-m", "llama_cpp.server", "--port", "41234"]
OWNER, SERVER = 1000, 2000


def _stat_line(pid: int, start: int, state: str = "S", comm: str = "python") -> str:
    # Fields 3.. after "(comm)"; field 22 (index 19 after the state) is the start time.
    rest = [state] + ["0"] * 18 + [str(start)] + ["0"] * 30
    return f"{pid} ({comm}) " + " ".join(rest) + "\n"


def _fake_proc(root: Path, pid: int, start: int, cmdline: list[str] | None,
               state: str = "S") -> None:
    d = root / str(pid)
    d.mkdir(parents=True, exist_ok=True)
    (d / "stat").write_text(_stat_line(pid, start, state))
    raw = b"" if cmdline is None else "\0".join(cmdline).encode() + b"\0"
    (d / "cmdline").write_bytes(raw)


def _entry(**over: object) -> ServerPidFile:
    data: dict[str, object] = dict(pid=SERVER, cmdline=SERVER_CMD, owner_pid=OWNER,
                                   owner_start_time=500, port=41234,
                                   started_at="2025-01-01T00:00:00+00:00",
                                   server_start_time=600)
    data.update(over)
    return ServerPidFile.model_validate(data)


def test_parse_proc_stat_handles_parentheses_and_spaces_in_the_name() -> None:
    stat = parse_proc_stat(_stat_line(42, 987654, "S", comm="a) (b c"))
    assert stat == ProcStat(state="S", start_time=987654)
    assert not stat.zombie and parse_proc_stat(_stat_line(1, 5, "Z")).zombie


def test_read_real_proc_for_this_process() -> None:
    import os

    me = read_proc_stat(os.getpid())
    assert me is not None and me.start_time > 0 and not me.zombie
    cmd = read_cmdline(os.getpid())
    assert cmd is not None and "pytest" in " ".join(cmd)
    assert read_proc_stat(2**22 + 12345) is None and read_cmdline(2**22 + 12345) is None


@pytest.mark.parametrize(
    ("owner", "server", "cmdline", "expected"),
    [
        # The owner still runs (same start time): never touched, whatever the server is.
        (ProcStat("S", 500), ProcStat("S", 600), SERVER_CMD, "keep"),
        # Owner dead, server alive with the exact command line: killed.
        (None, ProcStat("S", 600), SERVER_CMD, "kill"),
        # Owner's pid reused by another process (other start time): the owner is dead.
        (ProcStat("S", 501), ProcStat("S", 600), SERVER_CMD, "kill"),
        # Owner is a zombie: dead.
        (ProcStat("Z", 500), ProcStat("S", 600), SERVER_CMD, "kill"),
        # Server already gone, or a zombie: just forget the file.
        (None, None, None, "forget"),
        (None, ProcStat("Z", 600), None, "forget"),
        # Server pid now runs something else: never killed.
        (None, ProcStat("S", 600), ["/usr/bin/vim", "notes.txt"], "forget"),
        (None, ProcStat("S", 600), [*SERVER_CMD, "--extra"], "forget"),
        # Same command line but another start time: the pid was reused; never killed.
        (None, ProcStat("S", 601), SERVER_CMD, "forget"),
    ],
)
def test_decide(owner: ProcStat | None, server: ProcStat | None,
                cmdline: list[str] | None, expected: str) -> None:
    action, reason = decide(_entry(), owner, server, cmdline)
    assert action == expected, reason
    assert reason


def test_decide_without_a_recorded_server_start_time_relies_on_the_command_line() -> None:
    entry = _entry(server_start_time=None)
    assert decide(entry, None, ProcStat("S", 999), SERVER_CMD)[0] == "kill"
    assert decide(entry, None, ProcStat("S", 999), ["other"])[0] == "forget"


def test_clean_stale_servers_on_fake_proc(tmp_path: Path) -> None:
    proc, pids = tmp_path / "proc", tmp_path / "servers"
    # 1: dead owner, live matching server -> killed and removed.
    _fake_proc(proc, 2001, 600, SERVER_CMD)
    write_pid_file(_entry(pid=2001, owner_pid=1001), pids)
    # 2: live owner -> kept.
    _fake_proc(proc, 1002, 500, ["aetherflow"])
    _fake_proc(proc, 2002, 600, SERVER_CMD)
    write_pid_file(_entry(pid=2002, owner_pid=1002), pids)
    # 3: dead owner, the pid now runs another program -> file removed, nothing killed.
    _fake_proc(proc, 2003, 600, ["/usr/bin/sleep", "100"])
    write_pid_file(_entry(pid=2003, owner_pid=1003), pids)
    # 4: dead owner, server gone -> file removed.
    write_pid_file(_entry(pid=2004, owner_pid=1004), pids)
    # 5: garbage -> removed; temp files of a writer in progress are left alone.
    (pids / "2005.json").write_text("{not json")
    (pids / ".2006.json.tmp").write_text("{")
    killed: list[int] = []

    done = clean_stale_servers(pids, proc=proc, kill=killed.append)

    assert killed == [2001]
    assert {d.pid: d.action for d in done} == {2001: "kill", 2002: "keep", 2003: "forget",
                                                2004: "forget", None: "forget"}
    assert sorted(p.name for p in pids.iterdir()) == [".2006.json.tmp", "2002.json"]


def test_clean_stale_servers_without_a_directory(tmp_path: Path) -> None:
    assert clean_stale_servers(tmp_path / "nope", proc=tmp_path) == []


def test_pid_file_round_trip_and_default_location(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AETHERFLOW_HOME", str(tmp_path))
    assert servers_dir() == tmp_path / "servers"
    import os

    entry = new_pid_file(os.getpid(), SERVER_CMD, 41234)
    assert entry is not None and entry.owner_pid == os.getpid()
    me = read_proc_stat(os.getpid())
    assert me is not None and entry.owner_start_time == me.start_time
    assert entry.server_start_time == me.start_time
    path = write_pid_file(entry)
    assert path == tmp_path / "servers" / f"{os.getpid()}.json"
    data = json.loads(path.read_text())
    assert set(data) == {"pid", "cmdline", "owner_pid", "owner_start_time", "port",
                         "started_at", "server_start_time"}
    assert ServerPidFile.model_validate(data) == entry
    # Our own entry: the owner (this process) runs, so it is kept.
    assert [d.action for d in clean_stale_servers()] == ["keep"]
    remove_pid_file(path)
    remove_pid_file(path)  # idempotent
    remove_pid_file(None)
    assert not path.exists()


def test_new_pid_file_without_proc(tmp_path: Path) -> None:
    assert new_pid_file(1, SERVER_CMD, 1, proc=tmp_path) is None
