"""A provider for executor tests, registered through the real plugin path.

It answers each request from a script keyed by the step id found in the prompt
(``Step `<id>```) and by how many times that step has been asked; it streams the answer
in chunks with an optional delay, and counts every request per step (the truth a resume
test compares with).
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import ClassVar

from aetherflow.metrics.timeline import RequestTimeline, now_ns
from aetherflow.providers.base import (
    ChatRequest,
    Finish,
    ProviderSettings,
    StreamEvent,
    TextDelta,
    UsageReport,
    no_server_timing,
    register_provider,
)
from aetherflow.results.run import ServerTiming, TokenCount, Usage

__all__ = ["NAME", "ScriptedProvider", "install"]

NAME = "scripted"
_STEP = re.compile(r"Step `([^`]+)`")

#: ``script(step_id, nth_request_for_that_step, request) -> reply text``.
Script = Callable[[str, int, ChatRequest], str]


class ScriptedProvider:
    """Streams scripted replies; counts requests per step."""

    script: ClassVar[Script] = staticmethod(lambda step, n, req: "```python\nx = 1\n```\n")
    delay_s: ClassVar[float] = 0.0
    calls: ClassVar[Counter[str]] = Counter()
    emulated = True

    def __init__(self, settings: ProviderSettings) -> None:
        self.name = settings.name
        self.model = settings.model or "scripted-1"

    async def start(self) -> None:
        """Nothing to start."""

    async def aclose(self) -> None:
        """Nothing to close."""

    async def stream(self, request: ChatRequest,
                     timeline: RequestTimeline) -> AsyncIterator[StreamEvent]:
        """Yield the scripted reply in 8-character chunks."""
        found = _STEP.search(request.messages[-1].content) or _STEP.search(
            "\n".join(m.content for m in request.messages))
        step = found.group(1) if found else "?"
        ScriptedProvider.calls[step] += 1
        text = type(self).script(step, ScriptedProvider.calls[step], request)
        timeline.request_sent = timeline.headers = now_ns()
        for i in range(0, len(text), 8):
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            yield TextDelta(text[i:i + 8])
        yield UsageReport(Usage(input=TokenCount(value=10, provenance="server"),
                                output=TokenCount(value=max(1, len(text) // 4),
                                                  provenance="server"),
                                cache_read=TokenCount(value=0, provenance="server"),
                                cache_write=TokenCount(value=0, provenance="server")))
        yield Finish("stop")

    async def count_tokens(self, request: ChatRequest, output_text: str) -> Usage | None:
        """No tokenizer."""
        return None

    async def server_timing(self, request: ChatRequest) -> ServerTiming:
        """None reported."""
        return no_server_timing(self.name)


def install(script: Script, delay_s: float = 0.0) -> type[ScriptedProvider]:
    """Register a fresh scripted provider class (calls reset) under :data:`NAME`."""

    class Fresh(ScriptedProvider):
        pass

    Fresh.script = staticmethod(script)
    Fresh.delay_s = delay_s
    ScriptedProvider.calls = Counter()
    register_provider(NAME, Fresh)
    return Fresh
