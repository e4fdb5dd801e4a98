"""Async DAG executor: ready steps run concurrently up to a limit; every attempt recorded;
executed checks decide each step's status.

Rules:

* a step becomes *ready* when all its dependencies have finished (a count per step, so
  finding ready steps is O(1) per completion);
* a step whose dependency failed or was skipped is *skipped* with that reason, never run;
  an ``unvalidated`` dependency does not block it;
* transient provider errors are retried with backoff (``Retry-After`` honoured) within the
  step's time budget, then the next fallback provider is tried; every attempt is kept;
* the answer's files are checked in the sandbox (:mod:`aetherflow.validation.checks`);
  failing checks get ``--repairs`` follow-up turns; ``--workflow prod`` adds a review pass
  before the checks. A step is ``passed`` only when at least one check executed and every
  executed check passed; ``unvalidated`` when nothing was executable;
* every attempt and every finished step is appended to the run's journal as it ends
  (O(1) each); ``run.json`` is rebuilt from memory at the end and at a bounded interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from aetherflow.errors import ProviderError, ProviderStreamError, RunDirectoryError
from aetherflow.execution.attempt import AttemptOutcome, Pricer, run_attempt
from aetherflow.execution.files import StepFiles
from aetherflow.execution.journal import StepEntry
from aetherflow.execution.observer import NullObserver, RunObserver
from aetherflow.execution.patching import AssignmentError, assign_output
from aetherflow.execution.project import (
    Snapshot,
    choose_link,
    materialize_view,
    record_deleted,
)
from aetherflow.execution.prompt import (
    build_repair_request,
    build_request,
    build_review_request,
    criterion_text,
    current_files,
    defeat_prefix_cache,
)
from aetherflow.execution.rundir import RunDirectory
from aetherflow.execution.workspace import assign_step_files, safe_workspace_path, write_files
from aetherflow.metrics.timeline import now_ns
from aetherflow.plan.dag import critical_path
from aetherflow.plan.models import Plan, Step
from aetherflow.providers.base import ChatRequest, Provider
from aetherflow.results.run import (
    FirstTry,
    PromptCacheMode,
    RunRecord,
    SessionRecord,
    StepRecord,
    Verdict,
    run_status_from_steps,
)
from aetherflow.validation.checks import CheckContext, run_check
from aetherflow.validation.judge import build_judge_request, parse_judge_reply
from aetherflow.validation.quality import code_quality
from aetherflow.validation.sandbox import Sandbox, SandboxLimits, SandboxMode

__all__ = ["SEEDED_PROVIDERS", "ExecutionSettings", "PlanExecutor", "Workflow", "backoff_delay",
           "classify_verdicts"]

Workflow = Literal["proto", "prod"]


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
    #: Follow-up turns after failed checks, each with the failing checks' output.
    repairs: int = 1
    #: ``proto``: generate -> checks -> repairs; ``prod``: generate -> review -> checks ->
    #: repairs.
    workflow: Workflow = "proto"
    #: Stop launching attempts once the run's recorded spend reaches this (USD).
    max_cost_usd: float | None = None
    #: Which sandbox runs the checks (``auto``: bubblewrap when it works, else the fallback).
    sandbox: SandboxMode = "auto"
    #: Address-space limit of each check, MiB.
    check_memory_mb: int = 1024
    #: Checks run at once (0: one per CPU, at most 4).
    check_concurrency: int = 0
    #: Seconds between rewrites of run.json while the run goes on (the journal is per event).
    snapshot_interval_s: float = 10.0
    #: Sampling seed sent to providers that accept one (:data:`SEEDED_PROVIDERS`); a bench
    #: gives each repeat its own, so repeats are independent draws (pass@k).
    seed: int | None = None


#: Providers whose API takes a ``seed`` (OpenAI-style bodies; llama.cpp honours it).
SEEDED_PROVIDERS = frozenset({"local", "openai", "groq", "openai-compatible"})

def backoff_delay(attempt: int, error: ProviderError, settings: ExecutionSettings,
                  rng: random.Random) -> float:
    """Seconds to wait before attempt ``attempt + 1``: ``Retry-After`` if the server gave
    one (capped at ``backoff_cap_s``), else exponential backoff with *full jitter*: uniform
    in ``[0, min(cap, base * 2 ** (attempt - 1))]``."""
    retry_after = getattr(error, "retry_after_s", None)
    if retry_after is not None:
        return float(min(retry_after, settings.backoff_cap_s))
    ceiling = min(settings.backoff_cap_s, settings.backoff_base_s * 2 ** (attempt - 1))
    return float(rng.uniform(0.0, ceiling))


def classify_verdicts(verdicts: Sequence[Verdict]) -> tuple[FirstTry, str | None]:
    """A step's status from its verdicts: ``passed`` when at least one check executed and
    every executed check passed; ``failed`` (with the failing kinds) when one did not;
    ``unvalidated`` when none executed. Judged verdicts never count."""
    executed = [v for v in verdicts if v.method == "executed"]
    if not executed:
        return "unvalidated", None
    bad = [v for v in executed if v.status != "passed"]
    if not bad:
        return "passed", None
    kinds = ", ".join(dict.fromkeys(v.check for v in bad))
    return "failed", f"checks failed: {kinds}"


def _ms(origin: int, t: int) -> float:
    return (t - origin) / 1e6


class _BudgetReached(Exception):
    """The run's recorded spend reached ``--max-cost-usd``: no attempt may start."""


@dataclass
class _StepState:
    """One step in progress: its attempts, its conversation, its files, its verdicts."""

    step: Step
    ready_ns: int
    outcomes: list[AttemptOutcome] = field(default_factory=list)
    answer: str = ""
    conversation: ChatRequest | None = None
    own_files: dict[str, str | None] = field(default_factory=dict)
    refused: list[Any] = field(default_factory=list)
    context_truncated: list[str] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    first_try: FirstTry | None = None
    repairs: int = 0
    validation_ns: int = 0
    reason: str | None = None
    failed: bool = False
    reviewed: bool = False
    judge_outcomes: list[AttemptOutcome] = field(default_factory=list)


@dataclass(frozen=True)
class _StepResult:
    record: StepRecord
    files: dict[str, str | None]
    output: str


class PlanExecutor:
    """Runs one plan (or the rest of a resumed one), journaling as it goes."""

    def __init__(
        self, plan: Plan, *, providers: Callable[[Step], Sequence[Provider]], pricer: Pricer,
        settings: ExecutionSettings, run_dir: RunDirectory, record: RunRecord,
        plan_dir: Path, observer: RunObserver | None = None, seed: int | None = None,
        sandbox: Sandbox | None = None, reviewer: Provider | None = None,
        judge: Provider | None = None, project: Snapshot | None = None,
        project_env: Path | None = None,
        options: Mapping[str, Any] | None = None, session: int = 1,
        finished: Mapping[str, StepEntry] | None = None,
        in_flight: Mapping[str, StepEntry] | None = None,
    ) -> None:
        self.plan = plan
        self.providers = providers
        self.pricer = pricer
        self.settings = settings
        self.run_dir = run_dir
        self.record = record
        self.plan_dir = plan_dir
        self.observer: RunObserver = observer or NullObserver()
        self.reviewer = reviewer
        self.judge = judge
        self._project = project
        self._project_env = project_env
        self.session = session
        self._options = dict(options or {})
        self._sandbox = sandbox
        self._rng = random.Random(seed)
        self._gate = asyncio.Semaphore(settings.concurrency)
        checks = settings.check_concurrency or min(4, os.cpu_count() or 1)
        self._check_gate = asyncio.Semaphore(checks)
        self._origin = 0
        self._cpu_origin = 0.0
        self._outputs: dict[str, str] = {}
        self._results: dict[str, StepRecord] = {}
        self._files = StepFiles({s.id: s.dependencies for s in plan.steps})
        self._finished_before = dict(finished or {})
        self._in_flight_before = dict(in_flight or {})
        self._spent = 0.0
        self._unpriced = 0
        self._budget_hit = False
        self._last_snapshot = 0.0
        self._snapshot_cost = 0.0
        self._session = SessionRecord(session=session, started_at="", pid=os.getpid())
        #: This session's final answers, written as step_outputs/ when it ends: a run
        #: creates no file per step while it runs (the journal holds them, and the
        #: prompts, durably).
        self._answers: dict[str, str] = {}

    # --- the run -------------------------------------------------------------------------
    async def run(self) -> RunRecord:
        """Execute every step; return the final record (also on cancellation)."""
        self._origin = now_ns()
        self._cpu_origin = time.process_time()
        self._last_snapshot = time.monotonic()
        self._session.started_at = datetime.now(UTC).isoformat()
        self.run_dir.create()
        journal = self.run_dir.open_journal()
        header = self.record.model_dump(mode="json", exclude={"steps", "sessions"})
        event: dict[str, Any] = {"e": "session", "session": self.session,
                                 "started_at": self._session.started_at, "pid": os.getpid()}
        if self.session == 1:
            event |= {"header": header, "options": self._options}
        journal.append(event)
        self.record.sessions.append(self._session)
        self.observer.on_run_start(self.plan, self.record)
        try:
            await self._schedule()
            self._finish(run_status_from_steps([r.status for r in self._results.values()]))
        except BaseException:
            self._finish("interrupted")
            raise
        finally:
            self.observer.on_run_end(self.record)
            self.run_dir.close()
        return self.record

    def _journal(self, event: dict[str, Any]) -> None:
        if self.run_dir.journal is not None:
            self.run_dir.journal.append(event)

    def _journal_with_record(self, event: dict[str, Any], record_json: str) -> None:
        """``event`` plus ``"record": <record_json>`` as one line (pydantic serialises the
        record directly to JSON: no intermediate dict, no second encoding pass)."""
        if self.run_dir.journal is not None:
            head = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
            self.run_dir.journal.append_raw(f'{head[:-1]},"record":{record_json}}}')

    def _journal_attempt(self, step_id: str, outcome: AttemptOutcome) -> None:
        self._journal_with_record({"e": "attempt", "session": self.session, "step": step_id,
                                   "text": outcome.text}, outcome.record.model_dump_json())

    async def _schedule(self) -> None:
        steps = {s.id: s for s in self.plan.steps}
        waiting = {s.id: len(set(s.dependencies)) for s in self.plan.steps}
        children: dict[str, list[str]] = defaultdict(list)
        for s in self.plan.steps:
            for dep in set(s.dependencies):
                children[dep].append(s.id)
        start = now_ns()
        ready: deque[tuple[str, int]] = deque((s.id, start) for s in self.plan.steps
                                              if waiting[s.id] == 0)
        running: dict[asyncio.Task[_StepResult], str] = {}
        cap = max(2 * self.settings.concurrency, self.settings.concurrency + 4)
        # Finished tasks queue themselves (in the order they finished): O(1) per completion,
        # where asyncio.wait(running) adds and removes a callback on every running task.
        finished: deque[asyncio.Task[_StepResult]] = deque()
        wake = asyncio.Event()

        def on_done(task: asyncio.Task[_StepResult]) -> None:
            finished.append(task)
            wake.set()

        def complete(step_id: str) -> None:
            t = now_ns()
            for child in children[step_id]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    ready.append((child, t))

        try:
            while ready or running:
                while ready and len(running) < cap:
                    sid, ready_ns = ready.popleft()
                    if sid in self._finished_before:
                        self._adopt(sid, self._finished_before[sid])
                        complete(sid)
                        continue
                    step = steps[sid]
                    reason = self._blocked_reason(step)
                    if reason is not None:
                        self._store(self._skipped(step, reason, ready_ns))
                        complete(sid)
                        continue
                    task = asyncio.create_task(self._run_step(step, ready_ns))
                    task.add_done_callback(on_done)
                    running[task] = sid
                if not running:
                    continue
                if not finished:
                    await wake.wait()
                wake.clear()
                while finished:
                    task = finished.popleft()
                    sid = running.pop(task)
                    result = task.result()
                    self._store(result.record, result.files, result.output)
                    complete(sid)
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)

    def _blocked_reason(self, step: Step) -> str | None:
        for dep in step.dependencies:
            status = self._results[dep].status
            if status in ("failed", "skipped"):
                return f"dependency {dep!r} {status}"
        if self._budget_hit:
            return self._budget_reason()
        return None

    def _budget_reason(self) -> str:
        return (f"budget: the run's recorded spend reached ${self._spent:.4f} "
                f"(--max-cost-usd {self.settings.max_cost_usd})")

    def _skipped(self, step: Step, reason: str, ready_ns: int) -> StepRecord:
        t = _ms(self._origin, now_ns())
        return StepRecord(step_id=step.id, type=step.type.value, status="skipped", reason=reason,
                          dependencies=list(step.dependencies),
                          ready_at_ms=_ms(self._origin, ready_ns), finished_at_ms=t,
                          step_time_ms=0.0, service_time_ms=0.0)

    def _adopt(self, step_id: str, entry: StepEntry) -> None:
        """A step finished in an earlier session: reuse its record, never request it again."""
        assert entry.record is not None
        rec = entry.record.model_copy(update={"attempts": list(entry.attempts)})
        self._results[step_id] = rec
        self._outputs[step_id] = entry.output
        self._files.record(step_id, entry.files)
        if rec.output_file and not (self.run_dir.path / rec.output_file).exists():
            # the earlier session died before writing its files: write them from the journal
            self._answers[step_id] = entry.output
        self.observer.on_step_end(rec)

    def _store(self, rec: StepRecord, files: Mapping[str, str | None] | None = None,
               output: str = "") -> None:
        self._results[rec.step_id] = rec
        self._journal_with_record(
            {"e": "step", "session": self.session, "step": rec.step_id,
             "files": dict(files or {}), "output": output},
            rec.model_dump_json(exclude={"attempts"}))
        self.observer.on_step_end(rec)
        self._maybe_snapshot()

    def _maybe_snapshot(self) -> None:
        """Rewrite run.json when the interval has passed and the last rewrite was cheap
        relative to it (so rewrites stay a bounded share of the run, whatever its size)."""
        now = time.monotonic()
        interval = max(self.settings.snapshot_interval_s, 20 * self._snapshot_cost)
        if now - self._last_snapshot < interval:
            return
        started = time.monotonic()
        self._sync_record()
        self.run_dir.write_record(self.record)
        self._snapshot_cost = time.monotonic() - started
        self._last_snapshot = time.monotonic()

    def _sync_record(self) -> None:
        self.record.steps = [self._results[s.id] for s in self.plan.steps
                             if s.id in self._results]

    # --- one step ------------------------------------------------------------------------
    async def _run_step(self, step: Step, ready_ns: int) -> _StepResult:
        state = _StepState(step=step, ready_ns=ready_ns)
        deadline = ready_ns + int(self.settings.step_timeout_s * 1e9)
        current: dict[str, str] = {}
        if step.context.files:
            current, state.context_truncated = current_files(step, self._view(step.id, {}))
        request = build_request(
            self.plan, step, self._outputs, plan_dir=self.plan_dir,
            max_tokens=self.settings.max_tokens, temperature=self.settings.temperature,
            current=current,
        )
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        self._journal({"e": "prompt", "session": self.session, "step": step.id,
                       "messages": messages})
        chain = list(self.providers(step))
        try:
            await self._generate(state, chain, request, deadline)
            if not state.failed and self.settings.workflow == "prod" and not state.reviewed:
                await self._review(state, request, deadline)
            if not state.failed:
                await self._validate(state, deadline)
                state.first_try = classify_verdicts(state.verdicts)[0]
                await self._repair(state, chain, deadline)
                await self._judge(state, deadline)
        except _BudgetReached:
            state.reason = state.reason or self._budget_reason()
            if not state.outcomes:
                return _StepResult(self._skipped(step, self._budget_reason(), ready_ns), {}, "")
            state.failed = state.failed or not state.answer
        record = await self._finish_step(state)
        ok = bool(state.answer) and not state.failed
        return _StepResult(record, dict(state.own_files) if ok else {}, state.answer)

    def _resume_outcomes(self, step_id: str) -> list[AttemptOutcome]:
        entry = self._in_flight_before.pop(step_id, None)
        if entry is None:
            return []
        out = []
        for rec in entry.attempts:
            err = None if rec.status == "ok" else ProviderStreamError(
                rec.error_message or "failed", kind=rec.error_kind or "error",
                transient=False)
            out.append(AttemptOutcome(record=rec, text=entry.texts.get(rec.attempt, ""),
                                      error=err))
        return out

    async def _generate(self, state: _StepState, chain: Sequence[Provider],
                        request: ChatRequest, deadline: int) -> None:
        """The first generation. A step in flight when an earlier session ended continues
        from its journaled attempts: their answers are replayed in order (files applied,
        repairs and the review counted), never requested again."""
        prior = self._resume_outcomes(state.step.id)
        state.outcomes += prior
        answered = [o for o in prior if o.error is None and o.text.strip()]
        if answered:
            for outcome in answered:
                self._take_answer(state, outcome, request)
            state.repairs = sum(o.record.kind == "repair" for o in answered)
            state.reviewed = any(o.record.kind == "review" for o in answered)
            return
        new = await self._request(state, chain, request, "generation", deadline,
                                  queued_ns=state.ready_ns)
        self._take_answer(state, new[-1], request)

    def _take_answer(self, state: _StepState, outcome: AttemptOutcome,
                     request: ChatRequest) -> bool:
        """Adopt ``outcome`` as the step's current answer; False (and the step failed) when
        it failed or is empty."""
        if outcome.error is not None:
            state.failed = True
            state.reason = f"{outcome.error.kind}: {outcome.error}"
            return False
        if not outcome.text.strip():
            state.failed = True
            state.reason = "empty output"
            return False
        step = state.step
        if self._strict(step):
            try:
                assignment = assign_output(
                    outcome.text, list(step.context.files),
                    self._view(step.id, state.own_files), patch=step.context.patch,
                    root=self._base())
            except AssignmentError as exc:
                state.failed = True
                state.reason = f"the reply cannot be applied: {exc.reason}"
                return False
            state.answer, state.conversation = outcome.text, request
            state.own_files.update(assignment.files)
            return True
        state.answer = outcome.text
        state.conversation = request
        files, refused = assign_step_files(outcome.text, list(step.context.files))
        state.own_files.update(files)
        state.refused += refused
        return True

    def _strict(self, step: Step) -> bool:
        """Refactoring and patch steps, and every step of a project run, apply a reply by
        the strict rules of :func:`~aetherflow.execution.patching.assign_output` (named
        blocks, unnamed ones only when unambiguous, a marker, an exact diff); other steps
        keep the lenient code-block rules of the workspace."""
        return (self._project is not None or step.context.patch is not None
                or step.type.value in ("refactoring", "patch"))

    def _base(self) -> Path | None:
        """The run's copy of the project (waiting for it), or None without a project."""
        if self._project is None:
            return None
        self._project.wait()
        return self._project.base

    def _view(self, step_id: str, own: Mapping[str, str | None]) -> Mapping[str, str]:
        """The text of the files ``step_id`` sees: the project (if any), its dependencies'
        files as they finished, its own so far."""
        overlay = self._files.view(step_id, own)
        if self._project is not None:
            return self._project.files(overlay)
        return {k: v for k, v in overlay.items() if v is not None}

    async def _review(self, state: _StepState, request: ChatRequest, deadline: int) -> None:
        reviewer = self.reviewer
        chain = [reviewer] if reviewer is not None else list(self.providers(state.step))
        criteria = [criterion_text(c) for c in state.step.validation_criteria]
        review = build_review_request(request, state.answer, criteria)
        new = await self._request(state, chain, review, "review", deadline)
        state.reviewed = True
        if new[-1].error is None and new[-1].text.strip():
            self._take_answer(state, new[-1], review)
        # A failed review keeps the generated answer: the checks judge what exists.

    async def _repair(self, state: _StepState, chain: Sequence[Provider],
                      deadline: int) -> None:
        answering = next((o.record.provider for o in reversed(state.outcomes)
                          if o.error is None and o.text.strip()), None)
        chain = [p for p in chain if p.name == answering] or list(chain)
        while state.repairs < self.settings.repairs and now_ns() < deadline:
            status, _ = classify_verdicts(state.verdicts)
            if status != "failed" or state.conversation is None:
                return
            failing = [v for v in state.verdicts
                       if v.method == "executed" and v.status != "passed"]
            repair = build_repair_request(state.conversation, state.answer, failing)
            new = await self._request(state, chain, repair, "repair", deadline)
            state.repairs += 1
            if not self._take_answer(state, new[-1], repair):
                state.failed = False  # the last good answer's verdicts still stand
                state.reason = None
                return
            await self._validate(state, deadline)

    async def _judge(self, state: _StepState, deadline: int) -> None:
        """Ask the judge about the step's free-text criteria; its verdicts (method
        ``judge``) replace the ``unchecked`` ones and never decide the status."""
        texts = [c for c in state.step.validation_criteria if isinstance(c, str)]
        if self.judge is None or not texts or not state.answer or now_ns() >= deadline:
            return
        if self._budget_hit:
            return
        request = build_judge_request(texts, state.answer)
        outcome = await run_attempt(
            self.judge, request, attempt_no=len(state.judge_outcomes) + 1,
            step_id=state.step.id, origin_ns=self._origin, gate=self._gate,
            observer=self.observer, pricer=self.pricer,
            timeout_s=max((deadline - now_ns()) / 1e9, 0.001), kind="judge",
            session=self.session)
        state.judge_outcomes.append(outcome)
        self._charge(outcome)
        name = f"judge {self.judge.name}/{self.judge.model}"
        judged = (parse_judge_reply(texts, outcome.text, name) if outcome.error is None
                  else [Verdict(criterion=c, check="text", status="error", method="judge",
                                reason=f"{name}: {outcome.error.kind}: {outcome.error}")
                        for c in texts])
        by_text = iter(judged)
        state.verdicts = [next(by_text) if v.method == "none" and v.check == "text" else v
                          for v in state.verdicts]

    async def _request(self, state: _StepState, chain: Sequence[Provider],
                       request: ChatRequest, kind: Literal["generation", "repair", "review"],
                       deadline: int, queued_ns: int | None = None) -> list[AttemptOutcome]:
        """Retry transient errors on each provider, then fall over to the next one, all
        within the step's time budget. Attempt numbers run on across kinds and providers."""
        new: list[AttemptOutcome] = []
        for provider in chain:
            for k in range(1, self.settings.max_attempts + 1):
                if self._budget_hit:
                    raise _BudgetReached
                outcome = await self._attempt(state, provider, request, kind, deadline,
                                              queued_ns if not new else None)
                new.append(outcome)
                err = outcome.error
                if err is None or not err.transient or now_ns() >= deadline:
                    return new
                if k == self.settings.max_attempts:
                    break
                delay = backoff_delay(k, err, self.settings, self._rng)
                if delay >= (deadline - now_ns()) / 1e9:
                    return new
                await asyncio.sleep(delay)
        return new

    async def _attempt(self, state: _StepState, provider: Provider, request: ChatRequest,
                       kind: Literal["generation", "repair", "review"], deadline: int,
                       queued_ns: int | None) -> AttemptOutcome:
        sent = request
        if self.settings.seed is not None and provider.name in SEEDED_PROVIDERS:
            sent = replace(sent, extra={**sent.extra, "seed": self.settings.seed})
        if self.settings.prompt_cache == "off":
            sent = defeat_prefix_cache(request, uuid.uuid4().hex[:12])
        number = len(state.outcomes) + 1
        step_id = state.step.id

        def text_sink(text: str) -> None:
            self._journal({"e": "text", "session": self.session, "step": step_id,
                           "attempt": number, "text": text})

        def interrupted(outcome: AttemptOutcome) -> None:
            self._journal_attempt(step_id, outcome)

        outcome = await run_attempt(
            provider, sent, attempt_no=number, step_id=step_id, origin_ns=self._origin,
            gate=self._gate, observer=self.observer, pricer=self.pricer,
            timeout_s=max((deadline - now_ns()) / 1e9, 0.001), queued_ns=queued_ns,
            kind=kind, session=self.session, text_sink=text_sink,
            on_interrupted=interrupted,
        )
        state.outcomes.append(outcome)
        self._journal_attempt(step_id, outcome)
        self._charge(outcome)
        return outcome

    def _charge(self, outcome: AttemptOutcome) -> None:
        cost = outcome.record.cost.total_usd
        if cost is None:
            self._unpriced += 1
        else:
            self._spent += cost
        cap = self.settings.max_cost_usd
        if cap is not None and self._spent >= cap:
            self._budget_hit = True

    def _sandbox_or_default(self) -> Sandbox:
        if self._sandbox is None:
            from aetherflow.validation.sandbox import get_sandbox

            self._sandbox = get_sandbox(self.settings.sandbox)
        return self._sandbox

    async def _validate(self, state: _StepState, deadline: int) -> None:
        """Run the step's checks on its current files; attach the verdicts to the attempt
        that produced them."""
        criteria = list(state.step.validation_criteria)
        if not criteria:
            state.verdicts = []
            return
        started = now_ns()
        structured = [c for c in criteria if not isinstance(c, str)]
        sandbox = self._sandbox_or_default() if structured else None
        remaining = max((deadline - now_ns()) / 1e9, 1.0)
        limits = SandboxLimits(wall_s=remaining, cpu_s=remaining,
                               memory_bytes=self.settings.check_memory_mb << 20)
        own = {k: v for k, v in state.own_files.items() if v is not None}
        ctx = CheckContext(step_id=state.step.id, answer=state.answer, own_files=own,
                           view=self._files.view(state.step.id, state.own_files) if structured
                           else dict(own),
                           sandbox=sandbox or _NoSandbox(), limits=limits,
                           ro_paths=[self._project_env] if self._project_env else [],
                           make_workspace=self._workspace_maker(sandbox))
        async with self._check_gate:
            verdicts = await asyncio.to_thread(lambda: [run_check(c, ctx) for c in criteria])
        state.validation_ns += now_ns() - started
        state.verdicts = verdicts
        answering = next((o for o in reversed(state.outcomes)
                          if o.error is None and o.text.strip()), None)
        if answering is not None:
            answering.record.verdicts = list(verdicts)
            self._journal({"e": "verdicts", "session": self.session, "step": state.step.id,
                           "attempt": answering.record.attempt,
                           "verdicts": [v.model_dump(mode="json") for v in verdicts]})

    def _workspace_maker(self, sandbox: Sandbox | None,
                         ) -> Callable[[Path, Mapping[str, str | None]], Path] | None:
        """For a project run: a check's workspace is the project's copy (hard-linked when
        large and the sandbox protects linked files, else copied) plus the view."""
        base = self._base()
        if base is None or self._project is None:
            return None
        manifest = self._project.manifest
        link = choose_link(sandbox, len(manifest.files), manifest.total_bytes)

        def make(dest: Path, overlay: Mapping[str, str | None]) -> Path:
            return materialize_view(dest, base, overlay, link=link)

        return make

    async def _finish_step(self, state: _StepState) -> StepRecord:
        step = state.step
        records = [o.record for o in state.outcomes]
        last = records[-1] if records else None
        rec = StepRecord(
            step_id=step.id, type=step.type.value, status="failed",
            provider=last.provider if last else None, model=last.model if last else None,
            dependencies=list(step.dependencies),
            ready_at_ms=_ms(self._origin, state.ready_ns), attempts=records,
            ttft_ms=last.timing.ttft_ms if last else None,
            ttr_ms=last.timing.ttr_ms if last else None,
            validation=state.verdicts or [
                Verdict(criterion=criterion_text(c), check=getattr(c, "check", "text"),
                        status="unchecked", reason="not run: the step produced no answer")
                for c in step.validation_criteria],
            first_try=state.first_try, repairs=state.repairs,
            judge_attempts=[o.record for o in state.judge_outcomes],
            truncated=any(r.truncated for r in records if r.status == "ok"),
            validation_ms=state.validation_ns / 1e6 if state.validation_ns else None,
        )
        if state.answer:  # written with the others when the session ends (one file each)
            rec.output_file = f"step_outputs/{step.id}.md"
            self._answers[step.id] = state.answer
        if state.failed or not state.answer:
            rec.reason = state.reason or "no answer"
        elif state.refused:
            rec.reason = ("the answer names files that cannot be written: "
                          + ", ".join(f"{r.path} ({r.reason})" for r in state.refused[:3]))
        else:
            status, reason = classify_verdicts(state.verdicts)
            rec.status, rec.reason = status, reason
            if state.reason and status != "passed":
                rec.reason = state.reason
        rec.files_refused = list(state.refused)
        if state.answer and not state.failed:
            self._outputs[step.id] = state.answer
            rec.collisions = self._files.record(step.id, state.own_files)
            kept = {k: v for k, v in state.own_files.items() if v is not None}
            written, refused = write_files(self.run_dir.workspace, kept)
            rec.files_written, rec.files_refused = written, rec.files_refused + refused
            rec.files_deleted = self._delete(
                [k for k, v in state.own_files.items() if v is None])
            rec.quality = await self._quality(kept)
        rec.context_truncated = list(state.context_truncated)
        finished = now_ns()
        rec.finished_at_ms = _ms(self._origin, finished)
        rec.step_time_ms = (finished - state.ready_ns) / 1e6
        waited = sum(a.timing.queue_latency_ms or 0.0 for a in rec.attempts
                     if a.session == self.session)
        rec.service_time_ms = rec.step_time_ms - waited
        return rec

    def _delete(self, paths: list[str]) -> list[str]:
        """Files a step's diff deleted: gone from the workspace and, in a project run,
        recorded so ``--apply`` and ``aetherflow diff`` delete them too."""
        for rel in paths:
            target = safe_workspace_path(self.run_dir.workspace, rel)
            if target is not None and target.is_file():
                target.unlink()
        if paths and self._project is not None:
            record_deleted(self.run_dir.path, paths)
        return paths

    def _compute_times(self) -> dict[str, float] | None:
        """Each step's server-reported compute (all its attempts), or None when some attempt
        has none (only the embedded llama.cpp server reports it)."""
        out: dict[str, float] = {}
        for step_id, rec in self._results.items():
            values = [a.server_timing.compute_ms for a in rec.attempts]
            if any(v is None for v in values):
                return None
            out[step_id] = sum(v or 0.0 for v in values)
        return out if any(self._results[s].attempts for s in out) else None

    async def _quality(self, files: Mapping[str, str]) -> Any:
        if not any(k.endswith(".py") for k in files):
            return None
        sandbox = self._sandbox_or_default()
        async with self._check_gate:
            return await asyncio.to_thread(code_quality, dict(files), sandbox)

    # --- the end -------------------------------------------------------------------------
    def _finish(self, status: str) -> None:
        end = now_ns()
        rec = self.record
        rec.status = status  # type: ignore[assignment]
        rec.finished_at = datetime.now(UTC).isoformat()
        self._session.makespan_ms = (end - self._origin) / 1e6
        self._session.cpu_ms = (time.process_time() - self._cpu_origin) * 1000.0
        self._session.finished_at = rec.finished_at
        self._session.end = "finished" if status not in ("interrupted",) else "interrupted"
        rec.makespan_ms = sum(s.makespan_ms or 0.0 for s in rec.sessions)
        self._sync_record()
        deps = {s.id: list(s.dependencies) for s in self.plan.steps if s.id in self._results}
        # Service time (step time minus waiting for a concurrency slot): the critical path
        # of service times is the lower bound of any schedule's makespan.
        durations = {k: v.service_time_ms or 0.0 for k, v in self._results.items()}
        if deps:
            cp, path = critical_path(deps, durations)
            rec.critical_path_ms, rec.critical_path = cp, path
            rec.parallel_efficiency = cp / rec.makespan_ms if rec.makespan_ms else None
            compute = self._compute_times()
            if compute is not None:
                rec.compute_critical_path_ms = critical_path(deps, compute)[0]
        if self._unpriced and self.settings.max_cost_usd is not None:
            rec.warnings.append(f"--max-cost-usd could not count {self._unpriced} unpriced "
                                "attempt(s)")
        collisions = [c for s in rec.steps for c in s.collisions]
        for c in collisions:
            rec.warnings.append(f"{c.path}: written by {c.overwritten_step!r} then overwritten "
                                f"by {c.by_step!r}, and no dependency orders them")
        # Each part is tried on its own: a journal that refuses one more line must not
        # cost run.json, and the reverse (the caller reports the failure).
        event: dict[str, Any] = {"e": "end", "session": self.session,
                                 "status": self._session.end,
                                 "run_status": status, "finished_at": rec.finished_at,
                                 "makespan_ms": self._session.makespan_ms,
                                 "cpu_ms": self._session.cpu_ms}
        with contextlib.suppress(OSError, RunDirectoryError):
            self._journal(event)
        with contextlib.suppress(OSError, RunDirectoryError):
            self.run_dir.write_record(rec)
        with contextlib.suppress(OSError, RunDirectoryError):
            # After the journal is synced and closed: files created while its fsyncs run
            # wait for them (ext4 orders file data with the metadata it commits).
            self.run_dir.close_journal()
            self.run_dir.write_step_outputs(self._answers)


class _NoSandbox:
    """For steps whose criteria are all free text: never runs anything."""

    name = "none"
    description = "no sandboxed check ran"
    guarantees: frozenset[Any] = frozenset()

    def run(self, argv: Sequence[str], workdir: Path, *,  # pragma: no cover
            limits: SandboxLimits = SandboxLimits(), ro_paths: Sequence[Path] = (),
            env: Mapping[str, str] | None = None) -> Any:
        raise RuntimeError("no sandbox configured")
