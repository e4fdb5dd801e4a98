"""Every injected fault, for every wire format: a recorded, classified error, then a retry
that succeeds, and the run completes. The executor and providers are the real ones."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aetherflow.config import emulated_provider_settings
from aetherflow.emulator import EmulatorProfile, EmulatorServer, FaultRule
from aetherflow.execution import RunOptions, run_plan_async
from aetherflow.providers.base import ProviderSettings
from aetherflow.results.run import CostBreakdown, Usage

FORMATS = ("openai-compatible", "openai", "deepseek", "groq", "mistral", "anthropic", "gemini")
EXPECTED_KIND = {
    "http_429": "http_429", "http_500": "http_5xx", "http_503": "http_5xx", "reset": "reset",
    "stall": "timeout", "malformed": "malformed", "truncated": "truncated",
    "error_event": "stream_error",
}


def _free(provider: str, model: str, usage: Usage) -> CostBreakdown:
    return CostBreakdown(note="not priced in this test")


@pytest.fixture
async def emulator() -> AsyncIterator[EmulatorServer]:
    profile = EmulatorProfile.model_validate({
        "seed": 3, "require_auth": False,
        "default": {"latency": {"ttft_base_ms": 1, "decode_ms_per_output_token": 0.2},
                    "default_output_tokens": 8},
    })
    async with EmulatorServer(profile) as emu:
        yield emu


def _emulator_name(fmt: str) -> str:
    return "generic" if fmt == "openai-compatible" else fmt


@pytest.mark.parametrize("fault", sorted(EXPECTED_KIND))
@pytest.mark.parametrize("fmt", FORMATS)
async def test_fault_is_recorded_classified_and_retried(
        tmp_path: Path, emulator: EmulatorServer, fmt: str, fault: str) -> None:
    emulator.set_faults([FaultRule.model_validate({
        "fault": fault, "provider": _emulator_name(fmt), "nth": 1, "after_tokens": 2,
        "retry_after_s": 0, "stall_s": 2.0})])
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task_id": "faults", "steps": [
        {"id": "only", "description": "Write code."}]}))

    def resolve(name: str, model: str | None, base_url: str | None) -> ProviderSettings:
        s = emulated_provider_settings(name, emulator.url, model=model)
        return ProviderSettings(name=s.name, model=s.model, base_url=s.base_url,
                                api_key=s.api_key, options={**s.options, "read_timeout_s": 0.5})

    options = RunOptions(provider=fmt, output=tmp_path / "run", max_attempts=3,
                         backoff_base_s=0.01, step_timeout_s=20)
    record, _ = await run_plan_async(plan, options, resolver=resolve, pricer=_free)
    step = record.steps[0]
    first, last = step.attempts[0], step.attempts[-1]
    assert record.status == "unvalidated" and step.status == "unvalidated"
    assert len(step.attempts) == 2
    assert first.status == "error" and first.error_kind == EXPECTED_KIND[fault], first
    assert first.timing.ttr_ms is not None  # failed attempts keep their timing
    assert last.status == "ok" and last.usage.output.provenance == "server"
    assert (tmp_path / "run" / "run.json").is_file()


async def test_retry_after_is_honoured(tmp_path: Path, emulator: EmulatorServer) -> None:
    emulator.set_faults([FaultRule.model_validate(
        {"fault": "http_429", "provider": "openai", "nth": 1, "retry_after_s": 1})])
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task_id": "ra", "steps": [{"id": "s", "description": "x"}]}))
    options = RunOptions(provider="openai", output=tmp_path / "run", emulator_url=emulator.url,
                         backoff_base_s=0.01)
    record, _ = await run_plan_async(plan, options, pricer=_free)
    first, second = record.steps[0].attempts
    gap = (second.timeline_ms["queued"] or 0) - (first.timeline_ms["closed"] or 0)
    assert first.error_kind == "http_429" and second.status == "ok"
    assert gap >= 1000.0


async def test_non_transient_error_is_not_retried(tmp_path: Path,
                                                  emulator: EmulatorServer) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task_id": "auth", "steps": [{"id": "s", "description": "x"}]}))

    def resolve(name: str, model: str | None, base_url: str | None) -> ProviderSettings:
        s = emulated_provider_settings(name, emulator.url, model=model)
        return ProviderSettings(name=s.name, model=s.model, base_url=f"{s.base_url}/nope",
                                api_key=s.api_key, options=s.options)

    options = RunOptions(provider="openai", output=tmp_path / "run")
    record, _ = await run_plan_async(plan, options, resolver=resolve, pricer=_free)
    step = record.steps[0]
    assert record.status == "failed" and step.status == "failed"
    assert len(step.attempts) == 1 and step.attempts[0].error_kind == "http_404"


async def test_falls_over_to_the_next_provider(tmp_path: Path, emulator: EmulatorServer) -> None:
    emulator.set_faults([FaultRule.model_validate({"fault": "http_503", "provider": "openai"})])
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task_id": "fo", "steps": [
        {"id": "s", "description": "x"},
        {"id": "pinned", "description": "y", "context": {"provider": "openai"}}]}))
    options = RunOptions(provider="openai", fallbacks=("anthropic",), max_attempts=2,
                         output=tmp_path / "run", emulator_url=emulator.url, backoff_base_s=0.01)
    record, _ = await run_plan_async(plan, options, pricer=_free)
    step, pinned = record.steps
    assert [(a.attempt, a.provider, a.status) for a in step.attempts] == [
        (1, "openai", "error"), (2, "openai", "error"), (3, "anthropic", "ok")]
    assert step.status == "unvalidated" and step.provider == "anthropic"
    assert pinned.status == "failed" and {a.provider for a in pinned.attempts} == {"openai"}


async def test_an_unanswered_request_costs_zero_and_keeps_the_total_a_number(
        tmp_path: Path, emulator: EmulatorServer) -> None:
    """A 429 before any content is not billed: 0.0 with the reason, so one refusal does not
    turn the step's, run's and bench's cost into n/a (real prices, not the free pricer)."""
    from aetherflow.bench.aggregate import compute_aggregates

    emulator.set_faults([FaultRule.model_validate(
        {"fault": "http_429", "provider": "openai", "nth": 1, "retry_after_s": 0})])
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task_id": "c0", "steps": [{"id": "s", "description": "x"}]}))
    options = RunOptions(provider="openai", output=tmp_path / "run", emulator_url=emulator.url,
                         backoff_base_s=0.01)
    record, _ = await run_plan_async(plan, options)
    refused, answered = record.steps[0].attempts
    assert refused.cost.total_usd == 0.0 and "never answered" in (refused.cost.note or "")
    assert answered.cost.total_usd is not None and answered.cost.total_usd > 0
    total = compute_aggregates([record]).global_figures.cost.total_usd
    assert total == answered.cost.total_usd
