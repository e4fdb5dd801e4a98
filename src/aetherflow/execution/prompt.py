"""Turn a plan step into a chat request: description, type, context, criteria, inputs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from aetherflow.errors import PlanError
from aetherflow.plan.models import Plan, Step
from aetherflow.providers.base import ChatMessage, ChatRequest
from aetherflow.results.run import Verdict
from aetherflow.validation.checks import criterion_label

__all__ = ["CHECK_OUTPUT_LIMIT", "DEP_OUTPUT_LIMIT", "INPUT_FILE_LIMIT", "SYSTEM_PROMPT",
           "build_repair_request", "build_request", "build_review_request",
           "check_input_files", "criterion_text", "current_files", "defeat_prefix_cache"]

SYSTEM_PROMPT = (
    "You are a senior software engineer. Answer with complete, working code. "
    "Put each file in its own fenced code block whose first line is a comment naming the "
    "file, like `# file: name.py`."
)
#: Characters of each dependency's output carried into a dependent step's prompt.
DEP_OUTPUT_LIMIT = 4000
#: Characters of each input file carried into the prompt.
INPUT_FILE_LIMIT = 12000
#: Characters of each failing check's output carried into a repair turn.
CHECK_OUTPUT_LIMIT = 1500

_GUIDANCE = {
    "code_generation": "Write the code.",
    "refactoring": "Refactor the given code; keep its behaviour.",
    "analysis": "Analyse and report findings; code only where it illustrates a point.",
    "patch": "Produce the changed code.",
}


def criterion_text(criterion: object) -> str:
    """A human-readable form of a criterion (free text or structured check)."""
    return criterion_label(criterion)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n[... {len(text) - limit} chars cut]"


def _read_input(plan_dir: Path, name: str, step: Step) -> str:
    path = (plan_dir / name).resolve()
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanError(str(plan_dir), f"step {step.id!r} context.input_files",
                        f"cannot read {name}: {exc.strerror or exc}") from None


def check_input_files(plan: Plan, plan_dir: Path, source: str = "<plan>", *,
                      project: bool = False) -> None:
    """Fail before anything runs if a step's ``context.input_files`` entry is unreadable
    (relative to the plan file, or to the project root with ``--project``)."""
    where = "the project root (--project)" if project else "the plan file"
    for i, step in enumerate(plan.steps):
        for j, name in enumerate(step.context.input_files):
            if not (plan_dir / name).is_file():
                raise PlanError(source, f"$.steps[{i}] ({step.id}).context.input_files[{j}]",
                                f"step {step.id!r}: input file {name!r} not found "
                                f"(paths are relative to {where})")


def _shared_context(plan: Plan, step: Step, plan_dir: Path) -> str:
    """The part of the prompt that steps of one plan share: instructions, task, input files.

    It goes first (in the system message) so that steps reading the same inputs share a
    long prompt prefix, which providers' prefix caches (and llama.cpp's KV reuse) can serve.
    """
    lines = [SYSTEM_PROMPT, "", f"Task: {plan.description}".rstrip()]
    for name in step.context.input_files:
        lines += ["", f"Input file `{name}`:", "```",
                  _clip(_read_input(plan_dir, name, step), INPUT_FILE_LIMIT), "```"]
    return "\n".join(lines)


def current_files(step: Step, view: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The current content of the step's ``context.files`` that exist in ``view`` (the
    project and its dependencies' files, as they stand after its dependencies), each cut to
    :data:`INPUT_FILE_LIMIT` characters; and the files that were cut."""
    shown: dict[str, str] = {}
    cut: list[str] = []
    for name in step.context.files:
        if name not in view:
            continue
        text = view[name]
        if len(text) > INPUT_FILE_LIMIT:
            cut.append(name)
        shown[name] = _clip(text, INPUT_FILE_LIMIT)
    return shown, cut


def build_request(
    plan: Plan, step: Step, dep_outputs: Mapping[str, str], *, plan_dir: Path,
    max_tokens: int, temperature: float, current: Mapping[str, str] | None = None,
) -> ChatRequest:
    """The request for ``step``: the shared context as the system message, then the step's
    own instructions, criteria, the current content of the files it modifies (``current``,
    from :func:`current_files`) and (bounded) dependency outputs as the user message."""
    ctx = step.context
    lines = [f"Step `{step.id}` ({step.type.value}): {step.description}",
             _GUIDANCE[step.type.value]]
    if ctx.language or ctx.framework:
        lines.append(f"Language: {ctx.language or '-'}; framework: {ctx.framework or '-'}.")
    if ctx.files:
        lines.append("Files to produce: " + ", ".join(ctx.files))
    if step.validation_criteria:
        lines += ["", "The result must satisfy:"]
        lines += [f"- {criterion_text(c)}" for c in step.validation_criteria]
    for name, text in (current or {}).items():
        lines += ["", f"Current content of `{name}`:", "```", text, "```"]
    if ctx.patch is not None:
        lines += ["", f"Answer with the code to put {ctx.patch.position} the line holding "
                      f"`{ctx.patch.marker}` in {', '.join(ctx.files) or 'the file'}, in one "
                      "fenced code block (or a unified diff)."]
    for dep in step.dependencies:
        if dep in dep_outputs:
            lines += ["", f"Output of step `{dep}`:", _clip(dep_outputs[dep], DEP_OUTPUT_LIMIT)]
    return ChatRequest(
        messages=(ChatMessage("system", _shared_context(plan, step, plan_dir)),
                  ChatMessage("user", "\n".join(lines))),
        max_tokens=max_tokens, temperature=temperature, step_type=step.type.value,
    )


def defeat_prefix_cache(request: ChatRequest, nonce: str) -> ChatRequest:
    """``request`` with ``nonce`` as the very first text of its first message.

    A prompt that differs from its first token on shares no prefix with any earlier prompt,
    so no provider prefix cache (nor llama.cpp's KV reuse) can serve it: the "cache
    defeated" baseline of ``--set cache=off``. The nonce costs a few input tokens, which
    are counted like any other.
    """
    first, *rest = request.messages
    tagged = ChatMessage(first.role, f"[request {nonce}]\n{first.content}")
    return replace(request, messages=(tagged, *rest))


def _tail(text: str | None, limit: int) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else "[...]\n" + text[-limit:]


def build_repair_request(request: ChatRequest, answer: str,
                         failing: list[Verdict]) -> ChatRequest:
    """A follow-up turn after failed checks: the conversation so far, the previous answer,
    and what each failing check printed (bounded), asking for corrected complete files."""
    lines = ["The checks of your answer failed:"]
    for v in failing:
        lines += ["", f"- {v.criterion}: {v.status}" + (f" ({v.reason})" if v.reason else "")]
        if v.output_tail:
            lines += ["```", _tail(v.output_tail, CHECK_OUTPUT_LIMIT), "```"]
    lines += ["", "Fix the code. Answer with the complete corrected files, each in its own "
                  "fenced code block whose first line names the file (`# file: name.py`)."]
    return replace(request, messages=(*request.messages, ChatMessage("assistant", answer),
                                      ChatMessage("user", "\n".join(lines))))


def build_review_request(request: ChatRequest, answer: str,
                         criteria: list[str]) -> ChatRequest:
    """The ``prod`` workflow's review pass: improve the answer against the criteria."""
    lines = ["Review your answer as a senior engineer: find bugs, missing cases and unmet "
             "requirements, then give the improved code."]
    if criteria:
        lines += ["", "It must satisfy:", *[f"- {c}" for c in criteria]]
    lines += ["", "Answer with the complete improved files, each in its own fenced code block "
                  "whose first line names the file (`# file: name.py`)."]
    return replace(request, messages=(*request.messages, ChatMessage("assistant", answer),
                                      ChatMessage("user", "\n".join(lines))))
