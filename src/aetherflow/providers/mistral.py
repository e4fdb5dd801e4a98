"""Mistral (La Plateforme): chat completions and Codestral fill-in-the-middle (FIM).

Chat: ``POST {base_url}/chat/completions`` (``base_url`` default
``https://api.mistral.ai/v1``), OpenAI chunk format, ``data: [DONE]`` end marker; Mistral
sends ``usage`` (``prompt_tokens``, ``completion_tokens``, ``total_tokens``) in the last
chunk without being asked, so ``stream_options`` is not sent (option ``stream_usage``
turns it back on).

FIM: a request whose ``extra`` carries ``{"fim": {"prompt": PREFIX, "suffix": SUFFIX}}``
(the executor sets it for ``patch`` steps that know the code around the edit) is sent to
``POST {base_url}/fim/completions`` as ``{"model", "prompt", "suffix", "max_tokens",
"temperature", "stream": true}``; other keys inside ``fim`` (e.g. ``stop``,
``min_tokens``) are passed through. The stream has the same chunk format and usage. FIM is
served by Codestral models only (default model ``codestral-latest``).
"""

from __future__ import annotations

from typing import Any

from aetherflow.errors import ConfigError
from aetherflow.providers.base import ChatRequest, ProviderSettings
from aetherflow.providers.presets import OpenAIStyleProvider
from aetherflow.providers.usage import normalise_mistral_usage
from aetherflow.providers.wire import OpenAIChunkParser

__all__ = ["FIM_EXTRA_KEY", "MistralProvider", "fim_parts"]

#: The ``ChatRequest.extra`` key that turns a request into a FIM completion.
FIM_EXTRA_KEY = "fim"


def fim_parts(request: ChatRequest) -> dict[str, Any] | None:
    """The FIM fields of ``request`` (``prompt`` required, ``suffix`` optional) or None."""
    fim = request.extra.get(FIM_EXTRA_KEY)
    if fim is None:
        return None
    if not isinstance(fim, dict) or not isinstance(fim.get("prompt"), str):
        raise ConfigError('ChatRequest.extra["fim"] must be {"prompt": str, "suffix": str?}')
    suffix = fim.get("suffix")
    if suffix is not None and not isinstance(suffix, str):
        raise ConfigError('ChatRequest.extra["fim"]["suffix"] must be a string')
    return dict(fim)


class MistralProvider(OpenAIStyleProvider):
    """Mistral chat + FIM (``MISTRAL_API_KEY``, ``MISTRAL_BASE_URL``)."""

    preset = "mistral"

    def __init__(self, settings: ProviderSettings) -> None:
        options = {"stream_usage": False, **settings.options}
        super().__init__(ProviderSettings(
            name=settings.name, model=settings.model, base_url=settings.base_url,
            api_key=settings.api_key, options=options,
        ))

    def parser(self) -> OpenAIChunkParser:
        """A fresh chunk parser using Mistral's usage convention."""
        return OpenAIChunkParser(self.name, normalise_mistral_usage)

    def endpoint(self, request: ChatRequest) -> str:
        """``/fim/completions`` for FIM requests, ``/chat/completions`` otherwise."""
        if fim_parts(request) is not None:
            return f"{self.base_url}/fim/completions"
        return f"{self.base_url}/chat/completions"

    def payload(self, request: ChatRequest) -> dict[str, Any]:
        """The chat body, or the FIM body when ``extra["fim"]`` is present."""
        fim = fim_parts(request)
        others = {k: v for k, v in request.extra.items() if k != FIM_EXTRA_KEY}
        if fim is None:
            return super().payload(request)
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": True,
        }
        body.update(others)
        body.update(fim)
        if self._options.get("stream_usage", False):
            body["stream_options"] = {"include_usage": True}
        return body
