"""AetherFlow validation: running a step's checks (the sandbox that executes them)."""

from aetherflow.validation.sandbox import (
    LimitHit,
    Sandbox,
    SandboxLimits,
    SandboxMode,
    SandboxResult,
    get_sandbox,
    scrub_secrets,
)

__all__ = [
    "LimitHit",
    "Sandbox",
    "SandboxLimits",
    "SandboxMode",
    "SandboxResult",
    "get_sandbox",
    "scrub_secrets",
]
