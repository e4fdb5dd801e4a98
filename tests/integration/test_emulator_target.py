"""The emulator as a standalone serving target, over real loopback HTTP.

Benchmark clients (GuideLLM, AIPerf, ``vllm bench serve``) ask a server for its health and
its models before they send anything, and ``vllm bench serve`` sends legacy completions by
default. Each test here replays what such a client sends (paths, headers, bodies, and the way
it reads the answer, taken from the clients' sources) against a real emulator. The last test
runs ``benchmarks/run_path_overhead.py`` end to end on a tiny plan.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from aetherflow.emulator import (
    EmulatorProfile,
    EmulatorServer,
    LatencyModelConfig,
    ProviderProfile,
    count_tokens,
)

ROOT = Path(__file__).resolve().parents[2]
BEARER = {"Authorization": "Bearer test-key"}
ANTHROPIC = {"x-api-key": "test-key", "anthropic-version": "2023-06-01"}
GEMINI = {"x-goog-api-key": "test-key"}
TOKENS = 12
OPENAI_LISTS = [
    ("/v1/models", "generic"),
    ("/openai/v1/models", "openai"),
    ("/deepseek/models", "deepseek"),
    ("/deepseek/v1/models", "deepseek"),
    ("/groq/openai/v1/models", "groq"),
    ("/mistral/v1/models", "mistral"),
]


def _profile(**kwargs: Any) -> EmulatorProfile:
    latency = LatencyModelConfig(ttft_base_ms=0, decode_ms_per_output_token=0)
    default = ProviderProfile(latency=latency, default_output_tokens=TOKENS)
    return EmulatorProfile(**({"default": default} | kwargs))


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def emu() -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer(_profile()) as server:
        yield server


async def _get(session: aiohttp.ClientSession, url: str,
               headers: dict[str, str] | None = None) -> tuple[int, Any]:
    async with session.get(url, headers=headers) as resp:
        return resp.status, await resp.json()


async def _sse_data(resp: aiohttp.ClientResponse) -> list[str]:
    """The ``data:`` payloads of an SSE body, in order."""
    text = await resp.text()
    return [line.removeprefix("data: ") for line in text.splitlines() if line.startswith("data:")]


# --------------------------------------------------------------------------- health
async def test_health_answers_ok(emu: EmulatorServer, session: aiohttp.ClientSession) -> None:
    assert await _get(session, emu.url + "/health") == (200, {"status": "ok"})
    async with session.head(emu.url + "/health") as resp:
        assert resp.status == 200


# --------------------------------------------------------------------------- model lists
@pytest.mark.parametrize(("path", "provider"), OPENAI_LISTS)
async def test_openai_style_model_lists(
    path: str, provider: str, emu: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    status, body = await _get(session, emu.url + path, BEARER)
    assert status == 200
    assert body["object"] == "list" and len(body["data"]) == 1
    entry = body["data"][0]
    assert entry["id"] == "emulated-model" and entry["object"] == "model"
    assert entry["owned_by"] == "aetherflow-emulator" and isinstance(entry["created"], int)
    assert ("root" in entry) == (provider == "generic")  # vLLM's card names its weights


async def test_anthropic_model_list(emu: EmulatorServer, session: aiohttp.ClientSession) -> None:
    status, body = await _get(session, emu.url + "/anthropic/v1/models", ANTHROPIC)
    assert status == 200
    assert body == {
        "data": [{"type": "model", "id": "emulated-model", "display_name": "emulated-model",
                  "created_at": "2024-01-01T00:00:00Z"}],
        "has_more": False, "first_id": "emulated-model", "last_id": "emulated-model",
    }


async def test_gemini_model_list(emu: EmulatorServer, session: aiohttp.ClientSession) -> None:
    status, body = await _get(session, emu.url + "/gemini/v1beta/models", GEMINI)
    assert status == 200
    (model,) = body["models"]
    assert model["name"] == "models/emulated-model"
    assert "streamGenerateContent" in model["supportedGenerationMethods"]
    status, _ = await _get(session, emu.url + "/gemini/v1beta/models?key=k")
    assert status == 200


async def test_model_lists_name_the_profiles_model(session: aiohttp.ClientSession) -> None:
    named = ProviderProfile(model_name="my-model")
    async with EmulatorServer(_profile(providers={"openai": named, "gemini": named})) as emu:
        _, openai = await _get(session, emu.url + "/openai/v1/models", BEARER)
        _, gemini = await _get(session, emu.url + "/gemini/v1beta/models", GEMINI)
        _, generic = await _get(session, emu.url + "/v1/models")
    assert openai["data"][0]["id"] == "my-model"
    assert gemini["models"][0]["name"] == "models/my-model"
    assert generic["data"][0]["id"] == "emulated-model"


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [("/openai/v1/models", 401, "error"), ("/groq/openai/v1/models", 401, "error"),
     ("/mistral/v1/models", 401, "object"), ("/anthropic/v1/models", 401, "error"),
     ("/gemini/v1beta/models", 403, "error")],
)
async def test_model_lists_want_the_providers_key(
    path: str, status: int, field: str, emu: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    got, body = await _get(session, emu.url + path)
    assert got == status and field in body


async def test_model_lists_need_no_key_when_auth_is_off(session: aiohttp.ClientSession) -> None:
    async with EmulatorServer(_profile(require_auth=False)) as emu:
        for path in ("/openai/v1/models", "/anthropic/v1/models", "/gemini/v1beta/models"):
            assert (await _get(session, emu.url + path))[0] == 200


# --------------------------------------------------------------------------- legacy completions
@pytest.mark.parametrize("base", ["/v1", "/openai/v1"])
async def test_streamed_completions(
    base: str, emu: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    body = {"model": "m", "prompt": "Write a haiku", "max_tokens": 64, "stream": True,
            "stream_options": {"include_usage": True}}
    async with session.post(emu.url + base + "/completions", json=body, headers=BEARER) as resp:
        assert resp.status == 200 and resp.content_type == "text/event-stream"
        data = await _sse_data(resp)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert all(c["object"] == "text_completion" and c["id"].startswith("cmpl-") for c in chunks)
    tokens = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"] is None]
    assert len(tokens) == TOKENS and all(c["choices"][0]["text"] for c in tokens)
    assert chunks[0] is tokens[0]  # no preamble: the first chunk is the first token
    finish = chunks[-2]["choices"][0]
    assert finish["text"] == "" and finish["finish_reason"] == "stop"
    usage = chunks[-1]["usage"]
    assert chunks[-1]["choices"] == []
    assert usage["prompt_tokens"] == count_tokens("Write a haiku")
    assert usage["completion_tokens"] == TOKENS


async def test_completions_without_usage_and_cut_by_max_tokens(
    emu: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    body = {"prompt": "x", "max_tokens": 3, "stream": True}
    async with session.post(emu.url + "/v1/completions", json=body) as resp:
        chunks = [json.loads(d) for d in (await _sse_data(resp))[:-1]]
    assert len(chunks) == 4 and all("usage" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize(
    ("prompt", "tokens"),
    [("hello world", 2), (["hello world", "again"], 3), ([11, 22, 33, 44], 4),
     ([[1, 2], [3, 4, 5]], 5)],
)
async def test_non_streamed_completions_count_every_prompt_form(
    prompt: Any, tokens: int, emu: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    body = {"model": "m", "prompt": prompt}
    async with session.post(emu.url + "/v1/completions", json=body) as resp:
        assert resp.status == 200
        answer = await resp.json()
    assert answer["object"] == "text_completion"
    assert answer["choices"][0]["finish_reason"] == "stop" and answer["choices"][0]["text"]
    assert answer["usage"]["prompt_tokens"] == tokens
    assert answer["usage"]["completion_tokens"] == TOKENS


@pytest.mark.parametrize("body", [{"model": "m"}, {"prompt": 5}, {"prompt": []},
                                  {"prompt": [1, "a"]}, {"prompt": "x", "max_tokens": -1}])
async def test_bad_completions_are_a_400(
    body: dict[str, Any], emu: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    async with session.post(emu.url + "/v1/completions", json=body) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["type"] == "invalid_request_error"


async def test_completions_requests_are_in_the_log(
    emu: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    async with session.post(emu.url + "/openai/v1/completions", json={"prompt": "a b"},
                            headers=BEARER) as resp:
        await resp.read()
    (record,) = emu.requests
    assert record.path == "/openai/v1/completions" and record.provider == "openai"
    assert record.input_tokens == 2 and record.completed


# --------------------------------------------------------------------------- real clients' flows
async def test_guidellm_openai_http_backend_flow(
    emu: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    """GuideLLM's ``openai_http`` backend, target ``http://host:port`` (``/v1`` is stripped):
    ``validate()`` GETs ``/health``, ``default_model()`` reads ``data[*].id`` of
    ``/v1/models``, requests go to ``/v1/chat/completions``; no API key by default."""
    target = emu.url + "/v1"
    target = target.rstrip("/").removesuffix("/v1")
    async with session.get(f"{target}/health") as resp:
        resp.raise_for_status()
    async with session.get(f"{target}/v1/models") as resp:
        resp.raise_for_status()
        models = [item["id"] for item in (await resp.json())["data"]]
    model = models[0]
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True,
            "stream_options": {"include_usage": True}, "max_completion_tokens": 8}
    async with session.post(f"{target}/v1/chat/completions", json=body) as resp:
        assert resp.status == 200
        data = await _sse_data(resp)
    assert data[-1] == "[DONE]"
    assert json.loads(data[-2])["usage"]["completion_tokens"] == 8


async def test_vllm_bench_serve_flow(emu: EmulatorServer, session: aiohttp.ClientSession) -> None:
    """``vllm bench serve`` defaults (backend ``openai``, endpoint ``/v1/completions``): without
    ``--model`` it takes ``data[0].id`` and ``data[0].root`` of ``/v1/models``; its request
    function counts a chunk with ``choices`` as a token and reads usage from the last chunk;
    no ``Authorization`` unless ``OPENAI_API_KEY`` is set."""
    async with session.get(emu.url + "/v1/models") as resp:
        resp.raise_for_status()
        first = (await resp.json())["data"][0]
    model_id, model_root = first["id"], first["root"]
    assert model_root == model_id
    payload = {"model": model_id, "prompt": "some random words", "repetition_penalty": 1.0,
               "max_tokens": 10, "logprobs": None, "stream": True,
               "stream_options": {"include_usage": True}, "ignore_eos": True}
    texts, output_tokens = [], None
    async with session.post(emu.url + "/v1/completions", json=payload) as resp:
        assert resp.status == 200
        for message in await _sse_data(resp):
            if message == "[DONE]":
                continue
            data = json.loads(message)
            if choices := data.get("choices"):
                texts.append(choices[0].get("text"))
            elif usage := data.get("usage"):
                output_tokens = usage.get("completion_tokens")
    assert output_tokens == 10 and sum(1 for t in texts if t) == 10
    async with session.post(emu.url + "/tokenize", json={"prompt": "x"}) as resp:
        assert resp.status == 404  # vllm bench catches this and skips prompt re-alignment


async def test_aiperf_flow(emu: EmulatorServer, session: aiohttp.ClientSession) -> None:
    """AIPerf defaults: ``--endpoint-type chat`` on ``/v1/chat/completions``, not streamed
    unless ``--streaming``, ``max_completion_tokens``; ``--wait-for-model-mode models`` polls
    ``/v1/models``."""
    async with session.get(emu.url + "/v1/models") as resp:
        assert resp.status == 200
    body = {"model": "emulated-model", "max_completion_tokens": 5,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi there"}]}]}
    async with session.post(emu.url + "/v1/chat/completions", json=body) as resp:
        assert resp.status == 200
        answer = await resp.json()
    assert answer["object"] == "chat.completion"
    assert answer["usage"] == answer["usage"] | {"prompt_tokens": 2, "completion_tokens": 5}
    async with session.post(emu.url + "/v1/chat/completions",
                            json=body | {"stream": True}) as resp:
        assert (await _sse_data(resp))[-1] == "[DONE]"


# --------------------------------------------------------------------------- the benchmark
@pytest.mark.timeout(30)
def test_run_path_overhead_smoke(tmp_path: Path) -> None:
    """``run_path_overhead.py --sizes 20 --rounds 1`` runs end to end in a few seconds."""
    out = tmp_path / "figures.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"),
                                                      env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run_path_overhead.py"), "--sizes", "20",
         "--rounds", "1", "--concurrency", "4", "--json", str(out), "--work-dir",
         str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=28, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for column in ("wall s", "req/s", "CPU ms/req", "net ms/req", "peak MB", "emu CPU ms/req",
                   "ratio aetherflow/minimal req/s", "uptime at start", "uptime at end",
                   "goals (informational)", "us per file", "run ms/req", "sys ms/req"):
        assert column in text, column
    figures = json.loads(out.read_text())
    assert figures["file_create_us"] > 0 and figures["work_dir"] == str(tmp_path.resolve())
    assert [p.name for p in tmp_path.iterdir()] == ["figures.json"]  # its folder removed
    (size,) = figures["sizes"]
    assert size["steps"] == 20 and size["aetherflow"]["finished"]
    assert size["aetherflow"]["problems"] == [] and size["minimal"]["problems"] == []
    assert size["aetherflow"]["served"] == 20 and size["minimal"]["served"] == 20
    assert size["ratio_req_s"] > 0 and size["aetherflow"]["peak_rss_mb"] > 0
    # the run's own CPU (run.json sessions[].cpu_ms) is read, and is less than the process's
    assert 0 < size["aetherflow"]["run_cpu_ms_per_req"] < size["aetherflow"]["cpu_ms_per_req"]
    assert size["minimal"]["run_cpu_ms_per_req"] is None
