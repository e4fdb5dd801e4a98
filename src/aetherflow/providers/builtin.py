"""Registers the built-in providers (imported lazily by the registry)."""

from __future__ import annotations

from aetherflow.providers.base import register_provider
from aetherflow.providers.local import LocalProvider
from aetherflow.providers.openai_compat import OpenAICompatibleProvider

register_provider("openai-compatible", OpenAICompatibleProvider)
register_provider("local", LocalProvider)
