"""The provider contract: one async generator of stream events.

A provider implements :meth:`Provider.stream` and nothing else of substance: timing,
retries, token accounting fallbacks, cost and logging live once, around it, in the
executor. Providers are found through the registry (:mod:`aetherflow.providers.registry`,
whose :func:`create_provider`, :func:`provider_names` and :func:`register_provider` are
re-exported here): built-in providers register through the same plugin path a
third-party one uses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from aetherflow.metrics.timeline import RequestTimeline
from aetherflow.providers.registry import (
    ProviderOrigin,
    create_provider,
    load_plugin_file,
    provider_names,
    provider_origin,
    register_provider,
)
from aetherflow.results.run import ServerTiming, Usage

__all__ = [
    "ChatMessage",
    "ChatRequest",
    "ErrorEvent",
    "Finish",
    "Provider",
    "ProviderFactory",
    "ProviderOrigin",
    "ProviderSettings",
    "StreamEvent",
    "TextDelta",
    "UsageReport",
    "create_provider",
    "load_plugin_file",
    "no_server_timing",
    "provider_names",
    "provider_origin",
    "register_provider",
]


@dataclass(frozen=True)
class ChatMessage:
    """One chat message."""

    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class ChatRequest:
    """What a step asks of a model, independent of any wire format."""

    messages: tuple[ChatMessage, ...]
    max_tokens: int
    temperature: float = 0.2
    step_type: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TextDelta:
    """A piece of generated content. Empty text is allowed but is not a token."""

    text: str


@dataclass(frozen=True)
class UsageReport:
    """Token usage as reported by the server, already normalised (provenance ``server``)."""

    usage: Usage


@dataclass(frozen=True)
class Finish:
    """The stream's end marker with the provider's finish reason."""

    reason: str | None


@dataclass(frozen=True)
class ErrorEvent:
    """An error signalled inside the stream (e.g. Anthropic ``event: error``)."""

    kind: str
    message: str


StreamEvent = TextDelta | UsageReport | Finish | ErrorEvent


@dataclass(frozen=True)
class ProviderSettings:
    """Resolved settings for one provider instance (the API key is never logged)."""

    name: str
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    options: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Provider(Protocol):
    """A model endpoint AetherFlow can stream from."""

    name: str
    model: str
    emulated: bool

    async def start(self) -> None:
        """Acquire resources (connection pool, local server). Called once before use."""

    async def aclose(self) -> None:
        """Release everything :meth:`start` acquired. Safe to call twice."""

    def stream(self, request: ChatRequest, timeline: RequestTimeline) -> AsyncIterator[StreamEvent]:
        """Send ``request`` and yield events as they arrive.

        The transport fills ``timeline``'s network stamps; raise a
        :class:`~aetherflow.errors.ProviderError` subclass on failure.
        """
        ...

    async def count_tokens(self, request: ChatRequest, output_text: str) -> Usage | None:
        """Measure usage when the server streamed none (e.g. via a tokenize endpoint).

        Return None when the provider has no honest way to count.
        """
        ...

    async def server_timing(self, request: ChatRequest) -> ServerTiming:
        """The server's own prefill and decode timings for ``request``'s last stream.

        Called once, after the stream ended. Providers that report none return
        :func:`no_server_timing`.
        """
        ...


def no_server_timing(provider: str) -> ServerTiming:
    """The figure for a provider whose API reports no per-request compute timings."""
    return ServerTiming.unknown(f"{provider}: the API reports no server-side prefill/decode "
                                "timings that AetherFlow reads (only the embedded llama.cpp "
                                "server's log does)")


#: What a plugin registers: builds a provider from its resolved settings (usually the class).
ProviderFactory = Callable[[ProviderSettings], Provider]
