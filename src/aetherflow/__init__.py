"""AetherFlow: run LLM code-generation plans across providers and measure everything.

This module stays light: every ``aetherflow`` command imports it first, so the version
(read from the installed package metadata, ~40 ms of imports) is looked up only when
``aetherflow.__version__`` is asked for.
"""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    """``__version__``, read from the package metadata on first use."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        value = version("aetherflow")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        value = "0.0.0+source"
    globals()["__version__"] = value
    return value
