"""What ``run --project`` costs before its first request, and what one check's view costs.

Builds a synthetic project of ``--files`` small files (10,000 by default) in a few hundred
directories, with a ``.gitignore`` that excludes part of it (logs, a ``build/`` directory
per package, a nested ``.gitignore`` with a re-include). Then, median of ``--repeat`` runs:

* **start-up** = ``Project.open`` + ``files()`` + ``snapshot()`` into a fresh run base: the
  part of ``run --project`` before the first request (listing, copying, hashing). Measured
  twice: with the ``.gitignore`` walk (no git repository) and with ``git ls-files`` (the same
  tree after ``git init``, nothing committed, so git lists it as untracked); and once with
  ``start_snapshot`` (list and hash, the copy made by a background thread while the first
  request would be in flight), with the time until that copy is done;
* **apply check** = ``project_changes``: what ``--apply`` spends making sure the project did
  not change since the snapshot;
* **one check's view** = ``materialize_view`` of the whole base with ``link=True`` (hard-link
  farm) and ``link=False`` (real copy), side by side, plus their ratio.

Goal: a run starts in < 2 s at 10,000 files (PASS/FAIL printed with the number, for each
listing method). Run it where the machine load is known (``uptime`` is printed).

The tree and the copies are made under ``--dir`` (default: the current directory, where
``runs/`` would be), because that is where a run's base lives: file creation costs differ a
lot between filesystems and even between directories of one (measured on the reference VM:
3,000 empty files took 3.5 s in a fresh directory under a crowded ``/tmp`` and 0.1 s under
``/work``, same ext4 device).

    .venv/bin/python benchmarks/project_startup.py [--files 10000] [--repeat 5] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from aetherflow.execution.project import (
    LINK_MIN_FILES,
    Project,
    materialize_view,
    project_changes,
)

GOAL_S = 2.0


def build_tree(root: Path, n_files: int, seed: int = 7) -> tuple[int, int]:
    """``n_files`` small files in ~n/30 package dirs of 3 subdirs each; about 1 in 12 is
    ignored. Returns (files written, of which ignored)."""
    rng = random.Random(seed)
    root.mkdir(parents=True)
    (root / ".gitignore").write_text("*.log\nbuild/\n__pycache__/\n")
    n_packages = max(1, n_files // 120)
    written = ignored = 0
    p = 0
    while written < n_files:
        pkg = root / f"pkg{p % n_packages:03d}"
        sub = pkg / ("core", "util", "build", "data")[rng.randrange(4)]
        sub.mkdir(parents=True, exist_ok=True)
        if p % n_packages == 0 and not (pkg / ".gitignore").exists():
            (pkg / ".gitignore").write_text("*.tmp\n!keep.tmp\n")
            written += 1
        kind = rng.random()
        name = (f"m{written}.log" if kind < 0.04 else
                f"t{written}.tmp" if kind < 0.06 else f"m{written}.py")
        size = rng.randrange(60, 2000)
        (sub / name).write_text(("x = 1  # filler\n" * (size // 16 + 1))[:size])
        ignored += sub.name == "build" or name.endswith(".log") or name.endswith(".tmp")
        written += 1
        p += 1
    return written, ignored


def median_s(fn: Callable[[int], object], repeat: int) -> tuple[float, list[float]]:
    """Median wall time of ``fn(i)`` over ``repeat`` calls (i = 0..repeat-1)."""
    times = []
    for i in range(repeat):
        started = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - started)
    return statistics.median(times), times


def _startup(root: Path, work: Path, tag: str, repeat: int) -> tuple[float, list[float], int]:
    count = 0

    def once(i: int) -> None:
        nonlocal count
        dest = work / f"{tag}-base-{i}"
        project = Project.open(root)
        count = len(project.files())
        project.snapshot(dest)

    med, times = median_s(once, repeat)
    return med, times, count  # copies are removed at the very end: a mass delete slows the
    # creates that follow it on ext4 (seen: 4.3 s instead of 0.5 s for the next snapshot)


def create_probe(where: Path, n: int = 1000) -> float:
    """Microseconds to create (and close) one empty file in a fresh directory under
    ``where``, over ``n`` files: this filesystem's price of a new inode right now, which
    dominates a copy of many small files."""
    probe = where / "probe"
    probe.mkdir()
    started = time.perf_counter()
    for i in range(n):
        os.close(os.open(probe / f"f{i}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return (time.perf_counter() - started) / n * 1e6


def _background(root: Path, work: Path, repeat: int) -> tuple[float, list[float], float]:
    """``open`` + ``start_snapshot`` (the run's start when the copy goes on in the
    background), and, separately, how long until the copy is done (median of ``wait``)."""
    pending = []

    def once(i: int) -> None:
        pending.append(Project.open(root).start_snapshot(work / f"bg-base-{i}"))

    waits = []
    med, times = 0.0, []
    for i in range(repeat):
        started = time.perf_counter()
        once(i)
        times.append(time.perf_counter() - started)
        pending[-1].wait()
        waits.append(time.perf_counter() - started)
    med = statistics.median(times)
    return med, times, statistics.median(waits)


def _fmt(times: list[float]) -> str:
    return ", ".join(f"{t * 1000:.0f}" for t in times)


def main() -> None:
    """Build the tree, measure, print the figures and the goal verdict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=Path.cwd(),
                        help="where to build the tree and the copies (default: here)")
    args = parser.parse_args()
    load = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout
    print(f"machine: {os.cpu_count()} cores; uptime: {load.strip() or 'n/a'}")
    with tempfile.TemporaryDirectory(prefix=".af-project-bench-", dir=args.dir) as tmp:
        work = Path(tmp)
        print(f"working in {work}; creating a file costs {create_probe(work):.0f} us here "
              "now (the copies' floor)")
        root = work / "project"
        written, ignored = build_tree(root, args.files)
        n_dirs = sum(1 for p in root.rglob("*") if p.is_dir())
        print(f"tree: {written} files in {n_dirs} dirs, {ignored} of them ignored by "
              f".gitignore rules; median of {args.repeat} runs (each run's times in ms)")
        results: dict[str, float] = {}
        med, times, seen = _startup(root, work, "walk", args.repeat)
        results["walk"] = med
        print(f"start-up, .gitignore walk : {med * 1000:7.0f} ms  [{_fmt(times)}]  "
              f"({seen} files visible)")
        med, times, done = _background(root, work, args.repeat)
        results["walk, copy in background"] = med
        print(f"start-up, copy in background (start_snapshot): {med * 1000:7.0f} ms  "
              f"[{_fmt(times)}]  (copy done after {done * 1000:.0f} ms)")
        git = shutil.which("git")
        if git is not None:
            subprocess.run([git, "init", "-q", str(root)], check=True)
            med, times, seen_git = _startup(root, work, "git", args.repeat)
            results["git"] = med
            same = "same files" if seen_git == seen else f"DIFFERENT: {seen_git} files"
            print(f"start-up, git ls-files    : {med * 1000:7.0f} ms  [{_fmt(times)}]  "
                  f"({same})")
        else:
            print("start-up, git ls-files    :     n/a (git is not installed)")
        base = work / "base"
        manifest = Project.open(root).snapshot(base)
        med, times = median_s(lambda i: project_changes(root, manifest), args.repeat)
        print(f"apply check (project_changes): {med * 1000:7.0f} ms  [{_fmt(times)}]")
        views: dict[bool, float] = {}
        for link in (True, False):
            def view(i: int, link: bool = link) -> Path:
                return materialize_view(work / f"view-{link}-{i}", base,
                                        {"pkg000/core/new.py": "x = 1\n"}, link=link)

            med, times = median_s(view, args.repeat)
            views[link] = med
            label = "link=True (hard links)" if link else "link=False (copy)   "
            print(f"one check's view, {label}: {med * 1000:7.0f} ms  [{_fmt(times)}]")
        print(f"view ratio copy/link: {views[False] / views[True]:.2f}x  (links are used "
              f"from {LINK_MIN_FILES} files, bwrap as root only)")
        for method, seconds in results.items():
            verdict = "PASS" if seconds < GOAL_S else "FAIL"
            print(f"goal: run starts in < {GOAL_S:.0f} s at {written} files ({method}): "
                  f"{verdict} ({seconds:.2f} s)")


if __name__ == "__main__":
    main()
