"""Async DAG executor: ready steps run concurrently up to a limit; every attempt recorded.

Rules:
* a step becomes *ready* when all its dependencies have finished;
* a step whose dependency did not succeed is *skipped* with that reason, never run;
* transient provider errors are retried with backoff (``Retry-After`` honoured) within the
  step's time budget; every attempt, failed or not, is kept on the step record;
* ``run.json`` is rewritten after every step, so an interruption loses nothing completed.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aetherflow.errors import ProviderError
from aetherflow.execution.attempt import AttemptOutcome, Pricer, run_attempt
from aetherflow.execution.observer import NullObserver, RunObserver
from aetherflow.execution.prompt import build_request, criterion_text, defeat_prefix_cache
from aetherflow.execution.rundir import RunDirectory
from aetherflow.execution.workspace import write_step_files
from aetherflow.metrics.records import (
    PromptCacheMode,
    RunRecord,
    StepRecord,
    Verdict,
    run_status_from_steps,
)
from aetherflow.metrics.timeline import now_ns
from aetherflow.plan.dag import critical_path
from aetherflow.plan.models import Plan, Step
from aetherflow.providers.base import ChatRequest, Provider

__all__ = ["ExecutionSettings", "PlanExecutor", "backoff_delay"]

_UNCHECKED = "not checked: criteria execution is not part of this version"


@dataclass(frozen=True)
class ExecutionSettings:
    """How the executor runs a plan."""

    concurrency: int = 2
    max_tokens: int = 512
    temperature: float = 0.2
    step_timeout_s: float = 300.0
    max_attempts: int = 3
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    #: ``off`` gives every attempt a unique first line so no prefix cache can serve it
    #: (:func:`defeat_prefix_cache`); ``on``/``default`` send prompts unchanged.
    prompt_cache: PromptCacheMode = "default"


def backoff_delay(attempt: int, error: ProviderError, settings: ExecutionSettings,
                  rng: random.Random) -> float:
    """Seconds to wait before attempt ``attempt + 1``: Retry-After if the server gave one,
    else exponential backoff with full jitter, capped."""
    retry_after = getattr(error, "retry_after_s", None)
    if retry_after is not None:
        return float(min(retry_after, settings.backoff_cap_s))
    ceiling = min(settings.backoff_cap_s, settings.backoff_base_s * 2 ** (attempt - 1))
    return float(rng.uniform(0.5 * ceiling, ceiling))


def _ms(origin: int, t: int) -> float:
    return (t - origin) / 1e6


class PlanExecutor:
    """Runs one plan to completion, writing its run directory as it goes."""

    def __init__(
        self, plan: Plan, *, providers: Callable[[Step], Sequence[Provider]], pricer: Pricer,
        settings: ExecutionSettings, run_dir: RunDirectory, record: RunRecord,
        plan_dir: Path, observer: RunObserver | None = None, seed: int | None = None,
    ) -> None:
        self.plan = plan
        self.providers = providers
        self.pricer = pricer
        self.settings = settings
        self.run_dir = run_dir
        self.record = record
        self.plan_dir = plan_dir
        self.observer: RunObserver = observer or NullObserver()
        self._rng = random.Random(seed)
        self._gate = asyncio.Semaphore(settings.concurrency)
        self._origin = 0
        self._outputs: dict[str, str] = {}
        self._results: dict[str, StepRecord] = {}

    async def run(self) -> RunRecord:
        """Execute every step; return the final record (also on cancellation)."""
        self._origin = now_ns()
        self.run_dir.create()
        self.observer.on_run_start(self.plan, self.record)
        self.run_dir.write_record(self.record)
        try:
            await self._schedule()
            self._finish(run_status_from_steps([r.status for r in self._results.values()]))
        except BaseException:
            self._finish("interrupted")
            raise
        finally:
            self.observer.on_run_end(self.record)
        return self.record

    async def _schedule(self) -> None:
        pending = {s.id: s for s in self.plan.steps}
        running: dict[asyncio.Task[StepRecord], str] = {}
        try:
            while pending or running:
                for step in [s for s in pending.values() if self._deps_done(s)]:
                    del pending[step.id]
                    if (reason := self._blocked_reason(step)) is not None:
                        self._store(self._skipped(step, reason))
                        continue
                    running[asyncio.create_task(self._run_step(step))] = step.id
                if not running:
                    continue
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    del running[task]
                    self._store(task.result())
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)

    def _deps_done(self, step: Step) -> bool:
        return all(d in self._results for d in step.dependencies)

    def _blocked_reason(self, step: Step) -> str | None:
        for dep in step.dependencies:
            status = self._results[dep].status
            if status in ("failed", "skipped"):
                return f"dependency {dep!r} {status}"
        return None

    def _skipped(self, step: Step, reason: str) -> StepRecord:
        t = _ms(self._origin, now_ns())
        return StepRecord(step_id=step.id, type=step.type.value, status="skipped", reason=reason,
                          dependencies=list(step.dependencies), ready_at_ms=t,
                          finished_at_ms=t, step_time_ms=0.0, service_time_ms=0.0)

    def _store(self, rec: StepRecord) -> None:
        self._results[rec.step_id] = rec
        self.record.steps = [self._results[s.id] for s in self.plan.steps if s.id in self._results]
        self.run_dir.write_record(self.record)
        self.observer.on_step_end(rec)

    async def _attempts(self, step: Step, chain: Sequence[Provider]) -> list[AttemptOutcome]:
        """Retry transient errors on each provider, then fall over to the next one, all
        within the step's time budget. Attempt numbers run on across providers."""
        request = build_request(
            self.plan, step, self._outputs, plan_dir=self.plan_dir,
            max_tokens=self.settings.max_tokens, temperature=self.settings.temperature,
        )
        deadline = now_ns() + int(self.settings.step_timeout_s * 1e9)
        outcomes: list[AttemptOutcome] = []
        for provider in chain:
            outcomes += await self._provider_attempts(step, provider, request, deadline,
                                                      first=len(outcomes) + 1)
            err = outcomes[-1].error
            if err is None or not err.transient or now_ns() >= deadline:
                break
        return outcomes

    async def _provider_attempts(self, step: Step, provider: Provider, request: ChatRequest,
                                 deadline: int, first: int) -> list[AttemptOutcome]:
        outcomes: list[AttemptOutcome] = []
        for k in range(1, self.settings.max_attempts + 1):
            remaining = (deadline - now_ns()) / 1e9
            sent = request
            if self.settings.prompt_cache == "off":
                sent = defeat_prefix_cache(request, uuid.uuid4().hex[:12])
            outcome = await run_attempt(
                provider, sent, attempt_no=first + k - 1, step_id=step.id,
                origin_ns=self._origin,
                gate=self._gate, observer=self.observer, pricer=self.pricer,
                timeout_s=max(remaining, 0.001),
            )
            outcomes.append(outcome)
            err = outcome.error
            if err is None or not err.transient or k == self.settings.max_attempts:
                break
            delay = backoff_delay(k, err, self.settings, self._rng)
            if delay >= (deadline - now_ns()) / 1e9:
                break
            await asyncio.sleep(delay)
        return outcomes

    async def _run_step(self, step: Step) -> StepRecord:
        ready = now_ns()
        outcomes = await self._attempts(step, self.providers(step))
        last = outcomes[-1]
        text = last.text
        rec = StepRecord(
            step_id=step.id, type=step.type.value, status="unvalidated",
            provider=last.record.provider, model=last.record.model,
            dependencies=list(step.dependencies),
            ready_at_ms=_ms(self._origin, ready), attempts=[o.record for o in outcomes],
            ttft_ms=last.record.timing.ttft_ms, ttr_ms=last.record.timing.ttr_ms,
            validation=[Verdict(criterion=criterion_text(c), status="unchecked",
                               reason=_UNCHECKED) for c in step.validation_criteria],
        )
        if text:
            rec.output_file = self.run_dir.write_step_output(step.id, text).relative_to(
                self.run_dir.path).as_posix()
        if last.error is not None:
            rec.status, rec.reason = "failed", f"{last.error.kind}: {last.error}"
        elif not text.strip():
            rec.status, rec.reason = "failed", "empty output"
        else:
            self._outputs[step.id] = text
            rec.files_written, rec.files_refused = write_step_files(
                self.run_dir.workspace, text, list(step.context.files))
        finished = now_ns()
        rec.finished_at_ms = _ms(self._origin, finished)
        rec.step_time_ms = (finished - ready) / 1e6
        waited = sum(a.timing.queue_latency_ms or 0.0 for a in rec.attempts)
        rec.service_time_ms = rec.step_time_ms - waited
        return rec

    def _finish(self, status: str) -> None:
        end = now_ns()
        rec = self.record
        rec.status = status  # type: ignore[assignment]
        rec.finished_at = datetime.now(UTC).isoformat()
        rec.makespan_ms = (end - self._origin) / 1e6
        deps = {s.id: list(s.dependencies) for s in self.plan.steps if s.id in self._results}
        # Service time (step time minus waiting for a concurrency slot): the critical path
        # of service times is the lower bound of any schedule's makespan.
        durations = {k: v.service_time_ms or 0.0 for k, v in self._results.items()}
        if deps:
            cp, path = critical_path(deps, durations)
            rec.critical_path_ms, rec.critical_path = cp, path
            rec.parallel_efficiency = cp / rec.makespan_ms if rec.makespan_ms else None
        self.run_dir.write_record(rec)
