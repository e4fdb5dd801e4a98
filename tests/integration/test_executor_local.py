"""The executor against the real embedded model over loopback."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from aetherflow.execution import RunOptions, run_plan_async
from aetherflow.providers.base import ProviderSettings, register_provider
from aetherflow.providers.local import LocalServer
from aetherflow.providers.openai_compat import OpenAICompatibleProvider
from aetherflow.results.run import CostBreakdown, RunRecord, Usage

pytestmark = pytest.mark.local_model


def _plan(tmp_path: Path, steps: list[dict[str, Any]]) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"task_id": "t", "description": "test", "steps": steps}))
    return path


def _step(sid: str, deps: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": sid, "description": f"Write a Python function named f_{sid}.",
            "dependencies": deps or [], **extra}


def _resolver(server: LocalServer):  # type: ignore[no-untyped-def]
    def resolve(name: str, model: str | None, base_url: str | None) -> ProviderSettings:
        if name == "broken":
            return ProviderSettings(name="broken", model="m", base_url="http://127.0.0.1:9/v1")
        return ProviderSettings(name=name, model=model, base_url=server.url)
    return resolve


def _free(provider: str, model: str, usage: Usage) -> CostBreakdown:
    return CostBreakdown(total_usd=0.0, price_source="test: free")


async def _run(tmp_path: Path, server: LocalServer, steps: list[dict[str, Any]],
               **opts: Any) -> RunRecord:
    options = RunOptions(max_tokens=24, output=tmp_path / "run", **opts)
    record, _ = await run_plan_async(_plan(tmp_path, steps), options,
                                     resolver=_resolver(server), pricer=_free)
    return record


async def test_chain_runs_in_dependency_order(tmp_path: Path, local_server: LocalServer) -> None:
    rec = await _run(tmp_path, local_server,
                     [_step("a"), _step("b", ["a"]), _step("c", ["b"]), _step("d")])
    by_id = {s.step_id: s for s in rec.steps}
    assert rec.status == "unvalidated"
    for sid, dep in (("b", "a"), ("c", "b")):
        assert by_id[sid].ready_at_ms >= by_id[dep].finished_at_ms  # type: ignore[operator]
    on_disk = RunRecord.model_validate_json((tmp_path / "run" / "run.json").read_text())
    for step in on_disk.steps:
        assert step.ttft_ms is not None and step.ttr_ms is not None
        assert 0 < step.ttft_ms <= step.ttr_ms
        assert (tmp_path / "run" / "step_outputs" / f"{step.step_id}.md").is_file()
    assert rec.critical_path[:3] == ["a", "b", "c"]
    assert rec.makespan_ms is not None and rec.critical_path_ms is not None
    assert rec.critical_path_ms <= rec.makespan_ms


async def test_concurrency_one_serialises_and_measures_queue(
        tmp_path: Path, local_server: LocalServer) -> None:
    rec = await _run(tmp_path, local_server, [_step("a"), _step("b"), _step("c")], concurrency=1)
    spans = sorted((a.timeline_ms["dispatched"], a.timeline_ms["closed"], a.timing.queue_latency_ms)
                   for s in rec.steps for a in s.attempts)
    for (_, closed, _), (dispatched, _, _) in itertools.pairwise(spans):
        assert dispatched >= closed  # type: ignore[operator]
    queue = sorted(q for *_, q in spans)  # type: ignore[type-var]
    assert (queue[-1] or 0) > 50  # the last one waited for two others to stream


async def test_concurrency_three_overlaps(tmp_path: Path, local_server: LocalServer) -> None:
    rec = await _run(tmp_path, local_server, [_step("a"), _step("b"), _step("c")], concurrency=3)
    attempts = [a for s in rec.steps for a in s.attempts]
    first_close = min(a.timeline_ms["closed"] for a in attempts)  # type: ignore[type-var]
    assert all(a.timeline_ms["dispatched"] < first_close for a in attempts)  # type: ignore[operator]


async def test_failed_dependency_skips_dependents(
        tmp_path: Path, local_server: LocalServer) -> None:
    register_provider("broken", OpenAICompatibleProvider)
    steps = [_step("bad", context={"provider": "broken"}), _step("child", ["bad"]),
             _step("grandchild", ["child"]), _step("ok")]
    rec = await _run(tmp_path, local_server, steps, max_attempts=2)
    by_id = {s.step_id: s for s in rec.steps}
    assert rec.status == "failed"
    assert by_id["bad"].status == "failed" and len(by_id["bad"].attempts) == 2
    assert all(a.error_kind == "connect" for a in by_id["bad"].attempts)
    assert by_id["child"].status == "skipped" and by_id["child"].reason == "dependency 'bad' failed"
    assert by_id["grandchild"].reason == "dependency 'child' skipped"
    assert by_id["child"].attempts == [] and by_id["ok"].status == "unvalidated"


async def test_local_token_counts_match_server_usage(local_server: LocalServer) -> None:
    """Ground truth: llama.cpp's non-streaming usage equals our tokenizer-based counts."""
    from aetherflow.providers.base import ChatMessage, ChatRequest
    from aetherflow.providers.local import LocalProvider

    provider = LocalProvider(ProviderSettings(name="local", base_url=local_server.url))
    request = ChatRequest(messages=(ChatMessage("system", "You write code."),
                                    ChatMessage("user", "Write add(a, b) in Python.")),
                          max_tokens=30, temperature=0.0)
    try:
        body = provider.payload(request) | {"stream": False}
        truth = await provider.session.post_json(f"{provider.base_url}/chat/completions", body)
        text = truth["choices"][0]["message"]["content"]
        usage = await provider.count_tokens(request, text)
    finally:
        await provider.aclose()
    assert usage is not None
    assert usage.input.value == truth["usage"]["prompt_tokens"]
    assert usage.input.provenance == "tokenizer"
    assert abs((usage.output.value or 0) - truth["usage"]["completion_tokens"]) <= 1


async def test_local_prefix_reuse_read_from_server_log() -> None:
    """Ground truth: llama.cpp reuses exactly the common token prefix of consecutive prompts;
    the count read from its log equals that prefix computed with the model's tokenizer, and
    a prompt that differs from its first token reuses nothing."""
    from aetherflow.metrics.timeline import RequestTimeline, now_ns
    from aetherflow.providers.base import ChatMessage, ChatRequest, TextDelta
    from aetherflow.providers.local import LocalProvider, render_chatml

    shared = "You review Python code. " + " ".join(f"def f{i}(x): return x + {i}"
                                                  for i in range(60))

    def req(system: str, question: str) -> ChatRequest:
        return ChatRequest(messages=(ChatMessage("system", system),
                                     ChatMessage("user", question)),
                           max_tokens=8, temperature=0.0)

    provider = LocalProvider(ProviderSettings(name="local"))
    await provider.start()
    requests = [req(shared, "What does f3 return?"), req(shared, "Which function adds 7?"),
                req("nonce-1 " + shared, "Which function adds 7?")]
    counts = []
    try:
        for request in requests:
            text = ""
            async for ev in provider.stream(request, RequestTimeline(queued=now_ns())):
                if isinstance(ev, TextDelta):
                    text += ev.text
            usage = await provider.count_tokens(request, text)
            assert usage is not None
            counts.append(usage.cache_read)
        vocab = provider._vocab()

        def toks(r: ChatRequest) -> list[int]:
            return list(vocab.tokenize(render_chatml(r).encode(), add_bos=False, special=True))
    finally:
        await provider.aclose()
    a, b = toks(requests[0]), toks(requests[1])
    common = next(i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y)
    assert counts[0].value == 0  # fresh server: whole prompt evaluated
    assert counts[1].provenance == "server"
    assert counts[1].value is not None and abs(counts[1].value - common) <= 1
    assert counts[1].value > 300
    assert counts[2].value is not None and counts[2].value <= 4  # only template tokens match


async def test_local_server_timings_agree_with_independent_measurements() -> None:
    """Known truths linking llama.cpp's own timings to what AetherFlow measures itself.

    - The prompt tokens the server evaluated plus those it reused from its prefix cache
      equal the whole prompt counted with the model's tokenizer (three independent counts).
    - The client cannot see the first token before the server finished prefill, nor the end
      of the stream before the server finished computing: TTFT >= prefill, TTR >= compute.
    - One decode step per output token (the last sampled token is not evaluated, and an
      end-of-stream token is evaluated but not output): runs within one of output tokens.
    - A prompt whose prefix was reused prefills far fewer tokens, in less time.
    """
    import asyncio

    from aetherflow.execution.attempt import run_attempt
    from aetherflow.execution.observer import NullObserver
    from aetherflow.metrics.timeline import now_ns
    from aetherflow.providers.base import ChatMessage, ChatRequest
    from aetherflow.providers.local import LocalProvider

    shared = "You review Python code. " + " ".join(f"def g{i}(x): return x * {i}"
                                                  for i in range(50))
    questions = ["What does g3 return?", "Which function multiplies by 7?"]
    provider = LocalProvider(ProviderSettings(name="local"))
    await provider.start()
    try:
        outcomes = [await run_attempt(
            provider, ChatRequest(messages=(ChatMessage("system", shared),
                                            ChatMessage("user", q)), max_tokens=24),
            attempt_no=1, step_id=f"s{i}", origin_ns=now_ns(), gate=asyncio.Semaphore(1),
            observer=NullObserver(), pricer=_free, timeout_s=120)
            for i, q in enumerate(questions)]
    finally:
        await provider.aclose()
    for out in outcomes:
        rec = out.record
        st, usage, timing = rec.server_timing, rec.usage, rec.timing
        assert out.error is None and st.note is None and st.source
        assert st.prefill_tokens is not None and usage.cache_read.value is not None
        assert st.prefill_tokens + usage.cache_read.value == usage.input.value
        assert st.prefill_ms is not None and timing.ttft_ms is not None
        assert timing.ttft_ms >= st.prefill_ms
        assert st.compute_ms is not None and timing.ttr_ms is not None
        assert timing.ttr_ms >= st.compute_ms
        assert usage.output.value is not None and st.decode_runs is not None
        assert abs(st.decode_runs - usage.output.value) <= 1
    cold, warm = (o.record.server_timing for o in outcomes)
    assert outcomes[0].record.usage.cache_read.value == 0
    assert cold.prefill_tokens is not None and warm.prefill_tokens is not None
    assert cold.prefill_tokens > 300 > 20 > warm.prefill_tokens
    assert (cold.prefill_ms or 0) > (warm.prefill_ms or 0)
