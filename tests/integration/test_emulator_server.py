"""The provider emulator over real loopback HTTP: wire formats, usage, cache, latency, faults."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from aetherflow.emulator import (
    CacheModel,
    EmulatorProfile,
    EmulatorServer,
    FaultRule,
    LatencyModelConfig,
    ProviderProfile,
    ReplyRule,
    count_tokens,
    run_emulator_in_subprocess,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "wire"
REPLY = "Hello, world! ```python\ndef f(x):\n    return x + 1\n```"
FORMATS = ["generic", "openai", "deepseek", "groq", "mistral", "mistral_fim", "anthropic", "gemini"]
OPENAI_LIKE = {"generic", "openai", "deepseek", "groq", "mistral", "mistral_fim"}
BEARER = {"Authorization": "Bearer test-key"}
ANTHROPIC_HEADERS = {"x-api-key": "test-key", "anthropic-version": "2023-06-01"}


# --------------------------------------------------------------------------- client helpers
@dataclass
class Frame:
    """One SSE event as a client saw it, with its arrival time."""

    event: str
    data: str
    t: float

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class StreamResult:
    status: int
    frames: list[Frame] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    error: Exception | None = None
    t0: float = 0.0


def request_for(
    fmt: str,
    prompt: str,
    *,
    stream: bool = True,
    max_tokens: int | None = None,
    extra: dict[str, Any] | None = None,
) -> tuple[str, dict[str, Any], dict[str, str]]:
    """Path, body and headers of a request in format ``fmt``."""
    if fmt == "anthropic":
        body: dict[str, Any] = {
            "model": "claude-x",
            "max_tokens": max_tokens or 1024,
            "messages": [{"role": "user", "content": prompt}],
            "stream": stream,
        }
        return "/anthropic/v1/messages", body | (extra or {}), ANTHROPIC_HEADERS
    if fmt == "gemini":
        action = "streamGenerateContent?alt=sse" if stream else "generateContent"
        body = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
        if max_tokens is not None:
            body["generationConfig"] = {"maxOutputTokens": max_tokens}
        return (
            f"/gemini/v1beta/models/gemini-2.0-flash:{action}",
            body | (extra or {}),
            {"x-goog-api-key": "test-key"},
        )
    if fmt == "mistral_fim":
        body = {
            "model": "codestral-latest",
            "prompt": prompt,
            "suffix": "return y",
            "stream": stream,
        }
        path = "/mistral/v1/fim/completions"
    else:
        body = {
            "model": "m-1",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": prompt},
            ],
            "stream": stream,
            "stream_options": {"include_usage": True},
        }
        path = {
            "generic": "/v1",
            "openai": "/openai/v1",
            "deepseek": "/deepseek",
            "groq": "/groq/openai/v1",
            "mistral": "/mistral/v1",
        }[fmt] + "/chat/completions"
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    return path, body | (extra or {}), BEARER


def _feed(line: str, state: dict[str, Any], frames: list[Frame]) -> None:
    if line == "":
        if state["data"]:
            frames.append(
                Frame(state["event"] or "message", "\n".join(state["data"]), time.perf_counter())
            )
        state["event"], state["data"] = "", []
    elif not line.startswith(":"):
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            state["data"].append(value)
        elif name == "event":
            state["event"] = value


def parse_sse_text(text: str) -> list[Frame]:
    frames: list[Frame] = []
    state: dict[str, Any] = {"event": "", "data": []}
    for line in [*text.splitlines(), ""]:
        _feed(line, state, frames)
    return frames


async def call(
    session: aiohttp.ClientSession, emu: EmulatorServer, fmt: str, prompt: str, **kwargs: Any
) -> StreamResult:
    path, body, headers = request_for(fmt, prompt, **kwargs)
    t0 = time.perf_counter()
    async with session.post(emu.url + path, json=body, headers=headers) as resp:
        result = StreamResult(status=resp.status, headers=dict(resp.headers), t0=t0)
        streaming = "streamGenerateContent" in path if fmt == "gemini" else body["stream"]
        if resp.status != 200 or not streaming:
            result.body = await resp.text()
            return result
        state: dict[str, Any] = {"event": "", "data": []}
        buf = b""
        try:
            async for chunk in resp.content.iter_any():
                buf += chunk
                while b"\n" in buf:
                    raw, buf = buf.split(b"\n", 1)
                    _feed(raw.decode().rstrip("\r"), state, result.frames)
        except aiohttp.ClientPayloadError as exc:
            result.error = exc
    return result


def content_frames(fmt: str, frames: list[Frame]) -> list[tuple[Frame, str]]:
    """Frames carrying non-empty output text, with that text."""
    out = []
    for f in frames:
        text = ""
        if fmt == "anthropic" and f.event == "content_block_delta":
            text = f.json()["delta"]["text"]
        elif fmt == "gemini" and f.data.startswith("{"):
            cands = f.json().get("candidates") or [{}]
            text = cands[0].get("content", {}).get("parts", [{}])[0].get("text", "")
        elif fmt in OPENAI_LIKE and f.data.startswith("{"):
            choices = f.json().get("choices") or [{}]
            text = choices[0].get("delta", {}).get("content") or ""
        if text:
            out.append((f, text))
    return out


def reported_usage(fmt: str, frames: list[Frame]) -> dict[str, int]:
    """(input, output, cached) as the provider's stream reports them, normalised."""
    if fmt == "anthropic":
        start = next(f.json() for f in frames if f.event == "message_start")["message"]["usage"]
        delta = next(f.json() for f in frames if f.event == "message_delta")["usage"]
        return {
            "input": start["input_tokens"]
            + start["cache_read_input_tokens"]
            + start["cache_creation_input_tokens"],
            "output": delta["output_tokens"],
            "cached": start["cache_read_input_tokens"],
            "written": start["cache_creation_input_tokens"],
        }
    if fmt == "gemini":
        meta = frames[-1].json()["usageMetadata"]
        return {
            "input": meta["promptTokenCount"],
            "output": meta["candidatesTokenCount"],
            "cached": meta.get("cachedContentTokenCount", 0),
        }
    chunks = [f.json() for f in frames if f.data.startswith("{")]
    if fmt == "groq":
        usage = next(c["x_groq"]["usage"] for c in chunks if "usage" in c.get("x_groq", {}))
    else:
        usage = next(c["usage"] for c in chunks if c.get("usage"))
    cached = usage.get("prompt_tokens_details", {}).get("cached_tokens", 0)
    if fmt == "deepseek":
        assert (
            usage["prompt_cache_hit_tokens"] + usage["prompt_cache_miss_tokens"]
            == usage["prompt_tokens"]
        )
        cached = usage["prompt_cache_hit_tokens"]
    return {"input": usage["prompt_tokens"], "output": usage["completion_tokens"], "cached": cached}


def completed(fmt: str, frames: list[Frame]) -> bool:
    """Whether the stream ended with the provider's end marker."""
    if not frames:
        return False
    if fmt == "anthropic":
        return frames[-1].event == "message_stop"
    if fmt == "gemini":
        return "finishReason" in frames[-1].json()["candidates"][0]
    return frames[-1].data == "[DONE]"


def fast_profile(**kwargs: Any) -> EmulatorProfile:
    latency = LatencyModelConfig(ttft_base_ms=0, decode_ms_per_output_token=0)
    base: dict[str, Any] = {
        "default": ProviderProfile(latency=latency),
        "replies": [ReplyRule(contains="greet", reply=REPLY)],
    }
    return EmulatorProfile(**(base | kwargs))


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def emu() -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer(fast_profile()) as server:
        yield server


# --------------------------------------------------------------------------- wire formats
@pytest.mark.parametrize("fmt", FORMATS)
async def test_stream_text_and_usage_equal_what_was_streamed(
    fmt: str, emu: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    result = await call(session, emu, fmt, "please greet me")
    assert result.status == 200 and result.error is None
    assert result.headers["Content-Type"].startswith("text/event-stream")
    chunks = content_frames(fmt, result.frames)
    assert "".join(text for _, text in chunks) == REPLY
    usage = reported_usage(fmt, result.frames)
    record = emu.requests[-1]
    assert usage["output"] == len(chunks) == count_tokens(REPLY) == record.streamed_tokens
    assert usage["input"] == record.input_tokens > 0
    assert completed(fmt, result.frames) and record.completed


def _kind(fmt: str, frame: Frame) -> str:
    """Classify a frame so emulator and fixture streams can be compared event by event."""
    if fmt == "anthropic":
        return frame.event
    if frame.data == "[DONE]":
        return "done"
    data = frame.json()
    if fmt == "gemini":
        return "finish" if "finishReason" in data["candidates"][0] else "content"
    if not data["choices"]:
        return "usage"
    choice = data["choices"][0]
    return (
        "finish"
        if choice["finish_reason"]
        else ("role" if "role" in choice["delta"] else "content")
    )


def _paths(value: Any, prefix: str = "") -> set[str]:
    if isinstance(value, dict):
        out = set()
        for k, v in value.items():
            out |= {f"{prefix}.{k}"} | _paths(v, f"{prefix}.{k}")
        return out
    if isinstance(value, list):
        return set().union(*(_paths(v, prefix + "[]") for v in value)) if value else set()
    return set()


# Fields the recorded examples carry that the emulator leaves out, and vice versa.
IGNORED = {".choices[].delta.refusal", ".usage", ".x_groq", ".x_groq.id"}


def _shape(fmt: str, frames: list[Frame]) -> dict[str, set[str]]:
    shapes: dict[str, set[str]] = {}
    for f in frames:
        paths = set() if f.data == "[DONE]" else _paths(f.json())
        shapes.setdefault(_kind(fmt, f), set()).update(paths - IGNORED)
    return shapes


@pytest.mark.parametrize(
    ("fmt", "fixture"),
    [
        ("openai", "openai"),
        ("generic", "openai"),
        ("deepseek", "deepseek"),
        ("groq", "groq"),
        ("mistral", "mistral"),
        ("mistral_fim", "mistral"),
        ("anthropic", "anthropic"),
        ("gemini", "gemini"),
    ],
)
async def test_stream_has_the_documented_structure(
    fmt: str, fixture: str, emu: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    # The recorded examples were made without include_usage, except DeepSeek's.
    extra = {} if fixture == "deepseek" else {"stream_options": {"include_usage": False}}
    result = await call(session, emu, fmt, "please greet me", extra=extra)
    recorded = parse_sse_text((FIXTURES / f"{fixture}_stream.txt").read_text())
    kinds = [_kind(fmt, f) for f in result.frames]
    want = [_kind(fmt, f) for f in recorded]
    assert [k for i, k in enumerate(kinds) if i == 0 or kinds[i - 1] != k] == [
        k for i, k in enumerate(want) if i == 0 or want[i - 1] != k
    ]
    assert _shape(fmt, result.frames) == _shape(fmt, recorded)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_non_streaming_answer(
    fmt: str, emu: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    result = await call(session, emu, fmt, "please greet me", stream=False)
    assert result.status == 200
    body = json.loads(result.body)
    n = count_tokens(REPLY)
    if fmt == "anthropic":
        assert body["content"][0]["text"] == REPLY and body["usage"]["output_tokens"] == n
    elif fmt == "gemini":
        assert body["candidates"][0]["content"]["parts"][0]["text"] == REPLY
        assert body["usageMetadata"]["candidatesTokenCount"] == n
    else:
        assert body["choices"][0]["message"]["content"] == REPLY
        assert body["usage"]["completion_tokens"] == n


@pytest.mark.parametrize("fmt", FORMATS)
async def test_max_tokens_caps_the_reply(
    fmt: str, emu: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    result = await call(session, emu, fmt, "please greet me", max_tokens=3)
    assert len(content_frames(fmt, result.frames)) == 3
    assert reported_usage(fmt, result.frames)["output"] == 3
    assert emu.requests[-1].finish == "length"


async def test_default_reply_is_filler_of_default_length(
    emu: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    result = await call(session, emu, "openai", "no rule matches this")
    text = "".join(t for _, t in content_frames("openai", result.frames))
    assert (
        text.startswith("```python\ndef add(")
        and len(content_frames("openai", result.frames)) == 32
    )


@pytest.mark.parametrize(
    ("fmt", "status"), [("openai", 401), ("deepseek", 401), ("anthropic", 401), ("gemini", 403)]
)
async def test_missing_key_is_refused_in_the_providers_error_shape(
    fmt: str, status: int, emu: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    path, body, _ = request_for(fmt, "hi")
    async with session.post(emu.url + path, json=body) as resp:
        assert resp.status == status
        data = await resp.json()
    assert data["error"]["type" if fmt != "gemini" else "status"]


async def test_anthropic_needs_version_header(
    emu: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    path, body, _ = request_for("anthropic", "hi")
    async with session.post(emu.url + path, json=body, headers={"x-api-key": "k"}) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["type"] == "invalid_request_error"


async def test_bad_body_is_a_400(emu: EmulatorServer, session: aiohttp.ClientSession) -> None:
    async with session.post(
        emu.base_url("openai") + "/chat/completions", data=b"{nope", headers=BEARER
    ) as resp:
        assert resp.status == 400
    async with session.post(
        emu.base_url("openai") + "/chat/completions", json={"model": "m"}, headers=BEARER
    ) as resp:
        assert resp.status == 400
        assert "messages" in (await resp.json())["error"]["message"]


async def test_admin_endpoints(emu: EmulatorServer, session: aiohttp.ClientSession) -> None:
    async with session.get(emu.url + "/_emulator/health") as resp:
        health = await resp.json()
    assert health["status"] == "ok" and health["providers"] == emu.base_urls()
    await call(session, emu, "openai", "please greet me")
    async with session.get(emu.url + "/_emulator/requests") as resp:
        log = (await resp.json())["requests"]
    assert log[0]["provider"] == "openai" and log[0]["output_tokens"] == count_tokens(REPLY)
    assert log[0]["ttft_ms"] == 0 and log[0]["fault"] is None
    async with session.post(
        emu.url + "/_emulator/faults", json={"faults": [{"fault": "nope"}]}
    ) as resp:
        assert resp.status == 400
    async with session.post(
        emu.url + "/_emulator/faults", json={"faults": [{"fault": "http_500"}]}
    ) as resp:
        assert resp.status == 200
    assert (await call(session, emu, "openai", "hi")).status == 500
    async with session.post(emu.url + "/_emulator/reset") as resp:
        assert resp.status == 200
    assert emu.requests == []


# --------------------------------------------------------------------------- prefix cache
LONG_PROMPT = " ".join(f"word{i}" for i in range(100)) + " please greet me"


@pytest.mark.parametrize("fmt", ["openai", "generic", "deepseek", "groq", "gemini"])
async def test_repeated_prefix_reports_cached_tokens(
    fmt: str, session: aiohttp.ClientSession
) -> None:
    cache = CacheModel(block_tokens=16)
    profile = fast_profile(
        default=ProviderProfile(
            latency=LatencyModelConfig(ttft_base_ms=0, decode_ms_per_output_token=0), cache=cache
        )
    )
    async with EmulatorServer(profile) as emu:
        first = reported_usage(fmt, (await call(session, emu, fmt, LONG_PROMPT)).frames)
        second = reported_usage(fmt, (await call(session, emu, fmt, LONG_PROMPT)).frames)
    assert first["cached"] == 0
    assert second["cached"] == emu.requests[-1].cached_tokens > 0
    assert second["cached"] % 16 == 0 and second["cached"] <= second["input"]
    assert second["input"] == first["input"]


async def test_anthropic_caches_only_with_cache_control(session: aiohttp.ClientSession) -> None:
    profile = fast_profile(default=ProviderProfile(cache=CacheModel(block_tokens=16)))
    marked = {
        "system": [
            {"type": "text", "text": "system rules " * 20, "cache_control": {"type": "ephemeral"}}
        ]
    }
    async with EmulatorServer(profile) as emu:
        plain = [
            reported_usage("anthropic", (await call(session, emu, "anthropic", LONG_PROMPT)).frames)
            for _ in range(2)
        ]
        first = reported_usage(
            "anthropic", (await call(session, emu, "anthropic", LONG_PROMPT, extra=marked)).frames
        )
        second = reported_usage(
            "anthropic", (await call(session, emu, "anthropic", LONG_PROMPT, extra=marked)).frames
        )
    assert plain[1]["cached"] == 0 and plain[1]["written"] == 0
    assert first["written"] > 0 and first["cached"] == 0
    assert second["cached"] == first["written"] and second["written"] == 0
    assert second["input"] == first["input"]


async def test_cached_prefix_shortens_ttft(session: aiohttp.ClientSession) -> None:
    latency = LatencyModelConfig(
        ttft_base_ms=5, prefill_ms_per_input_token=0.5, decode_ms_per_output_token=0
    )
    profile = fast_profile(
        default=ProviderProfile(
            latency=latency, cache=CacheModel(block_tokens=16, cached_prefill_fraction=0.1)
        )
    )
    async with EmulatorServer(profile) as emu:
        for _ in range(2):
            await call(session, emu, "openai", LONG_PROMPT)
        cold, warm = emu.requests
    n, cached = cold.input_tokens, warm.cached_tokens
    assert cold.ttft_ms == pytest.approx(5 + 0.5 * n)
    assert warm.ttft_ms == pytest.approx(5 + 0.5 * (n - cached) + 0.05 * cached)


# --------------------------------------------------------------------------- latency model
async def test_client_measured_timing_matches_the_model(session: aiohttp.ClientSession) -> None:
    latency = LatencyModelConfig(ttft_base_ms=50, decode_ms_per_output_token=5)
    profile = fast_profile(default=ProviderProfile(latency=latency, default_output_tokens=20))
    async with EmulatorServer(profile) as emu:
        async with session.get(emu.url + "/_emulator/health"):
            pass  # warm the keep-alive connection so TTFT excludes the TCP handshake
        result = await call(session, emu, "openai", "time me")
    times = [f.t for f, _ in content_frames("openai", result.frames)]
    ttft_ms = (times[0] - result.t0) * 1000
    gaps = [(b - a) * 1000 for a, b in itertools.pairwise(times)]
    assert len(times) == 20
    assert 50 <= ttft_ms < 55
    assert all(abs(g - 5) < 5 for g in gaps)
    assert abs(sum(gaps) / len(gaps) - 5) < 1.5


async def test_same_seed_same_timing_and_different_seed_differs(
    session: aiohttp.ClientSession,
) -> None:
    latency = LatencyModelConfig(
        ttft_base_ms=2,
        ttft_jitter_ms=2,
        decode_ms_per_output_token=0,
        decode_jitter_ms=0.5,
        jitter_distribution="normal",
    )
    offsets = []
    for seed in (7, 7, 8):
        profile = fast_profile(
            seed=seed, default=ProviderProfile(latency=latency, default_output_tokens=5)
        )
        async with EmulatorServer(profile) as emu:
            for _ in range(3):
                await call(session, emu, "anthropic", "hi")
            offsets.append([r.token_offsets_ms for r in emu.requests])
    assert offsets[0] == offsets[1]
    assert offsets[0] != offsets[2]


# --------------------------------------------------------------------------- faults
async def _with_fault(
    session: aiohttp.ClientSession, fmt: str, rule: FaultRule
) -> tuple[StreamResult, EmulatorServer]:
    async with EmulatorServer(fast_profile(faults=[rule])) as emu:
        result = await call(session, emu, fmt, "please greet me")
    return result, emu


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("fault", "status"), [("http_429", 429), ("http_500", 500), ("http_503", 503)]
)
async def test_http_faults(
    fmt: str, fault: str, status: int, session: aiohttp.ClientSession
) -> None:
    result, emu = await _with_fault(session, fmt, FaultRule(fault=fault, retry_after_s=7))  # type: ignore[arg-type]
    assert result.status == status
    assert json.loads(result.body)  # an error body in the provider's own JSON shape
    assert (result.headers.get("Retry-After") == "7") == (status == 429)
    assert emu.requests[0].fault == fault and emu.requests[0].status == status


@pytest.mark.parametrize("fmt", FORMATS)
async def test_reset_mid_stream(fmt: str, session: aiohttp.ClientSession) -> None:
    result, emu = await _with_fault(session, fmt, FaultRule(fault="reset", after_tokens=3))
    assert isinstance(result.error, aiohttp.ClientPayloadError)
    assert len(content_frames(fmt, result.frames)) == 3 == emu.requests[0].streamed_tokens
    assert not completed(fmt, result.frames)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_stall_then_continue(fmt: str, session: aiohttp.ClientSession) -> None:
    rule = FaultRule(fault="stall", after_tokens=2, stall_s=0.15)
    result, emu = await _with_fault(session, fmt, rule)
    times = [f.t for f, _ in content_frames(fmt, result.frames)]
    assert times[2] - times[1] >= 0.149
    assert completed(fmt, result.frames) and emu.requests[0].stall_ms == 150


@pytest.mark.parametrize("fmt", FORMATS)
async def test_stall_then_close(fmt: str, session: aiohttp.ClientSession) -> None:
    rule = FaultRule(fault="stall", after_tokens=2, stall_s=0.05, stall_then="close")
    result, _ = await _with_fault(session, fmt, rule)
    assert isinstance(result.error, aiohttp.ClientPayloadError)
    assert len(content_frames(fmt, result.frames)) == 2


@pytest.mark.parametrize("fmt", FORMATS)
async def test_malformed_event(fmt: str, session: aiohttp.ClientSession) -> None:
    result, _ = await _with_fault(session, fmt, FaultRule(fault="malformed", after_tokens=1))
    bad = [f for f in result.frames if f.data != "[DONE]" and not _parses(f.data)]
    assert len(bad) == 1


def _parses(data: str) -> bool:
    try:
        json.loads(data)
    except json.JSONDecodeError:
        return False
    return True


@pytest.mark.parametrize("fmt", FORMATS)
async def test_truncated_stream_has_no_end_marker(fmt: str, session: aiohttp.ClientSession) -> None:
    result, emu = await _with_fault(session, fmt, FaultRule(fault="truncated", after_tokens=99))
    assert result.error is None
    assert len(content_frames(fmt, result.frames)) == count_tokens(REPLY)
    assert not completed(fmt, result.frames) and not emu.requests[0].completed


@pytest.mark.parametrize("fmt", FORMATS)
async def test_in_stream_error_event(fmt: str, session: aiohttp.ClientSession) -> None:
    result, _ = await _with_fault(session, fmt, FaultRule(fault="error_event", after_tokens=2))
    last = result.frames[-1]
    if fmt == "anthropic":
        assert last.event == "error" and last.json()["error"]["type"] == "overloaded_error"
    else:  # Mistral's error object is flat ({"object": "error", "message": ...})
        data = last.json()
        assert data.get("error", data)["message"]
    assert len(content_frames(fmt, result.frames)) == 2


async def test_fault_rule_matching(session: aiohttp.ClientSession) -> None:
    rules = [
        FaultRule(fault="http_500", provider="openai", nth=2),
        FaultRule(fault="http_503", every=3),
        FaultRule(fault="http_429", prompt_contains="boom", times=1),
    ]
    async with EmulatorServer(fast_profile(faults=rules)) as emu:
        statuses = [
            (await call(session, emu, fmt, prompt)).status
            for fmt, prompt in [
                ("openai", "a"),
                ("openai", "b"),
                ("gemini", "c"),
                ("gemini", "boom"),
                ("gemini", "boom"),
            ]
        ]
        assert [r.fault for r in emu.requests] == [None, "http_500", "http_503", "http_429", None]
    assert statuses == [200, 500, 503, 429, 200]


async def test_probabilistic_faults_are_seeded(session: aiohttp.ClientSession) -> None:
    picks = []
    for _ in range(2):
        profile = fast_profile(seed=3, faults=[FaultRule(fault="http_500", probability=0.5)])
        async with EmulatorServer(profile) as emu:
            picks.append([(await call(session, emu, "groq", "x")).status for _ in range(12)])
    assert picks[0] == picks[1] and {200, 500} == set(picks[0])


@pytest.mark.parametrize("fault", ["reset", "stall", "malformed", "truncated", "error_event"])
async def test_non_streaming_faults(fault: str, session: aiohttp.ClientSession) -> None:
    rule = FaultRule(fault=fault, stall_s=0.01)  # type: ignore[arg-type]
    async with EmulatorServer(fast_profile(faults=[rule])) as emu:
        try:
            result = await call(session, emu, "openai", "please greet me", stream=False)
        except aiohttp.ClientError:
            assert fault == "reset"
            return
    ok = {"stall": 200, "malformed": 200, "truncated": 200, "error_event": 500}[fault]
    assert result.status == ok
    assert _parses(result.body) == (fault in ("stall", "error_event"))


# --------------------------------------------------------------------------- process
def test_emulator_in_a_subprocess() -> None:
    import urllib.request

    with run_emulator_in_subprocess(seed=5) as proc:
        with urllib.request.urlopen(proc.url + "/_emulator/health", timeout=5) as resp:
            health = json.loads(resp.read())
        assert health["providers"]["anthropic"] == proc.base_url("anthropic")


# --------------------------------------------------------------------------- self-hosted paths
async def test_generic_needs_no_key_like_a_self_hosted_server(
    emu: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    path, body, _ = request_for("generic", "please greet me")
    async with session.post(emu.url + path, json=body) as resp:
        assert resp.status == 200
        await resp.read()
    async with session.post(emu.url + "/v1/completions", json={"prompt": "hi"}) as resp:
        assert resp.status == 200
    async with session.get(emu.url + "/v1/models") as resp:
        assert resp.status == 200


def _completion_texts(frames: list[Frame]) -> list[str]:
    return [f.json()["choices"][0]["text"] for f in frames
            if _parses(f.data) and f.data.startswith("{") and f.json().get("choices")
            and f.json()["choices"][0]["text"]]


@pytest.mark.parametrize("fault", ["reset", "truncated", "malformed", "error_event", "http_429"])
async def test_faults_strike_legacy_completions(fault: str, session: aiohttp.ClientSession) -> None:
    rule = FaultRule(fault=fault, after_tokens=2, retry_after_s=3)  # type: ignore[arg-type]
    body = {"prompt": "please greet me", "stream": True}
    async with EmulatorServer(fast_profile(faults=[rule])) as emu:
        async with session.post(emu.url + "/v1/completions", json=body) as resp:
            status, retry_after = resp.status, resp.headers.get("Retry-After")
            try:
                text: str | None = (await resp.read()).decode()
            except aiohttp.ClientPayloadError:
                text = None
        (record,) = emu.requests
    assert record.fault == fault
    if fault == "http_429":
        assert status == 429 and retry_after == "3"
        return
    assert status == 200
    if fault == "reset":
        assert text is None and record.streamed_tokens == 2 and not record.completed
        return
    assert text is not None
    frames = parse_sse_text(text)
    if fault == "malformed":  # one unparseable frame, then the stream goes on to the end
        assert any(not _parses(f.data) for f in frames) and frames[-1].data == "[DONE]"
        assert "".join(_completion_texts(frames)) == REPLY and record.completed
        return
    assert _completion_texts(frames) == ["Hello", ","] and not record.completed
    assert "[DONE]" not in text
    if fault == "error_event":
        assert "error" in frames[-1].json()


def test_clients_that_leave_mid_stream_never_block_the_child(tmp_path: Path) -> None:
    """Hundreds of clients killed mid-reply: the child keeps answering (its output is
    drained, a full pipe would stop it) and records each as gone, without a traceback."""
    import socket
    import urllib.request

    profile = tmp_path / "slow.json"
    profile.write_text(json.dumps({"seed": 1, "require_auth": False, "default": {
        "latency": {"ttft_base_ms": 1, "decode_ms_per_output_token": 20}}}))
    path, body, _ = request_for("generic", "please greet me")
    raw = json.dumps(body).encode()
    with run_emulator_in_subprocess(profile) as proc:
        host, port = proc.url.removeprefix("http://").split(":")
        for _ in range(300):
            with socket.create_connection((host, int(port)), timeout=5) as sock:
                sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: "
                             f"application/json\r\nContent-Length: {len(raw)}\r\n\r\n".encode()
                             + raw)
                sock.recv(256)  # the headers: the reply is streaming; then the client dies
        time.sleep(0.5)
        with urllib.request.urlopen(proc.url + "/_emulator/requests", timeout=10) as resp:
            requests = json.loads(resp.read())["requests"]
        tail = list(proc.log_tail)
    assert len(requests) == 300
    assert sum(r["client_gone"] for r in requests) >= 290  # a tiny reply may have finished
    assert not [line for line in tail if "Traceback" in line]
