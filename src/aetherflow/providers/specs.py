"""Static facts about each provider: default endpoint and model, key and URL variables.

:data:`PROVIDER_SPECS` is the one table the configuration layer (:mod:`aetherflow.config`),
the ``aetherflow providers`` command and docs/providers.md describe. A plugin adds its own
entry by passing ``spec=`` to ``registry.register_provider`` (or with
:func:`register_provider_spec`). This module imports nothing heavy, so configuration can
read it without loading any provider.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PROVIDER_SPECS", "ProviderSpec", "register_provider_spec"]


@dataclass(frozen=True)
class ProviderSpec:
    """Static facts about one provider: where it lives and which key it needs.

    ``key_required`` False means the provider runs without a key (one is still read from
    ``api_key_env`` when that variable is set); ``needs_base_url`` False means it talks to
    no endpoint (an in-process provider), so a missing base URL does not make it unready.
    """

    name: str
    default_base_url: str | None
    default_model: str | None
    api_key_env: str | None = None
    base_url_env: str | None = None
    key_required: bool = True
    description: str = ""
    needs_base_url: bool = True


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
