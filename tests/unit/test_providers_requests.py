"""Request construction per provider: endpoint, headers, body, defaults; the registry."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from aetherflow.errors import ConfigError
from aetherflow.providers.anthropic import ANTHROPIC_VERSION, AnthropicProvider
from aetherflow.providers.base import (
    ChatMessage,
    ChatRequest,
    Finish,
    ProviderSettings,
    TextDelta,
    create_provider,
    provider_names,
)
from aetherflow.providers.gemini import GeminiProvider
from aetherflow.providers.mistral import MistralProvider
from aetherflow.providers.presets import (
    PROVIDER_SPECS,
    DeepSeekProvider,
    GroqProvider,
    OpenAIProvider,
)
from aetherflow.providers.wire import OpenAIChunkParser, run_parser
from aetherflow.transport.sse import SSEEvent

KEY = "sk-test-SECRET-0123456789"
REQ = ChatRequest(
    messages=(ChatMessage("system", "Be terse."), ChatMessage("user", "Write add()."),
              ChatMessage("assistant", "def add"), ChatMessage("user", "Finish it.")),
    max_tokens=64, temperature=0.1,
)


def test_all_providers_registered() -> None:
    assert set(provider_names()) >= {"openai-compatible", "local", "openai", "deepseek", "groq",
                                     "mistral", "anthropic", "gemini"}


@pytest.mark.parametrize(("name", "cls", "base", "model"), [
    ("openai", OpenAIProvider, "https://api.openai.com/v1", "gpt-4o-mini"),
    ("deepseek", DeepSeekProvider, "https://api.deepseek.com", "deepseek-chat"),
    ("groq", GroqProvider, "https://api.groq.com/openai/v1", "llama-3.3-70b-versatile"),
    ("mistral", MistralProvider, "https://api.mistral.ai/v1", "codestral-latest"),
    ("anthropic", AnthropicProvider, "https://api.anthropic.com", "claude-haiku-4-5"),
    ("gemini", GeminiProvider, "https://generativelanguage.googleapis.com", "gemini-2.5-flash"),
])
def test_defaults_and_key_not_in_repr(name: str, cls: type, base: str, model: str) -> None:
    provider = create_provider(ProviderSettings(name=name, api_key=KEY))
    assert isinstance(provider, cls)
    assert (provider.base_url, provider.model) == (base, model)  # type: ignore[attr-defined]
    assert KEY not in repr(provider) and KEY not in str(provider)
    assert PROVIDER_SPECS[name].default_base_url == base


def test_openai_style_payload_and_headers() -> None:
    p = DeepSeekProvider(ProviderSettings(name="deepseek", api_key=KEY, model="deepseek-coder"))
    body = p.payload(REQ)
    assert body["model"] == "deepseek-coder" and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"][0] == {"role": "system", "content": "Be terse."}
    assert p.endpoint(REQ) == "https://api.deepseek.com/chat/completions"
    assert p.headers()["Authorization"] == f"Bearer {KEY}"


def test_base_url_override_and_trailing_slash() -> None:
    p = OpenAIProvider(ProviderSettings(name="openai", base_url="http://127.0.0.1:9/v1/"))
    assert p.endpoint(REQ) == "http://127.0.0.1:9/v1/chat/completions"


def test_mistral_chat_has_no_stream_options() -> None:
    p = MistralProvider(ProviderSettings(name="mistral", api_key=KEY))
    assert "stream_options" not in p.payload(REQ)
    assert p.endpoint(REQ) == "https://api.mistral.ai/v1/chat/completions"


def test_mistral_fim_request() -> None:
    p = MistralProvider(ProviderSettings(name="mistral", api_key=KEY))
    req = ChatRequest(messages=REQ.messages, max_tokens=32, temperature=0.0, step_type="patch",
                      extra={"fim": {"prompt": "def add(a, b):\n", "suffix": "\nprint(add(1, 2))",
                                     "stop": ["\n\n"]}})
    assert p.endpoint(req) == "https://api.mistral.ai/v1/fim/completions"
    assert p.payload(req) == {
        "model": "codestral-latest", "prompt": "def add(a, b):\n",
        "suffix": "\nprint(add(1, 2))", "stop": ["\n\n"], "max_tokens": 32,
        "temperature": 0.0, "stream": True,
    }


def test_mistral_fim_rejects_bad_extra() -> None:
    p = MistralProvider(ProviderSettings(name="mistral", api_key=KEY))
    req = ChatRequest(messages=REQ.messages, max_tokens=8, extra={"fim": {"suffix": "x"}})
    with pytest.raises(ConfigError):
        p.payload(req)


def test_anthropic_request() -> None:
    p = AnthropicProvider(ProviderSettings(name="anthropic", api_key=KEY,
                                           options={"cache_system_prompt": True}))
    assert p.endpoint(REQ) == "https://api.anthropic.com/v1/messages"
    headers = p.headers()
    assert headers["x-api-key"] == KEY
    assert headers["anthropic-version"] == ANTHROPIC_VERSION == "2023-06-01"
    body = p.payload(REQ)
    assert body["system"] == [{"type": "text", "text": "Be terse.",
                               "cache_control": {"type": "ephemeral"}}]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["max_tokens"] == 64 and body["stream"] is True


def test_gemini_request_key_in_header_not_url() -> None:
    p = GeminiProvider(ProviderSettings(name="gemini", api_key=KEY))
    url = p.endpoint(REQ)
    assert url == ("https://generativelanguage.googleapis.com/v1beta/models/"
                   "gemini-2.5-flash:streamGenerateContent?alt=sse")
    assert KEY not in url
    assert p.headers()["x-goog-api-key"] == KEY
    body = p.payload(REQ)
    assert body["systemInstruction"] == {"parts": [{"text": "Be terse."}]}
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["generationConfig"] == {"maxOutputTokens": 64, "temperature": 0.1}


async def test_run_parser_drives_like_replay() -> None:
    async def events() -> AsyncIterator[SSEEvent]:
        yield SSEEvent("message", '{"choices":[{"delta":{"content":"a"},"finish_reason":"stop"}]}')
        yield SSEEvent("message", "[DONE]")
        yield SSEEvent("message", '{"choices":[{"delta":{"content":"ignored"}}]}')

    out = [e async for e in run_parser(OpenAIChunkParser("openai"), events())]
    assert out == [TextDelta("a"), Finish("stop")]


async def test_count_tokens_is_none_for_remote_providers() -> None:
    for name in ("anthropic", "gemini", "mistral"):
        provider = create_provider(ProviderSettings(name=name, api_key=KEY))
        assert await provider.count_tokens(REQ, "x") is None
        await provider.aclose()
