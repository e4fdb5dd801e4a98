"""What the history hands out: run and bench summaries, save results, resolved references."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BenchSummary", "ResolvedRef", "RunSummary", "SavedRun", "short_run_id"]

#: A run id that ends in a random hex tail (``20261204-201500-calculator-3f9a1c2e``, maybe
#: followed by a ``~N`` disambiguation): the tail is its short form.
_HEX_TAIL = re.compile(r"-([0-9a-f]{6,}(?:~\d+)?)$")


def short_run_id(run_id: str) -> str:
    """The short form of a run id shown by ``aetherflow history``: its random hex tail if
    it has one (``3f9a1c2e``), else the whole id (legacy ids such as ``3`` or ``3~2``)."""
    match = _HEX_TAIL.search(run_id)
    return match.group(1) if match else run_id


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunSummary(_Frozen):
    """The indexed columns of one stored run (the full record: ``HistoryStore.get_run``).

    ``id`` is the history's numeric id and ``run_id`` its unique string id; both are unique
    across the database and never reused. ``source_run_id`` is the run id the record itself
    carries: it differs from ``run_id`` only when another run already held that id (legacy
    bench runs were all named ``1``, ``2``, ``3``), in which case ``run_id`` is
    ``<source_run_id>~N``. ``total_cost_usd`` is None when any attempt could not be priced
    (``cost_note`` says how many); 0.0 only when the run made no request at all.
    """

    id: int
    run_id: str
    source_run_id: str
    task_id: str
    plan_path: str | None
    label: str | None
    bench_id: int | None
    provider: str
    model: str | None
    emulated: bool
    status: str
    started_at: str
    makespan_ms: float | None
    steps_passed: int
    steps_failed: int
    steps_unvalidated: int
    steps_skipped: int
    total_cost_usd: float | None
    cost_note: str | None
    run_dir: str | None
    saved_at: str

    @property
    def short_id(self) -> str:
        """The short form of ``run_id`` (see :func:`short_run_id`)."""
        return short_run_id(self.run_id)

    @property
    def steps(self) -> int:
        """Steps recorded so far (every status)."""
        return self.steps_passed + self.steps_failed + self.steps_unvalidated + self.steps_skipped


class BenchSummary(_Frozen):
    """One bench: a plan repeated ``repeats`` times under a label (which need not be unique).

    ``output_dir`` is the bench directory (None for benches stored before it was recorded);
    ``run_count`` the measured runs stored for it so far.
    """

    id: int
    label: str | None
    task_id: str
    plan_path: str | None
    repeats: int | None
    created_at: str
    output_dir: str | None = None
    run_count: int = 0


class SavedRun(_Frozen):
    """What :meth:`HistoryStore.save` did.

    ``created`` is False when the save updated the same run (same record run id, same
    start time and run directory). ``renamed`` is True when the record's run id already
    belonged to a *different* run: nothing was overwritten, this run was stored under the
    new unique ``run_id`` and ``note`` says so.
    """

    id: int
    run_id: str
    source_run_id: str
    created: bool
    renamed: bool = False
    note: str | None = None


class ResolvedRef(_Frozen):
    """What a reference named: one bench (with its runs) or one run.

    ``runs`` are oldest first. ``bench`` is set when ``kind`` is ``"bench"``.
    """

    ref: str
    kind: Literal["run", "bench"]
    bench: BenchSummary | None = None
    runs: list[RunSummary] = Field(default_factory=list)
