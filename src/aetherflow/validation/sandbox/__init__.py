"""Run untrusted validation checks (pytest, ruff, shell commands) in a sandbox.

``get_sandbox("auto")`` gives bubblewrap when it works on this machine, else the weaker
``process`` fallback; ``get_sandbox("bwrap")`` never downgrades silently (it raises
:class:`~aetherflow.errors.SandboxError` with the reason). Every :class:`SandboxResult` names the
backend that ran it and every backend has a one-line ``description`` of what it does not
guarantee. ``run`` is thread-safe and may be called from several threads at once (one workdir
per call). See ``docs/sandbox.md``.
"""

from __future__ import annotations

from aetherflow.errors import SandboxError
from aetherflow.validation.sandbox._base import (
    Guarantee,
    LimitHit,
    Sandbox,
    SandboxLimits,
    SandboxMode,
    SandboxResult,
    classify_limit,
    scrub_secrets,
)
from aetherflow.validation.sandbox._bwrap import WORKSPACE, BwrapSandbox, detect_bwrap
from aetherflow.validation.sandbox._process import ProcessSandbox, detect_process

__all__ = [
    "WORKSPACE",
    "BwrapSandbox",
    "Guarantee",
    "LimitHit",
    "ProcessSandbox",
    "Sandbox",
    "SandboxLimits",
    "SandboxMode",
    "SandboxResult",
    "bwrap_unavailable_reason",
    "classify_limit",
    "get_sandbox",
    "scrub_secrets",
]


def bwrap_unavailable_reason() -> str | None:
    """Why the bwrap backend cannot run here, or ``None`` if it works (probed once)."""
    found = detect_bwrap()
    return found if isinstance(found, str) else None


def get_sandbox(mode: SandboxMode = "auto") -> Sandbox:
    """The sandbox for ``mode``: ``bwrap``, ``process``, or ``auto`` (bwrap if it works here,
    else process). Backends are probed once per process and shared.

    Raises:
        SandboxError: ``mode`` is unknown, or ``bwrap`` was asked for and cannot run here.
    """
    if mode == "process":
        return detect_process()
    if mode not in ("auto", "bwrap"):
        raise SandboxError(f"unknown sandbox {mode!r}: use auto, bwrap or process")
    found = detect_bwrap()
    if isinstance(found, BwrapSandbox):
        return found
    if mode == "bwrap":
        raise SandboxError(f"--sandbox bwrap is not available: {found} "
                           "(use --sandbox process or auto for the weaker fallback)")
    return detect_process()
