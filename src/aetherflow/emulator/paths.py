"""Where each provider's wire format lives on the emulator: a module of constants, so code
that only points a client at the emulator (``--emulator URL``) imports no server."""

from __future__ import annotations

__all__ = ["BASE_PATHS"]

BASE_PATHS: dict[str, str] = {
    "generic": "/v1",
    "openai": "/openai/v1",
    "deepseek": "/deepseek",
    "groq": "/groq/openai/v1",
    "mistral": "/mistral/v1",
    "anthropic": "/anthropic",
    "gemini": "/gemini",
}
"""Base URL path of each provider (clients append their usual endpoint path)."""
