"""An optional LLM judge for free-text criteria, labelled as such.

A free-text criterion ("the code is idiomatic") has nothing to execute, so by default it is
``unchecked``. With ``--judge-provider`` a model is asked, once per step, for a pass/fail
verdict with a reason on each of the step's free-text criteria. Its answers become verdicts
with method ``judge``: shown apart from executed verdicts, never counted in a pass rate and
never deciding a step's status (a verdict never comes from words in the *generating* model's
reply; a judge's opinion is reported as an opinion).

The judge must answer with a JSON array ``[{"criterion": 1, "verdict": "pass"|"fail",
"reason": "..."}]``; anything else gives ``error`` verdicts saying the reply was not a
verdict.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from aetherflow.providers.base import ChatMessage, ChatRequest
from aetherflow.results.run import Verdict

__all__ = ["JUDGE_MAX_ANSWER_CHARS", "build_judge_request", "parse_judge_reply"]

#: Characters of the step's answer shown to the judge.
JUDGE_MAX_ANSWER_CHARS = 12_000
_SYSTEM = (
    "You review a software engineer's answer against requirements. For each numbered "
    "requirement decide whether the answer meets it. Reply with only a JSON array, one "
    'object per requirement: {"criterion": <number>, "verdict": "pass" or "fail", '
    '"reason": "<one sentence>"}.'
)
_ARRAY = re.compile(r"\[.*\]", re.S)


def build_judge_request(criteria: Sequence[str], answer: str, max_tokens: int = 512,
                        ) -> ChatRequest:
    """The judge's request: the numbered criteria and the (bounded) answer."""
    shown = answer if len(answer) <= JUDGE_MAX_ANSWER_CHARS else (
        answer[:JUDGE_MAX_ANSWER_CHARS] + f"\n[... {len(answer) - JUDGE_MAX_ANSWER_CHARS} "
        "characters not shown]")
    listing = "\n".join(f"{i}. {c}" for i, c in enumerate(criteria, start=1))
    user = f"Requirements:\n{listing}\n\nAnswer:\n{shown}"
    return ChatRequest(messages=(ChatMessage("system", _SYSTEM), ChatMessage("user", user)),
                       max_tokens=max_tokens, temperature=0.0, step_type="judge")


def _error(criterion: str, reason: str) -> Verdict:
    return Verdict(criterion=criterion, check="text", status="error", method="judge",
                   reason=reason)


def parse_judge_reply(criteria: Sequence[str], reply: str, judge: str) -> list[Verdict]:
    """One ``judge`` verdict per criterion from the judge's JSON reply (``error`` for a
    criterion the reply does not decide)."""
    found = _ARRAY.search(reply)
    items: Any = None
    if found is not None:
        try:
            items = json.loads(found.group(0))
        except ValueError:
            items = None
    if not isinstance(items, list):
        return [_error(c, f"{judge}: the reply was not a JSON verdict list") for c in criteria]
    decided: dict[int, tuple[str, str]] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        number, verdict = item.get("criterion"), str(item.get("verdict", "")).lower()
        if isinstance(number, int) and verdict in ("pass", "fail"):
            decided.setdefault(number, (verdict, str(item.get("reason", ""))[:500]))
    out = []
    for i, criterion in enumerate(criteria, start=1):
        if i not in decided:
            out.append(_error(criterion, f"{judge}: no verdict for this criterion"))
            continue
        verdict, reason = decided[i]
        out.append(Verdict(criterion=criterion, check="text",
                           status="passed" if verdict == "pass" else "failed",
                           method="judge", reason=f"{judge}: {reason}".strip(),
                           sandbox=None))
    return out
