"""Example AetherFlow provider plugin: ``echo`` streams a canned reply, with no network.

It shows everything a provider implements (``name``, ``model``, ``emulated``, ``start``,
``aclose``, ``stream``, ``count_tokens``, ``server_timing``) and the plugin contract: a
callable ``register(registry)`` named by an entry point in the group
``aetherflow.providers``. Options (``[providers.echo] options`` in aetherflow.toml):
``reply`` (the text to stream) and ``delay_s`` (seconds between chunks).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aetherflow.metrics.timeline import RequestTimeline
from aetherflow.providers.base import (
    ChatRequest,
    Finish,
    ProviderSettings,
    StreamEvent,
    TextDelta,
    UsageReport,
    no_server_timing,
)
from aetherflow.providers.specs import ProviderSpec
from aetherflow.results.run import ServerTiming, TokenCount, Usage

if TYPE_CHECKING:
    from aetherflow.providers.registry import ProviderRegistry

__all__ = ["CANNED_REPLY", "EchoProvider", "register"]

CANNED_REPLY = (
    "Here is the function:\n\n"
    "```python\n"
    "def add(a: int, b: int) -> int:\n"
    "    return a + b\n"
    "```\n"
)


def _pieces(text: str) -> list[str]:
    """Split ``text`` into stream chunks: each word with the whitespace before it."""
    return re.findall(r"\s*\S+|\s+$", text)


class EchoProvider:
    """Streams :data:`CANNED_REPLY` (or the ``reply`` option) as text deltas."""

    def __init__(self, settings: ProviderSettings) -> None:
        self.name = settings.name
        self.model = settings.model or "echo-1"
        self.emulated = False
        self._reply = str(settings.options.get("reply", CANNED_REPLY))
        self._delay_s = float(settings.options.get("delay_s", 0.0))

    async def start(self) -> None:
        """Nothing to start."""

    async def aclose(self) -> None:
        """Nothing to release."""

    async def stream(self, request: ChatRequest,
                     timeline: RequestTimeline) -> AsyncIterator[StreamEvent]:
        """Yield the reply chunk by chunk, then the usage it measured, then the finish."""
        pieces = _pieces(self._reply)
        for piece in pieces:
            if self._delay_s:
                await asyncio.sleep(self._delay_s)
            yield TextDelta(piece)
        prompt_words = sum(len(m.content.split()) for m in request.messages)
        note = "echo counts one token per whitespace-separated word"
        yield UsageReport(Usage(
            input=TokenCount(value=prompt_words, provenance="server", note=note),
            output=TokenCount(value=len(pieces), provenance="server", note=note),
            # The echo "server" is this object: it knows it has no prompt cache, so 0 is
            # a measurement. A provider that cannot tell records TokenCount.unknown(why).
            cache_read=TokenCount(value=0, provenance="server", note="echo has no cache"),
            cache_write=TokenCount(value=0, provenance="server", note="echo has no cache"),
        ))
        yield Finish("stop")

    async def count_tokens(self, request: ChatRequest, output_text: str) -> Usage | None:
        """The stream always reports usage, so there is nothing more to count."""
        return None

    async def server_timing(self, request: ChatRequest) -> ServerTiming:
        """No server-side prefill/decode timings."""
        return no_server_timing(self.name)


def register(registry: ProviderRegistry) -> None:
    """The plugin entry point: add the ``echo`` provider and describe it."""
    registry.register_provider("echo", EchoProvider, spec=ProviderSpec(
        name="echo", default_base_url=None, default_model="echo-1",
        key_required=False, needs_base_url=False,
        description="example plugin: streams a canned reply (no network)",
    ))
