"""Registers the built-in providers (imported lazily by the registry).

Every built-in goes through :func:`~aetherflow.providers.base.register_provider`, the
same path a third-party provider uses.
"""

from __future__ import annotations

from aetherflow.providers.anthropic import AnthropicProvider
from aetherflow.providers.base import register_provider
from aetherflow.providers.gemini import GeminiProvider
from aetherflow.providers.local import LocalProvider
from aetherflow.providers.mistral import MistralProvider
from aetherflow.providers.openai_compat import OpenAICompatibleProvider
from aetherflow.providers.presets import DeepSeekProvider, GroqProvider, OpenAIProvider

register_provider("openai-compatible", OpenAICompatibleProvider)
register_provider("local", LocalProvider)
register_provider("openai", OpenAIProvider)
register_provider("deepseek", DeepSeekProvider)
register_provider("groq", GroqProvider)
register_provider("mistral", MistralProvider)
register_provider("anthropic", AnthropicProvider)
register_provider("gemini", GeminiProvider)
