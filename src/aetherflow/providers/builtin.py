"""The built-in providers' plugin: AetherFlow registers its own providers exactly the way a
third-party plugin does (entry point ``builtin = "aetherflow.providers.builtin:register"``
in the group ``aetherflow.providers``).

Each factory imports its provider's module when a provider is first created, not when the
registry loads: listing providers (``aetherflow providers``, ``plan check``) then never pays
for the HTTP stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aetherflow.providers.base import Provider, ProviderFactory, ProviderSettings
    from aetherflow.providers.registry import ProviderRegistry

__all__ = ["BUILTIN_PROVIDERS", "register"]

#: Provider name -> ``module:class`` of its implementation.
BUILTIN_PROVIDERS: dict[str, str] = {
    "openai-compatible": "aetherflow.providers.openai_compat:OpenAICompatibleProvider",
    "local": "aetherflow.providers.local:LocalProvider",
    "openai": "aetherflow.providers.presets:OpenAIProvider",
    "deepseek": "aetherflow.providers.presets:DeepSeekProvider",
    "groq": "aetherflow.providers.presets:GroqProvider",
    "mistral": "aetherflow.providers.mistral:MistralProvider",
    "anthropic": "aetherflow.providers.anthropic:AnthropicProvider",
    "gemini": "aetherflow.providers.gemini:GeminiProvider",
}


def lazy_factory(target: str) -> ProviderFactory:
    """A factory that imports ``module:class`` on its first call and builds the provider."""

    def create(settings: ProviderSettings) -> Provider:
        module, _, name = target.partition(":")
        cls = getattr(importlib.import_module(module), name)
        provider: Provider = cls(settings)
        return provider

    create.__qualname__ = create.__name__ = target.rpartition(":")[2]
    return create


def register(registry: ProviderRegistry) -> None:
    """Register every built-in provider (their specs are in :data:`PROVIDER_SPECS` already)."""
    for name, target in BUILTIN_PROVIDERS.items():
        registry.register_provider(name, lazy_factory(target))
