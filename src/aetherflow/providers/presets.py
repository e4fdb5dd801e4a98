"""Provider presets: default endpoint, model and key variable per remote provider, and the
OpenAI-compatible hosted providers (OpenAI, DeepSeek, Groq) built on the generic client.

:data:`PROVIDER_SPECS` is the one table the configuration layer
(:mod:`aetherflow.config`), the ``aetherflow providers`` command and docs/providers.md
describe. A third-party provider may add its own spec with :func:`register_provider_spec`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from aetherflow.providers.base import (
    ProviderSettings,
)
from aetherflow.providers.http_provider import SSEProvider
from aetherflow.providers.openai_compat import OpenAICompatibleProvider

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


@dataclass(frozen=True)
class ProviderSpec:
    """Static facts about one provider: where it lives and which key it needs."""

    name: str
    default_base_url: str | None
    default_model: str | None
    api_key_env: str | None = None
    base_url_env: str | None = None
    key_required: bool = True
    description: str = ""


PROVIDER_SPECS: dict[str, ProviderSpec] = {
    spec.name: spec
    for spec in (
        ProviderSpec("openai", "https://api.openai.com/v1", "gpt-4o-mini",
                     "OPENAI_API_KEY", "OPENAI_BASE_URL",
                     description="OpenAI chat completions (SSE, stream_options.include_usage)"),
        ProviderSpec("deepseek", "https://api.deepseek.com", "deepseek-chat",
                     "DEEPSEEK_API_KEY", "DEEPSEEK_BASE_URL",
                     description="DeepSeek chat completions (OpenAI wire, prompt-cache fields)"),
        ProviderSpec("groq", "https://api.groq.com/openai/v1", "llama-3.3-70b-versatile",
                     "GROQ_API_KEY", "GROQ_BASE_URL",
                     description="Groq chat completions (OpenAI wire, usage or x_groq.usage)"),
        ProviderSpec("mistral", "https://api.mistral.ai/v1", "codestral-latest",
                     "MISTRAL_API_KEY", "MISTRAL_BASE_URL",
                     description="Mistral chat completions + FIM /fim/completions"),
        ProviderSpec("anthropic", "https://api.anthropic.com", "claude-haiku-4-5",
                     "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
                     description="Anthropic Messages API (its own SSE events)"),
        ProviderSpec("gemini", "https://generativelanguage.googleapis.com", "gemini-2.5-flash",
                     "GEMINI_API_KEY", "GEMINI_BASE_URL",
                     description="Gemini streamGenerateContent?alt=sse"),
        ProviderSpec("openai-compatible", None, None, None, None, key_required=False,
                     description="any OpenAI-compatible server (vLLM, Ollama, llama.cpp); "
                                 "needs base_url and model, optional key via api_key_env"),
        ProviderSpec("local", None, "SmolLM2-135M-Instruct", None, None, key_required=False,
                     description="embedded SmolLM2-135M on llama.cpp (AETHERFLOW_LOCAL_URL "
                                 "to use a running server)"),
    )
}


def register_provider_spec(spec: ProviderSpec) -> None:
    """Describe a (third-party) provider for configuration and ``aetherflow providers``."""
    PROVIDER_SPECS[spec.name] = spec


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
