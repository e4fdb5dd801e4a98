"""The embedded default provider: SmolLM2-135M-Instruct on llama.cpp's OpenAI server.

AetherFlow starts ``python -m llama_cpp.server`` on a free loopback port, waits until it
answers, reuses it for the whole run, and stops it on exit (also on Ctrl-C and on error).
The server never outlives AetherFlow, stale ones are cleaned, and a bench can share one
server per configuration across runs: see :mod:`aetherflow.providers.local_server`.
``AETHERFLOW_LOCAL_URL`` points at an already running server instead.

llama.cpp's server streams no ``usage``; tokens are measured with the model's own tokenizer
(provenance ``tokenizer``): loaded in-process (vocab only) for the embedded server, or the
server's ``/extras/tokenize`` endpoint for an external one. Counted: the output text, and the
prompt rendered with SmolLM2's ChatML chat template, which reproduces the server's own
``prompt_tokens`` (tested against the server's non-streaming usage).

Prefix-cache reuse (``cache_read``) is read from the embedded server's own log: llama.cpp
prints ``Llama.generate: N prefix-match hit, remaining M prompt tokens to eval`` when it
reuses the first N prompt tokens of its KV state (from the previous prompt, or from its RAM
cache with ``--cache True``); no such line means the whole prompt was evaluated (0 reused).
The log segment written while a request ran is attributed to that request only when no
other request was in flight on that server at the same time (from any provider sharing
it); otherwise the count is unknown, with that reason. For an external server (no log) it
is unknown as well.

The same log window gives the server's own account of the request's compute (see
:class:`~aetherflow.results.run.ServerTiming`): llama.cpp prints
``llama_perf_context_print: prompt eval time = X ms / N tokens`` (prefill of the N prompt
tokens it did not reuse) and ``eval time = Y ms / M runs`` (M decode steps) before the
stream's last chunk, so both are in the log when the stream ends.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp

from aetherflow.metrics.timeline import RequestTimeline
from aetherflow.providers.base import ChatRequest, ProviderSettings, StreamEvent
from aetherflow.providers.local_server import (
    DEFAULT_LOCAL_MODEL,
    InFlight,
    LocalServer,
    LocalServerPool,
    ServerUse,
    active_server_pool,
    default_model_path,
    shared_local_servers,
    start_server,
)
from aetherflow.providers.openai_compat import OpenAICompatibleProvider
from aetherflow.results.run import ServerTiming, TokenCount, Usage

__all__ = ["DEFAULT_LOCAL_MODEL", "LocalProvider", "LocalServer", "LocalServerPool",
           "ServerUse", "default_model_path", "parse_prefix_reuse", "parse_server_timing",
           "render_chatml", "shared_local_servers", "shared_vocab"]


def render_chatml(request: ChatRequest) -> str:
    """SmolLM2's chat template (ChatML) as llama.cpp applies it, with the generation prompt."""
    parts = [f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n" for m in request.messages]
    if not request.messages or request.messages[0].role != "system":
        parts.insert(0, "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, "
                        "trained by Hugging Face<|im_end|>\n")
    return "".join(parts) + "<|im_start|>assistant\n"


_PREFIX_HIT = re.compile(r"Llama\.generate: (\d+) prefix-match hit")


def parse_prefix_reuse(log_segment: str) -> int | None:
    """Prompt tokens llama.cpp reused from its KV state, from one request's server log.

    ``None`` when the segment holds more than one generation (it cannot be attributed);
    0 when the request evaluated its whole prompt (no ``prefix-match hit`` line).
    """
    hits = _PREFIX_HIT.findall(log_segment)
    if len(hits) > 1:
        return None
    return int(hits[0]) if hits else 0


_PERF_PREFILL = re.compile(r"prompt eval time =\s*([\d.]+) ms /\s*(\d+) tokens")
_PERF_DECODE = re.compile(r"llama_perf_context_print:\s+eval time =\s*([\d.]+) ms /\s*(\d+) runs")
_PERF_SOURCE = "llama.cpp server log (llama_perf_context_print)"


def parse_server_timing(log_segment: str, *, speculative: bool = False) -> ServerTiming:
    """The server's prefill and decode timings, from one request's llama.cpp server log.

    llama.cpp counts every multi-token batch as "prompt eval" and every one-token batch as
    "eval". Without speculative decoding that is exactly prefill and decode. With it
    (``speculative``), draft verification runs in multi-token batches too, so only the sum
    (``compute_ms``) keeps its meaning and the split is reported as unknown.
    Unknown (with the reason) when the segment holds no timing block or more than one.
    """
    prefill, decode = _PERF_PREFILL.findall(log_segment), _PERF_DECODE.findall(log_segment)
    if len(prefill) > 1 or len(decode) > 1:
        return ServerTiming.unknown("several generations in one request's log window")
    if not prefill or not decode:
        return ServerTiming.unknown("llama.cpp printed no timings for this request (the "
                                    "stream ended before generation finished)")
    prefill_ms, decode_ms = float(prefill[0][0]), float(decode[0][0])
    runs = int(decode[0][1])
    if speculative:
        return ServerTiming(compute_ms=prefill_ms + decode_ms, source=_PERF_SOURCE,
                            note="speculative decoding: llama.cpp counts draft-verification "
                                 "batches as prompt eval, so prefill and decode cannot be "
                                 "told apart (compute_ms is their sum)")
    return ServerTiming(compute_ms=prefill_ms + decode_ms, prefill_ms=prefill_ms,
                        prefill_tokens=int(prefill[0][1]), decode_ms=decode_ms,
                        decode_runs=runs,
                        decode_ms_per_token=decode_ms / runs if runs else None,
                        source=_PERF_SOURCE,
                        note=None if runs else "no decode step ran: ms per token undefined")


_OVERLAP = ("another request ran at the same time: the llama.cpp server log cannot be "
            "attributed (use concurrency 1)")


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (C-level logging) for the duration of the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


_VOCAB_LOCK = threading.Lock()
_VOCABS: dict[str, Any] = {}


def _close_vocabs() -> None:
    """Free the tokenizers before the interpreter tears llama_cpp down (its destructor then
    finds its C functions gone and prints a traceback at every exit)."""
    while _VOCABS:
        _, vocab = _VOCABS.popitem()
        with contextlib.suppress(Exception):
            vocab.close()


def shared_vocab(model_path: Path) -> Any:
    """The model's tokenizer (vocab only, in-process), loaded once per model path and
    process: every provider (and every run of a bench) on that model shares it."""
    key = str(Path(model_path).resolve())
    with _VOCAB_LOCK:
        if key not in _VOCABS:
            from llama_cpp import Llama

            if not _VOCABS:
                atexit.register(_close_vocabs)
            with _quiet_stderr():  # llama.cpp's C code logs context warnings to fd 2
                _VOCABS[key] = Llama(model_path=key, vocab_only=True, verbose=False)
        return _VOCABS[key]


class LocalProvider(OpenAICompatibleProvider):
    """SmolLM2 on an embedded (or ``AETHERFLOW_LOCAL_URL``) llama.cpp server.

    Options: ``server_args`` (extra llama.cpp server arguments, e.g. speculative decoding),
    ``n_ctx``. Inside :func:`shared_local_servers` the embedded server comes from the pool
    (see :attr:`server_reused`); otherwise each provider starts and stops its own.
    """

    def __init__(self, settings: ProviderSettings) -> None:
        self._server: LocalServer | None = None
        self._pool: LocalServerPool | None = None
        self._use: ServerUse | None = None
        self._prefix_reuse: dict[int, TokenCount] = {}
        self._server_timings: dict[int, ServerTiming] = {}
        self._speculative = "--draft_model" in settings.options.get("server_args", [])
        external = settings.base_url or os.environ.get("AETHERFLOW_LOCAL_URL")
        self._external = external.rstrip("/").removesuffix("/v1") if external else None
        options = {"stream_usage": False, **settings.options}
        super().__init__(ProviderSettings(
            name=settings.name, model=settings.model or DEFAULT_LOCAL_MODEL,
            base_url=(self._external or "http://127.0.0.1:0") + "/v1",
            api_key=settings.api_key, options=options,
        ))

    @property
    def root_url(self) -> str:
        """The server root (without ``/v1``)."""
        return self.base_url.removesuffix("/v1")

    @property
    def server_use(self) -> ServerUse | None:
        """How this provider got its embedded server (fresh or reused, runs served, start-up
        time); ``None`` before :meth:`start` and for an external server (its state is not
        ours to know)."""
        return self._use

    @property
    def server_reused(self) -> bool | None:
        """Whether the embedded server had served an earlier run before this provider got it
        (only inside :func:`shared_local_servers`); ``None`` as for :attr:`server_use`."""
        return None if self._use is None else self._use.reused

    @property
    def server_runs_served(self) -> int | None:
        """Runs (providers) the embedded server has served, this one included; 1 for a
        fresh server. ``None`` as for :attr:`server_use`."""
        return None if self._use is None else self._use.runs_served

    @property
    def server_pid(self) -> int | None:
        """Pid of the embedded server while this provider holds it."""
        server = self._server
        return server.process.pid if server is not None and server.process else None

    async def start(self) -> None:
        """Start the embedded server (or take the shared one) unless an external one is
        configured."""
        if self._external is not None or self._server is not None:
            return
        server = LocalServer(
            n_ctx=int(self._options.get("n_ctx", 4096)),
            extra_args=list(self._options.get("server_args", [])),
        )
        pool = active_server_pool()
        if pool is None:
            self._use = await start_server(server)
        else:
            server, self._use = await pool.acquire(server)
            self._pool = pool
        self._server = server
        self.base_url = f"{server.url}/v1"
        self._vocab()  # load the tokenizer now: loading mid-run would block the event loop

    async def aclose(self) -> None:
        """Close connections; stop the embedded server (or give the shared one back)."""
        await super().aclose()
        server, self._server = self._server, None
        if server is None:
            return
        if self._pool is not None:
            self._pool.release(server)
            self._pool = None
        else:
            server.stop()

    def _vocab(self) -> Any:
        """The model's tokenizer, in-process (vocab only), for the embedded server.

        Loaded by :meth:`start`, before any request is timed (shared per model path)."""
        if self._server is None:
            return None
        return shared_vocab(self._server.model_path)

    async def stream(
        self, request: ChatRequest, timeline: RequestTimeline
    ) -> AsyncIterator[StreamEvent]:
        """Stream as any OpenAI-compatible server, then read this request's prefix reuse and
        server timings from the embedded server's log (see the module docstring)."""
        server = self._server
        if server is None:
            async for event in super().stream(request, timeline):
                yield event
            return
        # The in-flight list lives on the server: a shared server may serve other providers.
        in_flight = server.in_flight
        mine = InFlight(log_start=server.log_size(), overlapped=bool(in_flight))
        for other in in_flight:
            other.overlapped = True
        in_flight.append(mine)
        try:
            async for event in super().stream(request, timeline):
                yield event
        finally:
            in_flight.remove(mine)
            segment = (None if mine.overlapped
                       else server.log_read(mine.log_start, server.log_size()))
            self._prefix_reuse[id(request)] = self._reuse_count(segment)
            self._server_timings[id(request)] = (
                ServerTiming.unknown(_OVERLAP) if segment is None
                else parse_server_timing(segment, speculative=self._speculative))

    @staticmethod
    def _reuse_count(segment: str | None) -> TokenCount:
        if segment is None:
            return TokenCount.unknown(_OVERLAP)
        value = parse_prefix_reuse(segment)
        if value is None:
            return TokenCount.unknown("several generations in one request's log window")
        return TokenCount(value=value, provenance="server",
                          note="llama.cpp server log ('prefix-match hit'; none = 0)")

    async def server_timing(self, request: ChatRequest) -> ServerTiming:
        """llama.cpp's own prefill/decode timings for ``request`` (see the module docstring)."""
        if self._server is None:
            return ServerTiming.unknown("external llama.cpp server: its log (timings) is not "
                                        "readable")
        return self._server_timings.pop(id(request), None) or ServerTiming.unknown(
            "no server log window for this request")

    async def _tokenize(self, text: str) -> int:
        # In-process for the embedded model: a /extras/tokenize call would queue behind the
        # server's generation lock and inflate the step times it is measuring.
        if (vocab := self._vocab()) is not None:
            return len(vocab.tokenize(text.encode("utf-8"), add_bos=False, special=True))
        data = await self.session.post_json(f"{self.root_url}/extras/tokenize", {"input": text})
        return len(data["tokens"])

    async def count_tokens(self, request: ChatRequest, output_text: str) -> Usage | None:
        """Tokenize the ChatML-rendered prompt and the output with the server's tokenizer."""
        try:
            n_in = await self._tokenize(render_chatml(request))
            n_out = await self._tokenize(output_text) if output_text else 0
        except (aiohttp.ClientError, OSError, KeyError, TimeoutError):
            return None
        note = "llama.cpp tokenizer" if self._server else "llama.cpp /extras/tokenize"
        reuse = self._prefix_reuse.pop(id(request), None) or TokenCount.unknown(
            "no server log window for this request" if self._server else
            "external llama.cpp server: its log (prefix-match hits) is not readable")
        return Usage(
            input=TokenCount(value=n_in, provenance="tokenizer", note=note + " on ChatML prompt"),
            output=TokenCount(value=n_out, provenance="tokenizer", note=note + " on output text"),
            cache_read=reuse,
            cache_write=TokenCount(value=0, provenance="server",
                                   note="no cache-write concept on llama.cpp"),
        )
