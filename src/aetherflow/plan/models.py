"""Typed plan model: the original AETHERFLOW format plus structured validation criteria.

``Plan``, ``Step``, ``StepContext`` and ``PatchSpec`` keep keys they do not model (real
plans written for the original system carry many): they land in ``model_extra`` and
``plan_warnings`` reports each one. Criteria objects take exactly their fields.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CommandCriterion",
    "ContainsCriterion",
    "Criterion",
    "PatchPosition",
    "PatchSpec",
    "Plan",
    "PytestCriterion",
    "PythonSyntaxCriterion",
    "RuffCriterion",
    "Step",
    "StepContext",
    "StepType",
    "TimeoutS",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Open(BaseModel):
    """Keeps unknown keys in ``model_extra`` (warned about, never silently dropped)."""

    model_config = ConfigDict(extra="allow", frozen=True)


#: Every check may carry its own wall-time limit in seconds (default: the run's).
TimeoutS = Annotated[float | None, Field(
    gt=0, allow_inf_nan=False,
    description="Wall-time limit for this check in seconds (default: the run's).",
)]


class StepType(StrEnum):
    """What a step asks the model to do."""

    CODE_GENERATION = "code_generation"
    REFACTORING = "refactoring"
    ANALYSIS = "analysis"
    PATCH = "patch"


class PythonSyntaxCriterion(_Strict):
    """The step's Python code blocks must parse."""

    check: Literal["python_syntax"]
    timeout_s: TimeoutS = None


class ContainsCriterion(_Strict):
    """The step's output must contain ``text`` verbatim."""

    check: Literal["contains"]
    text: str = Field(min_length=1)
    timeout_s: TimeoutS = None


class PytestCriterion(_Strict):
    """``tests`` (pytest source) must pass against the step's workspace files."""

    check: Literal["pytest"]
    tests: str = Field(min_length=1)
    timeout_s: TimeoutS = None


class RuffCriterion(_Strict):
    """The step's Python files must pass ``ruff check``."""

    check: Literal["ruff"]
    timeout_s: TimeoutS = None


class CommandCriterion(_Strict):
    """A shell command run in the sandboxed workspace must exit 0."""

    check: Literal["command"]
    run: str = Field(min_length=1)
    timeout_s: TimeoutS = None


StructuredCriterion = Annotated[
    PythonSyntaxCriterion | ContainsCriterion | PytestCriterion | RuffCriterion | CommandCriterion,
    Field(discriminator="check"),
]
#: A criterion is free text (judged or reported unchecked) or a structured check.
Criterion = str | StructuredCriterion


PatchPosition = Literal["before", "after", "replace"]


class PatchSpec(_Open):
    """``context.patch`` of the original format: apply the step's output at a marker.

    The step's output goes ``before`` or ``after`` ``marker`` in the step's file, or
    ``replace`` it. Other keys are kept in ``model_extra`` (and warned about).
    """

    position: PatchPosition
    marker: str = Field(min_length=1, description="Text that identifies the line to patch at.")


class StepContext(_Open):
    """Where a step runs and what it sees. Unknown keys are kept in ``model_extra``."""

    language: str | None = None
    framework: str | None = None
    files: list[str] = Field(
        default_factory=list,
        description="Files the step reads, modifies and applies its output to (relative to "
                    "the run workspace); a refactoring step is given their current content.",
    )
    input_files: list[str] = Field(
        default_factory=list,
        description="Files whose content is given to the model (resolved when a run starts).",
    )
    provider: str | None = Field(default=None, description="Pin this step to a provider.")
    patch: PatchSpec | None = Field(
        default=None, description="Apply the output at a marker in the step's file.")


class Step(_Open):
    """One unit of work in a plan. Unknown keys are kept in ``model_extra``."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str = Field(min_length=1)
    type: StepType = StepType.CODE_GENERATION
    complexity: float = Field(default=0.5, ge=0.0, le=1.0)
    estimated_tokens: int = Field(default=512, gt=0)
    dependencies: list[str] = Field(default_factory=list)
    validation_criteria: list[Criterion] = Field(default_factory=list)
    context: StepContext = Field(default_factory=StepContext)
    metadata: dict[str, Any] = Field(default_factory=dict)


class Plan(_Open):
    """A task broken into steps with dependencies.

    ``metadata`` takes any keys; other unknown keys are kept in ``model_extra``.
    """

    task_id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str = ""
    steps: list[Step] = Field(min_length=1)
    metadata: dict[str, Any] = Field(default_factory=dict)

    def step(self, step_id: str) -> Step:
        """Return the step with ``step_id`` (KeyError if absent)."""
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)
