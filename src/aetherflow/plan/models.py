"""Typed plan model: the original AETHERFLOW format plus structured validation criteria."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CommandCriterion",
    "ContainsCriterion",
    "Criterion",
    "Plan",
    "PytestCriterion",
    "PythonSyntaxCriterion",
    "RuffCriterion",
    "Step",
    "StepContext",
    "StepType",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StepType(StrEnum):
    """What a step asks the model to do."""

    CODE_GENERATION = "code_generation"
    REFACTORING = "refactoring"
    ANALYSIS = "analysis"
    PATCH = "patch"


class PythonSyntaxCriterion(_Strict):
    """The step's Python code blocks must parse."""

    check: Literal["python_syntax"]


class ContainsCriterion(_Strict):
    """The step's output must contain ``text`` verbatim."""

    check: Literal["contains"]
    text: str = Field(min_length=1)


class PytestCriterion(_Strict):
    """``tests`` (pytest source) must pass against the step's workspace files."""

    check: Literal["pytest"]
    tests: str = Field(min_length=1)


class RuffCriterion(_Strict):
    """The step's Python files must pass ``ruff check``."""

    check: Literal["ruff"]


class CommandCriterion(_Strict):
    """A shell command run in the sandboxed workspace must exit 0."""

    check: Literal["command"]
    run: str = Field(min_length=1)


StructuredCriterion = Annotated[
    PythonSyntaxCriterion | ContainsCriterion | PytestCriterion | RuffCriterion | CommandCriterion,
    Field(discriminator="check"),
]
#: A criterion is free text (judged or reported unchecked) or a structured check.
Criterion = str | StructuredCriterion


class StepContext(_Strict):
    """Where a step runs and what it sees."""

    language: str | None = None
    framework: str | None = None
    files: list[str] = Field(default_factory=list, description="Files the step should produce.")
    input_files: list[str] = Field(
        default_factory=list,
        description="Files (relative to the plan file) whose content is given to the model.",
    )
    provider: str | None = Field(default=None, description="Pin this step to a provider.")


class Step(_Strict):
    """One unit of work in a plan."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str = Field(min_length=1)
    type: StepType = StepType.CODE_GENERATION
    complexity: float = Field(default=0.5, ge=0.0, le=1.0)
    estimated_tokens: int = Field(default=512, gt=0)
    dependencies: list[str] = Field(default_factory=list)
    validation_criteria: list[Criterion] = Field(default_factory=list)
    context: StepContext = Field(default_factory=StepContext)
    metadata: dict[str, Any] = Field(default_factory=dict)


class Plan(_Strict):
    """A task broken into steps with dependencies. ``metadata`` takes any keys."""

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
