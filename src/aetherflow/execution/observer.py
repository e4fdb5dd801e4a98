"""Progress is an interface: the executor calls these hooks; the UI implements them.

The engine never imports a UI. :class:`NullObserver` is the quiet/CI implementation.
"""

from __future__ import annotations

from typing import Protocol

from aetherflow.plan.models import Plan
from aetherflow.results.run import RunRecord, StepRecord

__all__ = ["NullObserver", "RunObserver"]


class RunObserver(Protocol):
    """Hooks called by the executor, in order, from the event loop thread."""

    def on_run_start(self, plan: Plan, run: RunRecord) -> None:
        """The run is about to start its first step."""

    def on_step_start(self, step_id: str, attempt: int, provider: str) -> None:
        """An attempt of ``step_id`` was dispatched to ``provider``."""

    def on_token(self, step_id: str, text: str) -> None:
        """A content delta arrived for ``step_id``."""

    def on_step_end(self, record: StepRecord) -> None:
        """``record`` is final (succeeded, failed or skipped)."""

    def on_run_end(self, run: RunRecord) -> None:
        """The run finished (or was interrupted); ``run`` is final."""


class NullObserver:
    """Observes nothing: for ``--quiet``, CI and library use."""

    def on_run_start(self, plan: Plan, run: RunRecord) -> None:
        """Ignore."""

    def on_step_start(self, step_id: str, attempt: int, provider: str) -> None:
        """Ignore."""

    def on_token(self, step_id: str, text: str) -> None:
        """Ignore."""

    def on_step_end(self, record: StepRecord) -> None:
        """Ignore."""

    def on_run_end(self, run: RunRecord) -> None:
        """Ignore."""
