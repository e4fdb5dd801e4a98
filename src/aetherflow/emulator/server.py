"""The emulator server: one aiohttp application on loopback speaking every provider's format."""

from __future__ import annotations

import ipaddress
import json
import random
import time
import uuid
from typing import Any

from aiohttp import web
from pydantic import TypeAdapter, ValidationError

from aetherflow.emulator.cache import CacheOutcome, PrefixCache
from aetherflow.emulator.faults import FaultInjector
from aetherflow.emulator.latency import plan_timing
from aetherflow.emulator.parsing import BadRequest, ParsedRequest, parse_body
from aetherflow.emulator.paths import BASE_PATHS
from aetherflow.emulator.profile import EmulatorProfile, FaultRule
from aetherflow.emulator.records import RequestRecord
from aetherflow.emulator.replies import choose_rule, filler_tokens
from aetherflow.emulator.streaming import Exchange, send_complete, send_stream
from aetherflow.emulator.tokenizer import tokenize, tokenize_all
from aetherflow.emulator.wire import DEFAULT_MODEL, StreamContext, UsageTruth, Wire, wire_for
from aetherflow.errors import ConfigError

__all__ = [
    "MODEL_LIST_PATHS",
    "EmulatorServer",
    "EmulatorState",
    "build_app",
    "ensure_loopback",
]


_ROUTES: tuple[tuple[str, str, str], ...] = (
    ("/v1/chat/completions", "generic", "chat"),
    ("/v1/completions", "generic", "completions"),
    ("/openai/v1/chat/completions", "openai", "chat"),
    ("/openai/v1/completions", "openai", "completions"),
    ("/deepseek/chat/completions", "deepseek", "chat"),
    ("/deepseek/v1/chat/completions", "deepseek", "chat"),
    ("/groq/openai/v1/chat/completions", "groq", "chat"),
    ("/mistral/v1/chat/completions", "mistral", "chat"),
    ("/mistral/v1/fim/completions", "mistral", "fim"),
    ("/anthropic/v1/messages", "anthropic", "messages"),
    ("/gemini/v1beta/models/{target}", "gemini", "gemini"),
)
MODEL_LIST_PATHS: tuple[tuple[str, str], ...] = (
    ("/v1/models", "generic"),
    ("/openai/v1/models", "openai"),
    ("/deepseek/models", "deepseek"),
    ("/deepseek/v1/models", "deepseek"),
    ("/groq/openai/v1/models", "groq"),
    ("/mistral/v1/models", "mistral"),
    ("/anthropic/v1/models", "anthropic"),
    ("/gemini/v1beta/models", "gemini"),
)
"""``GET`` path of each provider's model list (what benchmark clients read before they start)."""
_FAULTS = TypeAdapter(list[FaultRule])


def ensure_loopback(host: str) -> None:
    """Raise :class:`ConfigError` unless ``host`` is a loopback address or ``localhost``."""
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(f"the emulator only binds loopback addresses, not {host!r}")


class EmulatorState:
    """Mutable server state: seeded RNGs, prefix cache, fault counters and the request log."""

    def __init__(self, profile: EmulatorProfile) -> None:
        self.profile = profile
        self.cache = PrefixCache()
        self.records: list[RequestRecord] = []
        self.faults = FaultInjector(profile.faults, random.Random(f"{profile.seed}:faults"))
        self.reset()

    def reset(self) -> None:
        """Forget the log, the cache and fault counters; reseed the RNGs."""
        self.records.clear()
        self.cache.reset()
        self.faults.reset(random.Random(f"{self.profile.seed}:faults"))
        self.latency_rng = random.Random(f"{self.profile.seed}:latency")

    def new_record(self, provider: str, path: str) -> RequestRecord:
        """Append a fresh record for a request that just arrived."""
        record = RequestRecord(index=len(self.records) + 1, provider=provider, path=path)
        self.records.append(record)
        return record


_STATE_KEY = web.AppKey("emulator_state", EmulatorState)


def _auth_problem(request: web.Request, provider: str) -> tuple[int, str] | None:
    """Why ``request`` would be refused for a missing credential (``None``: it would not).

    ``generic`` stands for a self-hosted OpenAI-compatible server (vLLM, llama.cpp), which
    needs no key unless started with one: it accepts requests without ``Authorization``.
    """
    headers = request.headers
    if provider == "generic":
        return None
    if provider == "anthropic":
        if "x-api-key" not in headers:
            return 401, "x-api-key header is required"
        if "anthropic-version" not in headers:
            return 400, "anthropic-version: header is required"
        return None
    if provider == "gemini":
        if "x-goog-api-key" in headers or "key" in request.query:
            return None
        return 403, (
            "Method doesn't allow unregistered callers (callers without established "
            "identity). Please use API Key or other form of API consumer identity."
        )
    if not headers.get("Authorization", "").startswith("Bearer "):
        return 401, "You didn't provide an API key (Authorization: Bearer ...)."
    return None


async def _parse(request: web.Request, kind: str) -> ParsedRequest:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from exc
    if kind != "gemini":
        return parse_body(kind, body)
    model, _, action = request.match_info["target"].partition(":")
    if action not in ("streamGenerateContent", "generateContent"):
        raise BadRequest(f"unknown method {action!r}")
    return parse_body(kind, body, model=model, stream=action == "streamGenerateContent")


def _reply_tokens(
    state: EmulatorState, provider: str, parsed: ParsedRequest, record: RequestRecord
) -> tuple[list[str], str]:
    rule = choose_rule(state.profile.replies, provider, parsed.prompt_text)
    scripted = None if rule is None else state.profile.replies[rule].reply
    record.reply_source = "script" if scripted is not None else "default"
    record.reply_rule = rule
    default_n = state.profile.for_provider(provider).default_output_tokens
    tokens = tokenize(scripted) if scripted is not None else filler_tokens(default_n)
    limit = parsed.max_tokens
    if limit is not None and len(tokens) > limit:
        return tokens[:limit], "length"
    return tokens, "stop"


def _cache(
    state: EmulatorState, provider: str, parsed: ParsedRequest, prompt: list[str]
) -> CacheOutcome:
    model = state.profile.for_provider(provider).cache
    if provider == "anthropic" and not parsed.cache_control:
        return CacheOutcome(0, 0)  # Anthropic caches only at explicit cache_control markers
    return state.cache.access(provider, prompt, model)


def _exchange(
    request: web.Request,
    state: EmulatorState,
    provider: str,
    kind: str,
    parsed: ParsedRequest,
    record: RequestRecord,
    start: float,
) -> Exchange:
    prompt = tokenize_all(parsed.prompt_pieces)
    outcome = _cache(state, provider, parsed, prompt)
    tokens, finish = _reply_tokens(state, provider, parsed, record)
    pprof = state.profile.for_provider(provider)
    plan = plan_timing(
        pprof.latency,
        pprof.cache,
        state.latency_rng,
        len(prompt) - outcome.read_tokens,
        outcome.read_tokens,
        len(tokens),
    )
    usage = UsageTruth(len(prompt), outcome.read_tokens, outcome.written_tokens, len(tokens))
    decode_s = (plan.token_offsets_s[-1] - plan.ttft_s) if tokens else 0.0
    ctx = StreamContext(
        provider,
        pprof.model_name or parsed.model,
        _response_id(provider, kind),
        int(time.time()),
        usage,
        finish,
        plan.ttft_s,
        decode_s,
    )
    _fill_record(record, parsed, usage, finish, plan.token_offsets_s, plan.ttft_s, pprof)
    wire = wire_for(provider, parsed.include_usage, kind)
    return Exchange(request, wire, ctx, tokens, plan, None, record, start)


def _fill_record(
    record: RequestRecord,
    parsed: ParsedRequest,
    usage: UsageTruth,
    finish: str,
    offsets: tuple[float, ...],
    ttft_s: float,
    pprof: Any,
) -> None:
    record.model, record.stream, record.finish = parsed.model, parsed.stream, finish
    record.input_tokens, record.cached_tokens = usage.input_tokens, usage.cached_tokens
    record.cache_write_tokens, record.output_tokens = usage.cache_write_tokens, usage.output_tokens
    record.ttft_ms = round(ttft_s * 1000, 6)
    record.decode_ms_per_output_token = pprof.latency.decode_ms_per_output_token
    record.token_offsets_ms = [round(o * 1000, 6) for o in offsets]


def _response_id(provider: str, kind: str) -> str:
    hexid = uuid.uuid4().hex
    if kind == "completions":
        return f"cmpl-emu{hexid[:20]}"
    return {"anthropic": f"msg_emu{hexid[:20]}", "gemini": hexid[:22]}.get(
        provider, f"chatcmpl-emu{hexid[:20]}"
    )


def _error(
    wire: Wire,
    record: RequestRecord,
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
) -> web.Response:
    record.status = status
    return web.json_response(wire.error_body(status, message), status=status, headers=headers)


def _http_fault(wire: Wire, record: RequestRecord, rule: FaultRule) -> web.Response:
    status = int(rule.fault.removeprefix("http_"))
    if status == 429:
        return _error(
            wire,
            record,
            429,
            "Rate limit reached (emulated).",
            {"Retry-After": str(rule.retry_after_s)},
        )
    return _error(wire, record, status, f"Emulated HTTP {status}.")


def _make_handler(provider: str, kind: str) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        start = time.perf_counter()
        state = request.app[_STATE_KEY]
        record = state.new_record(provider, request.path)
        record.received_clock_ns = int(start * 1e9)
        wire = wire_for(provider, kind=kind)
        if state.profile.require_auth and (problem := _auth_problem(request, provider)):
            return _error(wire, record, *problem)
        try:
            parsed = await _parse(request, kind)
        except BadRequest as exc:
            return _error(wire, record, 400, str(exc))
        rule = state.faults.choose(provider, parsed.prompt_text)
        record.fault = rule.fault if rule else None
        if rule and rule.fault.startswith("http_"):
            return _http_fault(wire, record, rule)
        ex = _exchange(request, state, provider, kind, parsed, record, start)
        ex.fault = rule
        return await (send_stream(ex) if parsed.stream else send_complete(ex))

    return handler


def _model_list_handler(provider: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        state = request.app[_STATE_KEY]
        if state.profile.require_auth and (problem := _auth_problem(request, provider)):
            status, message = problem
            return web.json_response(wire_for(provider).error_body(status, message), status=status)
        model = state.profile.for_provider(provider).model_name or DEFAULT_MODEL
        return web.json_response(wire_for(provider).model_list(model))

    return handler


async def _server_health(request: web.Request) -> web.Response:
    """``GET /health``: what vLLM answers and GuideLLM's backend validation checks."""
    return web.json_response({"status": "ok"})


async def _health(request: web.Request) -> web.Response:
    base = f"{request.scheme}://{request.host}"
    return web.json_response(
        {"status": "ok", "providers": {p: base + path for p, path in BASE_PATHS.items()}}
    )


async def _requests(request: web.Request) -> web.Response:
    records = request.app[_STATE_KEY].records
    return web.json_response({"requests": [r.to_dict() for r in records]})


async def _reset(request: web.Request) -> web.Response:
    request.app[_STATE_KEY].reset()
    return web.json_response({"status": "reset"})


async def _get_faults(request: web.Request) -> web.Response:
    rules = request.app[_STATE_KEY].faults.rules
    return web.json_response({"faults": [r.model_dump() for r in rules]})


async def _set_faults(request: web.Request) -> web.Response:
    try:
        payload = await request.json()
        rules = _FAULTS.validate_python(
            payload.get("faults", payload) if isinstance(payload, dict) else payload
        )
    except (json.JSONDecodeError, ValidationError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    request.app[_STATE_KEY].faults.set_rules(rules)
    return web.json_response({"faults": [r.model_dump() for r in rules]})


def build_app(state: EmulatorState) -> web.Application:
    """The aiohttp application: every provider's generation and model-list paths, ``/health``
    and the control endpoints ``/_emulator/*``."""
    app = web.Application()
    app[_STATE_KEY] = state
    for path, provider, kind in _ROUTES:
        app.router.add_post(path, _make_handler(provider, kind))
    for path, provider in MODEL_LIST_PATHS:
        app.router.add_get(path, _model_list_handler(provider))
    app.router.add_get("/health", _server_health)
    app.router.add_get("/_emulator/health", _health)
    app.router.add_get("/_emulator/requests", _requests)
    app.router.add_post("/_emulator/reset", _reset)
    app.router.add_get("/_emulator/faults", _get_faults)
    app.router.add_post("/_emulator/faults", _set_faults)
    return app


class EmulatorServer:
    """The provider emulator on a loopback port; use as ``async with EmulatorServer() as emu``.

    ``port=0`` picks a free port (read it from :attr:`port` after start).
    """

    def __init__(
        self, profile: EmulatorProfile | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        ensure_loopback(host)
        self.profile = profile or EmulatorProfile()
        self.host = host
        self.state = EmulatorState(self.profile)
        self._requested_port = port
        self._port: int | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Bind and start serving."""
        self._runner = web.AppRunner(build_app(self.state), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._requested_port)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop serving and release the port."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> EmulatorServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The bound port (only after :meth:`start`)."""
        if self._port is None:
            raise RuntimeError("the emulator is not running")
        return self._port

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def base_url(self, provider: str) -> str:
        """The base URL a client of ``provider`` should use (see :data:`BASE_PATHS`)."""
        if provider not in BASE_PATHS:
            raise ConfigError(
                f"the emulator does not speak {provider!r}; known: {sorted(BASE_PATHS)}"
            )
        return self.url + BASE_PATHS[provider]

    def base_urls(self) -> dict[str, str]:
        """Base URL of every provider."""
        return {p: self.base_url(p) for p in BASE_PATHS}

    @property
    def requests(self) -> list[RequestRecord]:
        """The log of requests served so far (server-side truth)."""
        return list(self.state.records)

    def reset(self) -> None:
        """Forget the log, cache and counters; reseed (same as ``POST /_emulator/reset``)."""
        self.state.reset()

    def set_faults(self, rules: list[FaultRule]) -> None:
        """Replace the fault rules at run time (same as ``POST /_emulator/faults``)."""
        self.state.faults.set_rules(rules)
