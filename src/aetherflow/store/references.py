"""Resolve what a user typed (``12``, ``bench:4``, ``run:7``, a run id, a label, a path)
to stored runs or benches, refusing ambiguity.

Tiers, tried in order; the first tier that names anything decides, and if it names more
than one thing the reference is ambiguous (an error listing every candidate):

1. ``bench:N`` / ``run:N``: that bench or run id.
2. A path (contains ``/`` or is ``.``/``..``/``~...``): the bench whose output directory,
   or the run whose run directory, it is.
3. A number: a bench id when benches may be meant and that bench exists, else a run id.
4. Exact: a bench label, a run label (runs of a bench that carries the same label count as
   that bench), a full run id.
5. A unique prefix of a run id or of its short form (``3f9a``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from aetherflow.errors import AmbiguousReferenceError, RunNotFoundError
from aetherflow.store.models import BenchSummary, ResolvedRef, RunSummary, short_run_id
from aetherflow.store.rows import RUN_SUMMARY_COLUMNS, absolute_dir, bench_summary, run_summary

__all__ = ["MAX_CANDIDATE_LINES", "Want", "bench_line", "resolve_ref", "run_line"]

#: What a reference may name: a run only, a bench only, or either.
Want = Literal["run", "bench", "any"]

#: Candidates listed in an ambiguity error before "... and N more".
MAX_CANDIDATE_LINES = 20

_BENCH_SELECT = (
    "SELECT b.id, b.label, b.task_id, b.plan_path, b.repeats, b.created_at, b.output_dir, "
    "(SELECT count(*) FROM runs r WHERE r.bench_id = b.id) AS run_count FROM benches b"
)
_RUN_SELECT = f"SELECT {RUN_SUMMARY_COLUMNS} FROM runs r"

_Candidate = BenchSummary | RunSummary


def bench_line(b: BenchSummary) -> str:
    """One line naming a bench: id, label, plan, start, directory."""
    return (f"bench:{b.id}  label {_q(b.label)}  plan {b.task_id}  {b.run_count} runs  "
            f"started {b.created_at}  dir {b.output_dir or '(not recorded)'}")


def run_line(r: RunSummary) -> str:
    """One line naming a run: id and run id, label, plan, status, start, directory."""
    bench = f"  bench:{r.bench_id}" if r.bench_id is not None else ""
    return (f"run:{r.id} ({r.run_id})  label {_q(r.label)}  plan {r.task_id}  {r.status}"
            f"{bench}  started {r.started_at}  dir {r.run_dir or '(not recorded)'}")


def _q(label: str | None) -> str:
    return "-" if label is None else repr(label)


def resolve_ref(db: sqlite3.Connection, ref: str, want: Want = "any") -> ResolvedRef:
    """The bench or run ``ref`` names (see the module docstring for the rules).

    Raises :class:`RunNotFoundError` when nothing matches and
    :class:`AmbiguousReferenceError` (listing the candidates) when several do.
    """
    text = ref.strip()
    if not text:
        raise RunNotFoundError("an empty reference names no run or bench")
    for tier in (_explicit, _by_path, _by_number, _exact, _by_prefix):
        found = tier(db, text, want)
        if found:
            return _one(db, ref, found)
    raise RunNotFoundError(_not_found(ref, want))


def _not_found(ref: str, want: Want) -> str:
    what = {"run": "stored run", "bench": "bench", "any": "stored run or bench"}[want]
    return (f"no {what} matches {ref!r}: use an id, a run id (or its start), a label or a "
            "directory; `aetherflow history` lists runs, `aetherflow history benches` benches")


def _one(db: sqlite3.Connection, ref: str, found: Sequence[_Candidate]) -> ResolvedRef:
    if len(found) > 1:
        lines = [bench_line(c) if isinstance(c, BenchSummary) else run_line(c) for c in found]
        shown = lines[:MAX_CANDIDATE_LINES]
        more = len(lines) - len(shown)
        tail = [f"  ... and {more} more"] if more else []
        raise AmbiguousReferenceError(
            "\n".join([f"{ref!r} is ambiguous: it names {_count(found)}. Refer to one by its "
                       "id (bench:N or run:N):", *(f"  {line}" for line in shown), *tail]),
            candidates=lines)
    (only,) = found
    if isinstance(only, BenchSummary):
        runs = _select_runs(db, "r.bench_id = ?", [only.id])
        return ResolvedRef(ref=ref, kind="bench", bench=only, runs=runs)
    return ResolvedRef(ref=ref, kind="run", runs=[only])


def _count(found: Sequence[_Candidate]) -> str:
    benches = sum(isinstance(c, BenchSummary) for c in found)
    runs = len(found) - benches
    parts = [f"{n} {word}{'es' if word == 'bench' and n != 1 else 's' if n != 1 else ''}"
             for n, word in ((benches, "bench"), (runs, "run")) if n]
    return " and ".join(parts)


# --- queries ------------------------------------------------------------------------------


def _select_runs(db: sqlite3.Connection, where: str, params: list[object]) -> list[RunSummary]:
    rows = db.execute(f"{_RUN_SELECT} WHERE {where} ORDER BY r.started_at_epoch, r.id",
                      params).fetchall()
    return [run_summary(r) for r in rows]


def _select_benches(db: sqlite3.Connection, where: str,
                    params: list[object]) -> list[BenchSummary]:
    rows = db.execute(f"{_BENCH_SELECT} WHERE {where} ORDER BY b.id", params).fetchall()
    return [bench_summary(r) for r in rows]


# --- tiers --------------------------------------------------------------------------------


def _explicit(db: sqlite3.Connection, ref: str, want: Want) -> list[_Candidate]:
    kind, sep, number = ref.partition(":")
    if not sep or kind not in ("run", "bench") or not number.isdigit():
        return []
    if want != "any" and kind != want:
        raise RunNotFoundError(f"{ref!r} names a {kind}, but a {want} is expected here")
    found: list[_Candidate] = []
    if kind == "bench":
        found += _select_benches(db, "b.id = ?", [int(number)])
    else:
        found += _select_runs(db, "r.id = ?", [int(number)])
    if not found:
        raise RunNotFoundError(f"no stored {kind} has id {number}")
    return found


def _looks_like_path(ref: str) -> bool:
    return "/" in ref or "\\" in ref or ref in (".", "..") or ref.startswith("~")


def _by_path(db: sqlite3.Connection, ref: str, want: Want) -> list[_Candidate]:
    if not _looks_like_path(ref):
        return []
    where = absolute_dir(ref)
    real = absolute_dir(Path(ref).expanduser().resolve())
    keys = list({where, real})
    marks = ", ".join("?" for _ in keys)
    found: list[_Candidate] = []
    if want != "run":
        found += _select_benches(db, f"b.output_dir IN ({marks})", list(keys))
    if want != "bench":
        found += _select_runs(db, f"r.run_dir IN ({marks})", list(keys))
    return found


def _by_number(db: sqlite3.Connection, ref: str, want: Want) -> list[_Candidate]:
    if not ref.isdigit():
        return []
    if want != "run":
        benches = _select_benches(db, "b.id = ?", [int(ref)])
        if benches or want == "bench":
            return list(benches)
    return list(_select_runs(db, "r.id = ?", [int(ref)]))


def _exact(db: sqlite3.Connection, ref: str, want: Want) -> list[_Candidate]:
    benches = [] if want == "run" else _select_benches(db, "b.label = ?", [ref])
    if want == "bench":
        return list(benches)
    covered = {b.id for b in benches}
    runs = [r for r in _select_runs(db, "r.label = ? OR r.run_id = ?", [ref, ref])
            if want == "run" or r.run_id == ref or r.bench_id not in covered]
    return [*benches, *runs]


def _by_prefix(db: sqlite3.Connection, ref: str, want: Want) -> list[_Candidate]:
    if want == "bench":
        return []
    ids = [int(row[0]) for row in db.execute("SELECT id, run_id FROM runs").fetchall()
           if str(row[1]).startswith(ref) or short_run_id(str(row[1])).startswith(ref)]
    if not ids:
        return []
    marks = ", ".join("?" for _ in ids)
    return list(_select_runs(db, f"r.id IN ({marks})", list(ids)))
