"""The bubblewrap backend: namespaces, read-only binds, a throwaway uid, kernel-enforced limits.

As root, bwrap runs privileged (so it can bind interpreter dirs under a 0700 ``/root``) and the
check drops to a fresh unprivileged uid with ``setpriv``: the kernel enforces RLIMIT_NPROC only
for a non-root real uid, and a fresh uid counts exactly the check's tasks. The workspace is
chowned to that uid for the run and given back afterwards. As a normal user, bwrap makes a user
namespace (RLIMIT_NPROC is counted per namespace there) and the check keeps the caller's uid.
Limits are set by ``prlimit`` inside the sandbox, so bwrap itself is not bound by them.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from math import ceil
from pathlib import Path

from aetherflow.errors import SandboxError
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
    shell_exit_code,
    watch,
)

WORKSPACE = "/workspace"
"""Where the workdir appears inside the sandbox (and the check's cwd)."""
SANDBOX_HOME = "/tmp/home"
_SYSTEM_TOP = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
_ETC_FILES = ("ld.so.cache", "alternatives")
_ETC_DATA = {  # generated, not the host's: localhost resolves, nothing else is revealed
    "/etc/hosts": b"127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n",
    "/etc/nsswitch.conf": b"passwd: files\ngroup: files\nhosts: files\n",
}
_TOOL_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
_UID_BASE = 1 << 30  # throwaway uids are drawn from [2**30, 2**31)


def _is_under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


class MountPlan:
    """bwrap arguments that mount host paths at the same path, creating each missing parent dir
    explicitly (0755: privileged bwrap would make them 0700, unreadable for the check's uid) and
    skipping paths already visible through an earlier bind."""

    def __init__(self) -> None:
        self.args: list[str] = []
        self._dirs: set[str] = {"/"}
        self._binds: list[str] = []
        self._links: list[str] = []

    def visible(self, dest: str) -> bool:
        """Whether ``dest`` is already inside something bound or linked into the sandbox."""
        return any(_is_under(dest, b) for b in self._binds + self._links)

    def mkdirs(self, path: str) -> None:
        """Create ``path`` and its missing parents as sandbox dirs."""
        parts = Path(path).parts[1:]
        for i in range(1, len(parts) + 1):
            current = "/" + "/".join(parts[:i])
            if current not in self._dirs and not self.visible(current):
                self.args += ["--dir", current]
                self._dirs.add(current)

    def mounted(self, dest: str) -> None:
        """Record a mount made at ``dest`` by other arguments (tmpfs, proc, dev)."""
        self.mkdirs(str(Path(dest).parent))
        self._dirs.add(dest)

    def bind(self, src: str, dest: str, *, writable: bool = False) -> None:
        """Bind ``src`` at ``dest`` (read-only unless ``writable``), unless already visible."""
        if self.visible(dest):
            return
        self.mkdirs(str(Path(dest).parent))
        self.args += ["--bind" if writable else "--ro-bind", src, dest]
        self._binds.append(dest)

    def symlink(self, target: str, dest: str) -> None:
        """Create a symlink ``dest -> target`` (paths under ``dest`` then count as visible)."""
        self.args += ["--symlink", target, dest]
        self._links.append(dest)


def interpreter_paths() -> list[str]:
    """This interpreter's environment and base installation, as given and resolved."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths |= {os.path.realpath(p) for p in paths}
    return sorted(p for p in paths if p and p != "/")


def _host_paths(ro_paths: Sequence[Path]) -> list[str]:
    out: list[str] = []
    for raw in ro_paths:
        given = os.path.abspath(raw)
        if not os.path.exists(given):
            raise SandboxError(f"sandbox read-only path {raw} does not exist")
        real = os.path.realpath(given)
        out += [given] if real == given else [given, real]
    return out


def _find_tool(name: str) -> str | None:
    found = shutil.which(name, path=_TOOL_PATH)
    if found is None:
        return None
    real = os.path.realpath(found)
    return real if _is_under(real, "/usr") else None


def _data_fd(data: bytes) -> int:
    read_end, write_end = os.pipe()
    os.write(write_end, data)  # far below the pipe buffer: never blocks
    os.close(write_end)
    return read_end


def _hand_over(root: Path, uid: int, gid: int) -> None:
    """lchown ``root`` and everything below it to the check's uid (symlinks not followed),
    except files with more than one hard link: those share their inode with a file outside
    the workspace (a hard-link view of a project's read-only base) and must stay their
    owner's, so the check can replace them (new inode) but never write into them."""
    os.lchown(root, uid, gid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            with contextlib.suppress(FileNotFoundError):
                st = os.lstat(path)
                if stat.S_ISDIR(st.st_mode) or st.st_nlink == 1:
                    os.lchown(path, uid, gid)


def _give_back(root: Path, check_uid: int, uid: int, gid: int) -> None:
    """lchown ``root`` and every entry below it that the check's uid owns back to ``uid``
    (entries the check never owned, such as linked base files, are left alone)."""
    os.lchown(root, uid, gid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            with contextlib.suppress(FileNotFoundError):
                if os.lstat(path).st_uid == check_uid:
                    os.lchown(path, uid, gid)


class _NamespaceInit:
    """Reads bwrap's ``--info-fd`` JSON for the pid of the namespace's init and kills it:
    when a pid namespace's init dies, the kernel kills everything else in the namespace."""

    def __init__(self) -> None:
        self._buf = b""
        self._pidfd: int | None = None
        self._pid: int | None = None

    def feed(self, data: bytes) -> None:
        """Consume --info-fd output; open a pidfd for the init once its pid is known."""
        if self._pid is not None:
            return
        self._buf += data
        try:
            info = json.loads(self._buf)
        except ValueError:
            return
        self._pid = int(info["child-pid"])
        try:
            self._pidfd = os.pidfd_open(self._pid)
        except (ProcessLookupError, OSError):
            self._pidfd = None

    def kill(self) -> bool:
        """SIGKILL the init; False if its pid was never seen."""
        if self._pidfd is None:
            return self._pid is not None
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
        return True

    def end(self, timeout: float = 10.0) -> bool:
        """Kill the init and wait until it has exited; the kernel kills and reaps the rest of
        the namespace before that. Needed after bwrap itself exits: its monitor returns as soon
        as the check's status is known, while the namespace may still be alive (daemons that
        closed their output would outlive ``run`` by a few ms). False if still alive."""
        if self._pidfd is None:
            return True
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
        return bool(select.select([self._pidfd], [], [], timeout)[0])

    def close(self) -> None:
        """Release the pidfd."""
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None


class BwrapSandbox:
    """Checks in bubblewrap: mount, pid, net, ipc, uts namespaces; see the module docstring."""

    name = "bwrap"
    guarantees: frozenset[Guarantee] = frozenset(
        {"filesystem", "network", "environment", "limits", "process_limit", "reaping"})

    def __init__(self, bwrap: str, prlimit: str, setpriv: str | None) -> None:
        self._bwrap = bwrap
        self._prlimit = prlimit
        self._setpriv = setpriv  # set when running as root: the check drops to a throwaway uid
        #: Whether a hard-linked file in the workdir is safe from the check: as root the check
        #: runs as a throwaway uid and linked files are not handed to it, so a read-only linked
        #: file cannot be written (only replaced). In a user namespace the check keeps your uid,
        #: which owns the files and could make them writable again.
        self.protects_linked_files = setpriv is not None
        who = ("a throwaway unprivileged uid" if setpriv else "your uid in a user namespace")
        self.description = (
            "bwrap: own mount/pid/net/ipc/uts namespaces, only the workspace writable, system "
            f"and interpreter dirs read-only, runs as {who}; does NOT guarantee: a bound on "
            "total disk use in the workspace (only per-file size), a seccomp filter (full "
            "syscall surface), hiding the contents of the read-only dirs it binds")

    @classmethod
    def detect(cls) -> BwrapSandbox | str:
        """A working bwrap sandbox, or the reason there is none (runs one trivial check)."""
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            return "bwrap is not installed (Debian: apt-get install bubblewrap)"
        prlimit = _find_tool("prlimit")
        setpriv = _find_tool("setpriv") if os.geteuid() == 0 else None
        if prlimit is None or (os.geteuid() == 0 and setpriv is None):
            return "bwrap needs util-linux prlimit (and setpriv as root) under /usr"
        sandbox = cls(bwrap, prlimit, setpriv)
        with tempfile.TemporaryDirectory(prefix="aetherflow-probe-") as tmp:
            result = sandbox.run(["true"], Path(tmp), limits=SandboxLimits(wall_s=10.0))
        if result.exit_code != 0:
            why = result.output_tail.strip().splitlines()[-1:] or [f"exit {result.exit_code}"]
            return f"bwrap does not work here: {why[0]}"
        return sandbox

    def run(self, argv: Sequence[str], workdir: Path, *, limits: SandboxLimits = SandboxLimits(),
            ro_paths: Sequence[Path] = (), env: Mapping[str, str] | None = None
            ) -> SandboxResult:
        """Run ``argv`` in ``/workspace`` (the workdir) and return once the namespace is gone.

        As root the workdir tree is chowned to the check's throwaway uid for the run and back to
        its owner afterwards: do not run two checks on one workdir at once. Files with several
        hard links are not handed over (see :attr:`protects_linked_files`).
        """
        args, wd = check_call(argv, workdir)
        check_env = minimal_env(SANDBOX_HOME, "/tmp", env)
        extra_secrets = secrets_in(env)
        hosts = _host_paths(ro_paths)
        if self._setpriv is None:
            return self._run(args, wd, limits, hosts, check_env, None, extra_secrets)
        uid = _UID_BASE + secrets.randbelow(_UID_BASE - 2)
        owner = os.lstat(wd)
        try:
            try:
                _hand_over(wd, uid, uid)
            except OSError as exc:
                raise SandboxError(f"cannot hand the workdir {wd} to the sandbox's uid: {exc}"
                                   ) from exc
            return self._run(args, wd, limits, hosts, check_env, uid, extra_secrets)
        finally:
            _give_back(wd, uid, owner.st_uid, owner.st_gid)

    def command(self, argv: list[str], workdir: Path, limits: SandboxLimits,
                ro_paths: Sequence[str], uid: int | None, data_fds: Sequence[int],
                info_fd: int) -> list[str]:
        """The full bwrap command line for one check."""
        cmd = [self._bwrap, "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
               "--unshare-cgroup-try", "--die-with-parent", "--new-session",
               "--info-fd", str(info_fd)]
        if uid is None:
            cmd += ["--unshare-user", "--disable-userns"]
        plan = MountPlan()
        plan.args += ["--proc", "/proc", "--dev", "/dev",
                      "--perms", "1777", "--size", str(limits.max_tmp_bytes), "--tmpfs", "/tmp",
                      "--perms", "0777", "--dir", SANDBOX_HOME]
        for mount in ("/proc", "/dev", "/tmp", SANDBOX_HOME):
            plan.mounted(mount)
        plan.bind("/usr", "/usr")
        for top in _SYSTEM_TOP:
            path = "/" + top
            if os.path.islink(path):
                plan.symlink(os.readlink(path), path)
            elif os.path.isdir(path):
                plan.bind(path, path)
        for name in _ETC_FILES:
            if os.path.exists("/etc/" + name):
                plan.bind("/etc/" + name, "/etc/" + name)
        plan.mkdirs("/etc")
        for fd, dest in zip(data_fds, _ETC_DATA, strict=True):
            plan.args += ["--perms", "0444", "--ro-bind-data", str(fd), dest]
        for path in [*interpreter_paths(), *ro_paths]:
            plan.bind(path, path)
        plan.bind(str(workdir), WORKSPACE, writable=True)
        cmd += [*plan.args, "--chdir", WORKSPACE, "--remount-ro", "/"]
        if uid is not None:
            cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add",
                    "CAP_SETPCAP", "--", str(self._setpriv), f"--reuid={uid}", f"--regid={uid}",
                    "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"]
        else:
            cmd += ["--"]
        cpu = ceil(limits.cpu_s)
        cmd += [self._prlimit, f"--nproc={limits.max_processes}", f"--as={limits.memory_bytes}",
                f"--cpu={cpu}:{cpu + 1}", f"--fsize={limits.max_file_bytes}", "--core=0",
                "--", *argv]
        return cmd

    def _run(self, argv: list[str], workdir: Path, limits: SandboxLimits, ro_paths: list[str],
             env: dict[str, str], uid: int | None, extra_secrets: list[str]) -> SandboxResult:
        data_fds = [_data_fd(data) for data in _ETC_DATA.values()]
        info_r, info_w = os.pipe()
        init = _NamespaceInit()
        started = time.monotonic()
        try:
            cmd = self.command(argv, workdir, limits, ro_paths, uid, data_fds, info_w)
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, pass_fds=(*data_fds, info_w),
                                    env=env)
        except BaseException:
            os.close(info_r)
            raise
        finally:
            for fd in (*data_fds, info_w):
                os.close(fd)
        assert proc.stdout is not None
        tail = OutputTail(limits.max_output_bytes)

        def stop() -> None:
            if not init.kill():  # init not started yet: bwrap's --die-with-parent takes it down
                proc.kill()

        killed: LimitHit | None
        try:
            killed = watch(proc, {proc.stdout.fileno(): tail.feed, info_r: init.feed}, tail,
                           limits, started, stop, proc.kill)
            init.end()
        finally:
            init.close()
            os.close(info_r)
            proc.stdout.close()
        return make_result(backend=self.name, killed=killed,
                           exit_code=shell_exit_code(proc.returncode), tail=tail,
                           started=started, secrets=extra_secrets)


_lock = threading.Lock()
_detected: list[BwrapSandbox | str] = []


def detect_bwrap() -> BwrapSandbox | str:
    """:meth:`BwrapSandbox.detect`, once per process (thread-safe)."""
    with _lock:
        if not _detected:
            _detected.append(BwrapSandbox.detect())
        return _detected[0]
