"""AetherFlow: run LLM code-generation plans across providers and measure everything."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("aetherflow")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
