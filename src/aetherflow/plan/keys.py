"""Keys a plan carries beyond the model: kept and warned about, or refused as a near-miss.

Real plans written for the original AETHERFLOW carry keys the format does not define
(``context.surgical_mode``, a top-level ``created_at``, ...). They are kept (in each model's
``model_extra``) and reported as warnings. A key that looks like a misspelling of a known one
(``dependancies``) is an error naming the key it resembles: a typo must not silently turn a
plan's dependencies into an unused extra.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from aetherflow.errors import PlanProblem
from aetherflow.plan.models import PatchSpec, Plan, Step, StepContext

__all__ = [
    "NEAR_MISS_CUTOFF",
    "Finding",
    "Locator",
    "near_miss",
    "plan_warnings",
    "scan_unknown_keys",
]

#: ``difflib`` similarity (0..1) from which an unknown key counts as a misspelt known key.
#: Keys are compared in lower case with ``_``, ``-`` and spaces removed, so ``taskId`` and
#: ``Task-ID`` match ``task_id`` exactly; ``dependancies`` scores 0.92, ``input_file`` 0.95,
#: while ``estimated_time`` (0.79 against ``estimated_tokens``) or ``output_files`` (0.76
#: against ``input_files``) are different keys.
NEAR_MISS_CUTOFF = 0.85

_ID = re.compile(r"^[A-Za-z0-9_.\-]+$")
_KEPT = "kept but not used by AetherFlow"
#: Extra advice for keys the original format used whose role AetherFlow fills another way.
_HINTS: dict[str, str] = {
    "project_root": "give the project to `aetherflow run --project DIR` instead",
}

Loc = tuple[int | str, ...]


def _fields(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(model.model_fields)


PLAN_KEYS = _fields(Plan)
STEP_KEYS = _fields(Step)
CONTEXT_KEYS = _fields(StepContext)
PATCH_KEYS = _fields(PatchSpec)


def _normal(key: str) -> str:
    return re.sub(r"[_\-\s]", "", key.lower())


def near_miss(key: str, known: Iterable[str], cutoff: float = NEAR_MISS_CUTOFF) -> str | None:
    """The known key that ``key`` most resembles, if it looks like a misspelling of one."""
    by_normal = {_normal(k): k for k in known}
    if not (normal := _normal(key)):
        return None
    match = difflib.get_close_matches(normal, list(by_normal), n=1, cutoff=cutoff)
    return by_normal[match[0]] if match else None


@dataclass(frozen=True)
class Finding:
    """A problem found while checking a plan, before it is placed and rendered."""

    loc: Loc
    message: str
    severity: Literal["error", "warning"] = "error"
    #: For a misspelt key: the known key it resembles.
    resembles: str | None = None


class Locator:
    """Turns a location inside plan data into a readable path that names the step.

    ``("steps", 3, "type")`` becomes ``$.steps[3] (step_4).type`` when step 3's id is
    ``step_4``. ``data`` is the decoded plan (any JSON value).
    """

    def __init__(self, data: Any) -> None:
        steps = data.get("steps") if isinstance(data, Mapping) else None
        self._steps: Sequence[Any] = steps if isinstance(steps, list) else []

    def step_id(self, loc: Loc) -> str | None:
        """Id of the step ``loc`` is in (``None`` outside a step or for a step without one)."""
        if len(loc) < 2 or loc[0] != "steps" or not isinstance(loc[1], int):
            return None
        if not 0 <= loc[1] < len(self._steps) or not isinstance(self._steps[loc[1]], Mapping):
            return None
        step_id = self._steps[loc[1]].get("id")
        return step_id if isinstance(step_id, str) and step_id else None

    def path(self, loc: Loc) -> str:
        """The JSON path of ``loc`` with the step id after the step index."""
        step_id = self.step_id(loc)
        out = "$"
        for n, part in enumerate(loc):
            out += f"[{part}]" if isinstance(part, int) else f".{part}"
            if n == 1 and step_id is not None and _ID.match(step_id):
                out += f" ({step_id})"
        return out

    def order(self, loc: Loc) -> int:
        """Sort key that puts a problem in plan order: top level, then step by step."""
        if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
            return loc[1]
        return len(self._steps) if loc == ("steps",) else -1

    def problem(self, finding: Finding) -> PlanProblem:
        """Render ``finding`` as a :class:`PlanProblem`."""
        return PlanProblem(self.path(finding.loc), finding.message, self.step_id(finding.loc))


def unknown_key(key: str, known: Collection[str], loc: Loc) -> Finding:
    """The finding for ``key`` found at ``loc`` (the object's location) outside ``known``."""
    if match := near_miss(key, known):
        return Finding((*loc, key), f"unknown key {key!r} (did you mean {match!r}?)",
                       resembles=match)
    hint = _HINTS.get(key)
    return Finding((*loc, key), f"{_KEPT}; {hint}" if hint else _KEPT, "warning")


def _scan(obj: Any, known: Collection[str], loc: Loc, out: list[Finding]) -> None:
    if isinstance(obj, Mapping):
        # a non-string key (only possible from Python, never from JSON) is a model error
        out.extend(unknown_key(key, known, loc) for key in obj
                   if isinstance(key, str) and key not in known)


def scan_unknown_keys(data: Any) -> list[Finding]:
    """Unknown keys of decoded plan data: near-misses are errors, the others warnings.

    Covers the top level, each step, its ``context`` and ``context.patch``; ``metadata``
    takes any key. Criteria objects are strict and are checked by the model.
    """
    out: list[Finding] = []
    _scan(data, PLAN_KEYS, (), out)
    steps = data.get("steps") if isinstance(data, Mapping) else None
    for i, step in enumerate(steps if isinstance(steps, list) else []):
        _scan(step, STEP_KEYS, ("steps", i), out)
        context = step.get("context") if isinstance(step, Mapping) else None
        _scan(context, CONTEXT_KEYS, ("steps", i, "context"), out)
        patch = context.get("patch") if isinstance(context, Mapping) else None
        _scan(patch, PATCH_KEYS, ("steps", i, "context", "patch"), out)
    return out


def _extra(model: BaseModel | None) -> list[str]:
    return list(model.model_extra or {}) if model is not None else []


def plan_warnings(plan: Plan) -> list[PlanProblem]:
    """One warning per key ``plan`` keeps but AetherFlow does not use, with its JSON path.

    E.g. ``$.steps[2] (step_3).context.surgical_mode: kept but not used by AetherFlow``.
    """
    found: list[Finding] = [unknown_key(k, PLAN_KEYS, ()) for k in _extra(plan)]
    for i, step in enumerate(plan.steps):
        found += [unknown_key(k, STEP_KEYS, ("steps", i)) for k in _extra(step)]
        context = step.context
        found += [unknown_key(k, CONTEXT_KEYS, ("steps", i, "context")) for k in _extra(context)]
        found += [unknown_key(k, PATCH_KEYS, ("steps", i, "context", "patch"))
                  for k in _extra(context.patch)]
    locator = Locator({"steps": [{"id": s.id} for s in plan.steps]})
    return [locator.problem(f) for f in found]
