"""PLACEHOLDER until the sandbox branch lands: the sandbox API with a bare subprocess backend.

Replaced wholesale by the real module (bubblewrap + a documented fallback).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

__all__ = ["LimitHit", "Sandbox", "SandboxLimits", "SandboxMode", "SandboxResult",
           "get_sandbox", "scrub_secrets"]

SandboxMode = Literal["auto", "bwrap", "process"]
LimitHit = Literal["timeout", "cpu", "memory", "processes", "output", "file_size"]


@dataclass(frozen=True)
class SandboxLimits:
    """Limits of one sandboxed command."""

    wall_s: float = 60.0
    cpu_s: float = 60.0
    memory_bytes: int = 1 << 30
    max_processes: int = 64
    max_output_bytes: int = 16_384
    max_file_bytes: int = 64 << 20


@dataclass(frozen=True)
class SandboxResult:
    """What a sandboxed command did."""

    exit_code: int | None
    output_tail: str
    output_truncated: bool
    duration_ms: float
    limit: LimitHit | None
    backend: str


class Sandbox(Protocol):
    """Runs a command in isolation."""

    name: str
    description: str

    def run(self, argv: Sequence[str], workdir: Path, *, limits: SandboxLimits = SandboxLimits(),
            ro_paths: Sequence[Path] = (), env: Mapping[str, str] | None = None,
            ) -> SandboxResult:
        """Run ``argv`` in ``workdir``."""
        ...


def scrub_secrets(text: str, extra: Sequence[str] = ()) -> str:
    """Replace secret-looking environment values (and ``extra``) with ``[redacted]``."""
    secrets = [v for k, v in os.environ.items() if len(v) >= 8 and any(
        m in k.upper() for m in ("API_KEY", "TOKEN", "SECRET", "PASSWORD"))]
    for s in [*secrets, *extra]:
        if s:
            text = text.replace(s, "[redacted]")
    return text


class _Plain:
    name = "process"
    description = "placeholder: a plain subprocess (no isolation)"

    def run(self, argv: Sequence[str], workdir: Path, *, limits: SandboxLimits = SandboxLimits(),
            ro_paths: Sequence[Path] = (), env: Mapping[str, str] | None = None,
            ) -> SandboxResult:
        start = time.perf_counter()
        path = f"{Path(sys.executable).parent}:/usr/bin:/bin"
        try:
            out = subprocess.run(list(argv), cwd=workdir, capture_output=True,
                                 timeout=limits.wall_s, env={"PATH": path, **(env or {})},
                                 check=False)
            text = (out.stdout + out.stderr).decode("utf-8", "replace")
            code: int | None = out.returncode
            hit: LimitHit | None = None
        except subprocess.TimeoutExpired:
            text, code, hit = "", None, "timeout"
        tail = text[-limits.max_output_bytes:]
        return SandboxResult(code, scrub_secrets(tail), len(text) > len(tail),
                             (time.perf_counter() - start) * 1e3, hit, self.name)


def get_sandbox(mode: SandboxMode = "auto") -> Sandbox:
    """The placeholder backend."""
    return _Plain()
