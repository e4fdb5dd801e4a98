"""Supervisor of the ``process`` fallback: runs one check and leaves no process behind.

Executed as ``python -I -S _supervisor.py CONFIG_HEX STATUS_FD`` (CONFIG_HEX is a
``marshal``-encoded dict in hex; same interpreter on both sides). It makes itself a child
subreaper (orphans of the check, ``setsid`` daemons included, are re-parented to it), optionally
enters a private network namespace, forks the check in a new session with rlimits, polls the
check's process tree against the process limit, and on the check's exit, SIGTERM/SIGINT, or its
parent's death kills every descendant and reaps it. The outcome is one ``marshal``-encoded dict
written to STATUS_FD.

Standard library only and start-up cost matters (it runs once per check): it never imports
aetherflow, and uses ``marshal``/``_signal``/libc instead of json, signal and socket, which
import enum, re and typing.
"""

from __future__ import annotations

import _signal
import ctypes
import fcntl
import marshal
import os
import resource
import select
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing alone would add ~7 ms to every start
    from typing import Any

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
AF_INET, SOCK_DGRAM = 2, 2

_libc = ctypes.CDLL(None, use_errno=True)
_stop: list[int] = []


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _loopback_up() -> None:
    fd = _libc.socket(AF_INET, SOCK_DGRAM, 0)
    if fd < 0:
        return
    try:
        ifreq = b"lo".ljust(40, b"\0")  # struct ifreq: 16-byte name, then ifr_flags
        flags = int.from_bytes(fcntl.ioctl(fd, SIOCGIFFLAGS, ifreq)[16:18], "little")
        fcntl.ioctl(fd, SIOCSIFFLAGS, ifreq[:16] + (flags | IFF_UP).to_bytes(2, "little")
                    + ifreq[18:])
    except OSError:
        pass
    finally:
        os.close(fd)


def private_network() -> bool:
    """Enter a new network namespace (only ``lo``, up); via a user namespace if not root."""
    uid, gid = os.getuid(), os.getgid()
    if _libc.unshare(CLONE_NEWNET) != 0:
        if _libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
            return False
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    _loopback_up()
    return True


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return found


def _children_by_scan() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry))
    return tree


_HAS_CHILDREN_FILE = os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def descendants(root: int) -> list[int]:
    """Every process below ``root`` (via /proc/PID/task/TID/children, or a /proc scan)."""
    tree = None if _HAS_CHILDREN_FILE else _children_by_scan()
    found: list[int] = []
    stack = [root]
    while stack:
        pid = stack.pop()
        kids = _children(pid) if tree is None else tree.get(pid, [])
        found += kids
        stack += kids
    return found


def kill_all() -> None:
    """SIGKILL every descendant and reap until this process has no child left."""
    me = os.getpid()
    while True:
        for pid in descendants(me):
            try:
                os.kill(pid, _signal.SIGKILL)
            except ProcessLookupError:
                continue
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            return
        time.sleep(0.002)


def _exec_check(cfg: dict[str, Any]) -> None:
    argv: list[str] = cfg["argv"]
    try:
        os.setsid()
        os.chdir(cfg["cwd"])
        for sig in (_signal.SIGTERM, _signal.SIGINT, _signal.SIGCHLD, _signal.SIGPIPE,
                    _signal.SIGXFSZ):
            _signal.signal(sig, _signal.SIG_DFL)
        for name, (soft, hard) in cfg["rlimits"].items():
            which = getattr(resource, name)
            ceiling = resource.getrlimit(which)[1]
            if ceiling != resource.RLIM_INFINITY:
                soft, hard = min(soft, ceiling), min(hard, ceiling)
            resource.setrlimit(which, (soft, hard))
        os.execvpe(argv[0], argv, cfg["env"])
    except OSError as exc:
        os.write(2, f"sandbox: cannot run {argv[0]!r}: {exc.strerror}\n".encode())
    except BaseException as exc:
        os.write(2, f"sandbox: cannot run {argv[0]!r}: {exc}\n".encode())
    os._exit(127)


def supervise(cfg: dict[str, Any], status_fd: int) -> None:
    """Run the check described by ``cfg`` and write its outcome to ``status_fd``."""
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    _libc.prctl(PR_SET_PDEATHSIG, _signal.SIGTERM, 0, 0, 0)
    for sig in (_signal.SIGTERM, _signal.SIGINT):
        _signal.signal(sig, lambda signum, frame: _stop.append(signum))
    if os.getppid() != cfg["parent"]:
        _stop.append(0)  # the caller died before the death signal was armed
    netns = bool(cfg["network"]) and private_network()
    status: dict[str, Any] = {"netns": netns, "exit_code": None, "limit": None}
    wake_r, wake_w = os.pipe()  # SIGCHLD and SIGTERM wake the poll loop at once
    os.set_blocking(wake_w, False)
    _signal.set_wakeup_fd(wake_w)
    _signal.signal(_signal.SIGCHLD, lambda signum, frame: None)
    check = os.fork()
    if check == 0:
        _signal.set_wakeup_fd(-1)
        _exec_check(cfg)
    while True:
        try:
            while True:
                pid, wstatus = os.waitpid(-1, os.WNOHANG)
                if pid == 0:
                    break
                if pid == check:
                    code = os.waitstatus_to_exitcode(wstatus)
                    status["exit_code"] = 128 - code if code < 0 else code
        except ChildProcessError:
            pass
        if status["exit_code"] is not None or _stop:
            break
        if len(descendants(os.getpid())) > cfg["max_processes"]:
            status["limit"] = "processes"
            break
        if select.select([wake_r], [], [], cfg["poll_s"])[0]:
            os.read(wake_r, 4096)
    kill_all()
    os.write(status_fd, marshal.dumps(status))


if __name__ == "__main__":
    _fd = int(sys.argv[2])
    os.set_inheritable(_fd, False)
    supervise(marshal.loads(bytes.fromhex(sys.argv[1])), _fd)
