"""OpenAI-compatible chat completions over SSE: vLLM, Ollama, llama.cpp, DeepSeek, Groq, ..."""

from __future__ import annotations

from typing import Any

from aetherflow.providers.base import ChatRequest
from aetherflow.providers.http_provider import SSEProvider
from aetherflow.providers.usage import normalise_openai_usage
from aetherflow.providers.wire import OpenAIChunkParser

__all__ = ["OpenAICompatibleProvider"]


class OpenAICompatibleProvider(SSEProvider):
    """Streams ``POST {base_url}/chat/completions`` and parses OpenAI chunk events.

    Options (``settings.options``): ``stream_usage`` (send
    ``stream_options.include_usage``, default True), ``emulated`` (label runs emulated),
    ``read_timeout_s``.
    """

    def headers(self) -> dict[str, str]:
        """SSE accept header, and the bearer key when one is set."""
        headers = {"Accept": "text/event-stream"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def payload(self, request: ChatRequest) -> dict[str, Any]:
        """The JSON body for ``request``."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": True,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if self._options.get("stream_usage", True):
            body["stream_options"] = {"include_usage": True}
        body.update(request.extra)
        return body

    def parser(self) -> OpenAIChunkParser:
        """A fresh parser for one response stream (shared by every OpenAI-wire provider)."""
        return OpenAIChunkParser(self.name, normalise_openai_usage)

    def endpoint(self, request: ChatRequest) -> str:
        """The URL ``request`` is posted to."""
        return f"{self.base_url}/chat/completions"
