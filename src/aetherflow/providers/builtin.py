"""The built-in providers' plugin: AetherFlow registers its own providers exactly the way a
third-party plugin does (entry point ``builtin = "aetherflow.providers.builtin:register"``
in the group ``aetherflow.providers``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aetherflow.providers.anthropic import AnthropicProvider
from aetherflow.providers.gemini import GeminiProvider
from aetherflow.providers.local import LocalProvider
from aetherflow.providers.mistral import MistralProvider
from aetherflow.providers.openai_compat import OpenAICompatibleProvider
from aetherflow.providers.presets import DeepSeekProvider, GroqProvider, OpenAIProvider

if TYPE_CHECKING:
    from aetherflow.providers.registry import ProviderRegistry

__all__ = ["register"]


def register(registry: ProviderRegistry) -> None:
    """Register every built-in provider (their specs are in :data:`PROVIDER_SPECS` already)."""
    registry.register_provider("openai-compatible", OpenAICompatibleProvider)
    registry.register_provider("local", LocalProvider)
    registry.register_provider("openai", OpenAIProvider)
    registry.register_provider("deepseek", DeepSeekProvider)
    registry.register_provider("groq", GroqProvider)
    registry.register_provider("mistral", MistralProvider)
    registry.register_provider("anthropic", AnthropicProvider)
    registry.register_provider("gemini", GeminiProvider)
