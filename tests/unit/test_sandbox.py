"""The sandbox's pure parts: limits, environment, secret scrubbing, output tail, limit
classification, the bwrap command line, backend selection and the public exports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import aetherflow.validation as validation
import aetherflow.validation.sandbox as sandbox_pkg
from aetherflow.errors import ConfigError, SandboxError
from aetherflow.validation.sandbox import (
    WORKSPACE,
    BwrapSandbox,
    ProcessSandbox,
    SandboxLimits,
    classify_limit,
    get_sandbox,
    scrub_secrets,
)
from aetherflow.validation.sandbox import _bwrap as bwrap_mod
from aetherflow.validation.sandbox._base import (
    OutputTail,
    _scrub_tail,
    check_call,
    minimal_env,
    secret_values,
    shell_exit_code,
    watch,
)
from aetherflow.validation.sandbox._bwrap import MountPlan, interpreter_paths


def test_exports_are_pinned() -> None:
    assert validation.__all__ == ["LimitHit", "Sandbox", "SandboxLimits", "SandboxMode",
                                  "SandboxResult", "get_sandbox", "scrub_secrets"]
    assert set(sandbox_pkg.__all__) == {
        "WORKSPACE", "BwrapSandbox", "Guarantee", "LimitHit", "ProcessSandbox", "Sandbox",
        "SandboxLimits", "SandboxMode", "SandboxResult", "bwrap_unavailable_reason",
        "classify_limit", "get_sandbox", "scrub_secrets"}
    assert issubclass(SandboxError, ConfigError)


def test_limits_have_the_documented_defaults_and_reject_nonsense() -> None:
    limits = SandboxLimits()
    assert (limits.wall_s, limits.cpu_s, limits.memory_bytes, limits.max_processes,
            limits.max_output_bytes, limits.max_file_bytes) == (
        60.0, 60.0, 1 << 30, 64, 16_384, 64 << 20)
    for bad in ({"wall_s": 0}, {"memory_bytes": -1}, {"max_processes": 0}):
        with pytest.raises(SandboxError, match=next(iter(bad))):
            SandboxLimits(**bad)  # type: ignore[arg-type]


def test_scrub_secrets_replaces_secret_looking_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-deepseek-0123456789")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_abcdefgh")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws/secret/value")
    monkeypatch.setenv("DB_PASSWORD", "hunter2hunter2")
    monkeypatch.setenv("SHORT_TOKEN", "abc")  # too short to redact safely
    monkeypatch.setenv("EDITOR_NAME", "not-a-secret-value")
    text = ("key sk-deepseek-0123456789 tok ghp_abcdefgh aws aws/secret/value "
            "pw hunter2hunter2 short abc editor not-a-secret-value extra s3cr3t")
    assert scrub_secrets(text, extra=["s3cr3t", ""]) == (
        "key [redacted] tok [redacted] aws [redacted] pw [redacted] short abc "
        "editor not-a-secret-value extra [redacted]")


def test_longest_secret_is_replaced_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("A_TOKEN", "abcdefgh")
    monkeypatch.setenv("B_TOKEN", "abcdefgh-longer")
    assert secret_values()[:2] == ["abcdefgh-longer", "abcdefgh"]
    assert scrub_secrets("x abcdefgh-longer y") == "x [redacted] y"


def test_a_secret_cut_by_the_tail_window_is_still_redacted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_API_KEY", "sk-0123456789abcdef")
    assert _scrub_tail("89abcdef rest", True, ()) == "[redacted] rest"
    assert _scrub_tail("89abcdef rest", False, ()) == "89abcdef rest"


def test_minimal_env_inherits_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-pass")
    env = minimal_env("/h", "/t", {"EXTRA": "1"})
    assert env == {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin", "HOME": "/h",
        "TMPDIR": "/t", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1", "EXTRA": "1"}
    assert minimal_env("/h", "/t", {"PATH": "/x"})["PATH"] == "/x"
    with pytest.raises(SandboxError, match="str=str"):
        minimal_env("/h", "/t", {"A=B": "1"})


def test_check_call_rejects_empty_commands_and_missing_workdirs(tmp_path: Path) -> None:
    assert check_call(("python", "-V"), tmp_path) == (["python", "-V"], tmp_path.resolve())
    with pytest.raises(SandboxError, match="non-empty"):
        check_call([], tmp_path)
    with pytest.raises(SandboxError, match="not a directory"):
        check_call(["true"], tmp_path / "missing")


def test_output_tail_keeps_the_last_bytes_in_bounded_memory() -> None:
    tail = OutputTail(10)
    for i in range(10_000):
        tail.feed(f"line{i}\n".encode())
    assert tail.text() == "\nline9999\n"[-10:]
    assert tail.truncated and tail.total == sum(len(f"line{i}\n") for i in range(10_000))
    assert len(tail._buf) <= 2 * 10 + 65_536 + 16
    short = OutputTail(100)
    short.feed(b"ok\n")
    assert (short.text(), short.truncated) == ("ok\n", False)


@pytest.mark.parametrize(("killed", "code", "tail", "expected"), [
    ("timeout", None, "MemoryError", "timeout"),
    ("output", None, "", "output"),
    (None, 0, "MemoryError", None),
    (None, 128 + signal.SIGXCPU, "", "cpu"),
    (None, 128 + signal.SIGXFSZ, "", "file_size"),
    (None, 1, "Traceback...\nMemoryError\n", "memory"),
    (None, 1, "OSError: [Errno 27] File too large\n", "file_size"),
    (None, 1, "BlockingIOError: [Errno 11] Resource temporarily unavailable\n", "processes"),
    (None, 2, "sh: 1: Cannot fork\n", "processes"),
    (None, 1, "MemoryError earlier\nthen: can't start new thread\n", "processes"),
    (None, 1, "AssertionError: 1 != 2\n", None),
])
def test_classify_limit(killed: str | None, code: int | None, tail: str,
                        expected: str | None) -> None:
    assert classify_limit(killed, code, tail) == expected  # type: ignore[arg-type]


def test_shell_exit_code() -> None:
    assert (shell_exit_code(0), shell_exit_code(3), shell_exit_code(-9)) == (0, 3, 137)


def test_mount_plan_creates_readable_parents_and_skips_covered_paths() -> None:
    plan = MountPlan()
    plan.mounted("/tmp")
    plan.bind("/usr", "/usr")
    plan.symlink("usr/bin", "/bin")
    plan.bind("/usr/lib/python3", "/usr/lib/python3")  # already visible through /usr
    plan.bind("/bin/extra", "/bin/extra")  # visible through the /bin symlink
    plan.bind("/root/.pyenv/versions/3.11", "/root/.pyenv/versions/3.11")
    plan.bind("/tmp/proj/.venv", "/tmp/proj/.venv")
    plan.bind("/ws", "/workspace", writable=True)
    assert plan.args == [
        "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin",
        "--dir", "/root", "--dir", "/root/.pyenv", "--dir", "/root/.pyenv/versions",
        "--ro-bind", "/root/.pyenv/versions/3.11", "/root/.pyenv/versions/3.11",
        "--dir", "/tmp/proj", "--ro-bind", "/tmp/proj/.venv", "/tmp/proj/.venv",
        "--bind", "/ws", "/workspace"]


def _command(setpriv: str | None) -> list[str]:
    sandbox = BwrapSandbox("/usr/bin/bwrap", "/usr/bin/prlimit", setpriv)
    limits = SandboxLimits(cpu_s=2.5, memory_bytes=1 << 28, max_processes=7,
                           max_file_bytes=1000, max_tmp_bytes=4096)
    return sandbox.command(["python", "-m", "pytest"], Path("/host/ws"), limits,
                           ["/opt/venv"], 4242 if setpriv else None, [4, 5], 6)


def test_bwrap_command_as_root_drops_to_a_throwaway_uid() -> None:
    cmd = " ".join(_command("/usr/bin/setpriv"))
    assert cmd.startswith("/usr/bin/bwrap --unshare-ipc --unshare-pid --unshare-net "
                          "--unshare-uts --unshare-cgroup-try --die-with-parent --new-session "
                          "--info-fd 6 ")
    assert "--unshare-user" not in cmd
    assert "--perms 1777 --size 4096 --tmpfs /tmp" in cmd
    assert ("--perms 0444 --ro-bind-data 4 /etc/hosts --perms 0444 --ro-bind-data 5 "
            "/etc/nsswitch.conf") in cmd
    assert "--ro-bind /opt/venv /opt/venv" in cmd
    assert f"--bind /host/ws {WORKSPACE} --chdir {WORKSPACE} --remount-ro /" in cmd
    for prefix in interpreter_paths():
        assert f" {prefix} " in cmd or prefix.startswith("/usr")
    assert cmd.endswith(
        "--cap-add CAP_SETUID --cap-add CAP_SETGID --cap-add CAP_SETPCAP -- /usr/bin/setpriv "
        "--reuid=4242 --regid=4242 --clear-groups --inh-caps=-all --bounding-set=-all "
        "/usr/bin/prlimit --nproc=7 --as=268435456 --cpu=3:4 --fsize=1000 --core=0 "
        "-- python -m pytest")
    assert " / / " not in cmd and "--bind / " not in cmd and "--ro-bind / " not in cmd


def test_bwrap_command_unprivileged_uses_a_user_namespace() -> None:
    cmd = " ".join(_command(None))
    assert "--unshare-user --disable-userns" in cmd and "setpriv" not in cmd
    assert cmd.endswith("--remount-ro / -- /usr/bin/prlimit --nproc=7 --as=268435456 "
                        "--cpu=3:4 --fsize=1000 --core=0 -- python -m pytest")


def test_detect_reports_a_missing_bwrap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert BwrapSandbox.detect() == (
        "bwrap is not installed (Debian: apt-get install bubblewrap)")


def test_detect_reports_a_bwrap_that_fails(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\n"
                    "exit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    assert BwrapSandbox.detect() == (
        "bwrap does not work here: bwrap: No permissions to create new namespace")


def test_get_sandbox_never_downgrades_an_explicit_bwrap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bwrap_mod, "_detected", ["bwrap is not installed (test)"])
    with pytest.raises(SandboxError, match=r"bwrap is not available: bwrap is not installed "
                                           r"\(test\).*--sandbox process"):
        get_sandbox("bwrap")
    auto = get_sandbox("auto")
    assert isinstance(auto, ProcessSandbox) and auto is get_sandbox("process")
    assert sandbox_pkg.bwrap_unavailable_reason() == "bwrap is not installed (test)"
    with pytest.raises(SandboxError, match="unknown sandbox 'docker'"):
        get_sandbox("docker")  # type: ignore[arg-type]


def test_get_sandbox_prefers_a_working_bwrap(monkeypatch: pytest.MonkeyPatch) -> None:
    working = BwrapSandbox("/usr/bin/bwrap", "/usr/bin/prlimit", None)
    monkeypatch.setattr(bwrap_mod, "_detected", [working])
    assert get_sandbox("auto") is working and get_sandbox("bwrap") is working
    assert sandbox_pkg.bwrap_unavailable_reason() is None


def test_descriptions_say_what_is_not_guaranteed() -> None:
    assert "does NOT guarantee" in BwrapSandbox("b", "p", "s").description
    assert "throwaway unprivileged uid" in BwrapSandbox("b", "p", "s").description
    weak = ProcessSandbox(network=False)
    assert "NO filesystem isolation" in weak.description
    assert "NO network isolation" in weak.description and "network" not in weak.guarantees
    assert "network" in ProcessSandbox(network=True).guarantees
    assert "filesystem" not in ProcessSandbox(network=True).guarantees


def test_a_workdir_that_cannot_change_owner_is_one_clear_error(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[int] = []

    def refuse(path: object, uid: int, gid: int) -> None:
        calls.append(uid)
        if uid != os.getuid():
            raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "lchown", refuse)
    sandbox = BwrapSandbox("/nonexistent/bwrap", "/usr/bin/prlimit", "/usr/bin/setpriv")
    with pytest.raises(SandboxError, match=r"cannot hand the workdir .* Operation not permitted"):
        sandbox.run(["true"], tmp_path)
    assert calls[-1] == os.getuid()  # handed back even though the run never started


def test_an_interrupted_watch_ends_the_check() -> None:
    proc = subprocess.Popen(["sh", "-c", "echo hi; exec sleep 30"], stdout=subprocess.PIPE)
    assert proc.stdout is not None

    def interrupt(data: bytes) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        watch(proc, {proc.stdout.fileno(): interrupt}, OutputTail(100), SandboxLimits(),
              time.monotonic(), proc.kill, proc.kill)
    proc.stdout.close()
    assert proc.poll() == -signal.SIGKILL
