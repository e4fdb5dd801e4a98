"""Provider presets: the OpenAI-compatible hosted providers (OpenAI, DeepSeek, Groq) built
on the generic client, and the base of the remote providers with their own wire format.

Each preset fills its default endpoint and model from :data:`PROVIDER_SPECS` (defined in
:mod:`aetherflow.providers.specs`, re-exported here).
"""

from __future__ import annotations

from dataclasses import replace

from aetherflow.providers.base import ProviderSettings
from aetherflow.providers.http_provider import SSEProvider
from aetherflow.providers.openai_compat import OpenAICompatibleProvider
from aetherflow.providers.specs import PROVIDER_SPECS, ProviderSpec, register_provider_spec

__all__ = [
    "PROVIDER_SPECS",
    "DeepSeekProvider",
    "GroqProvider",
    "OpenAIProvider",
    "OpenAIStyleProvider",
    "ProviderSpec",
    "RemoteSSEProvider",
    "register_provider_spec",
    "with_spec_defaults",
]


def with_spec_defaults(settings: ProviderSettings) -> ProviderSettings:
    """``settings`` with the provider's default base URL and model filled in where unset."""
    spec = PROVIDER_SPECS.get(settings.name)
    if spec is None:
        return settings
    return replace(
        settings,
        base_url=settings.base_url or spec.default_base_url,
        model=settings.model or spec.default_model,
    )


class OpenAIStyleProvider(OpenAICompatibleProvider):
    """A hosted OpenAI-wire provider with a preset endpoint, model and chunk parser.

    Subclasses set :attr:`preset` (the spec name). The request body and headers are the
    generic client's; the stream is parsed by :class:`~aetherflow.providers.wire.OpenAIChunkParser`
    (which also understands Groq's ``x_groq.usage``).
    """

    preset: str = ""

    def __init__(self, settings: ProviderSettings) -> None:
        spec_name = self.preset or settings.name
        filled = with_spec_defaults(replace(settings, name=spec_name))
        super().__init__(replace(filled, name=settings.name))


class OpenAIProvider(OpenAIStyleProvider):
    """OpenAI chat completions (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``)."""

    preset = "openai"


class DeepSeekProvider(OpenAIStyleProvider):
    """DeepSeek chat completions; usage carries ``prompt_cache_hit/miss_tokens``."""

    preset = "deepseek"


class GroqProvider(OpenAIStyleProvider):
    """Groq chat completions; usage may arrive under ``x_groq.usage``."""

    preset = "groq"


class RemoteSSEProvider(SSEProvider):
    """Base of the providers with their own wire format (Anthropic, Gemini).

    Fills the preset's endpoint and model, then is an :class:`SSEProvider`: a subclass
    supplies :meth:`endpoint`, :meth:`headers`, :meth:`payload` and :meth:`parser`.
    """

    preset: str = ""

    def __init__(self, settings: ProviderSettings) -> None:
        filled = with_spec_defaults(replace(settings, name=self.preset or settings.name))
        super().__init__(replace(filled, name=settings.name))
