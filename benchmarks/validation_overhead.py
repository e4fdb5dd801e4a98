"""What the check sandbox costs: the same check sandboxed (bwrap, process) vs a plain subprocess.

Two checks: ``pytest`` (``python -m pytest -q`` on a module and its test file, plugin autoload
off so the check itself is small and the sandbox's share is visible) and ``empty``
(``python -c pass``: pure start-up cost). Rounds are interleaved (each round runs every variant
once, in a rotating order) so load drifts hit all variants alike. Printed per check: median and
p90 wall time per check, the overhead (median of the per-round paired differences) in ms and
the ratio to plain, the CPU time per check (all child processes, user+sys: steadier than wall
time on a shared machine; n/a for bwrap, see the printed reason) and its overhead, then
checks/s with 1 and 4 checks in flight (threads, one workdir each).
Goal: bwrap adds <= 50 ms per check.

    .venv/bin/python benchmarks/validation_overhead.py [--rounds 15] [--batch 8]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aetherflow.validation.sandbox import (
    SandboxLimits,
    bwrap_unavailable_reason,
    get_sandbox,
)
from aetherflow.validation.sandbox._base import minimal_env

CHECKS = {
    "pytest": ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider"],
    "empty": ["python", "-c", "pass"],
}
EXTRA_ENV = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
Runner = Callable[[list[str], Path], None]


def _workspace(root: Path, name: str) -> Path:
    ws = root / name
    ws.mkdir()
    (ws / "mathx.py").write_text("def add(a, b):\n    return a + b\n")
    (ws / "test_mathx.py").write_text(
        "from mathx import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n")
    return ws


def _plain(argv: list[str], ws: Path) -> None:
    home = ws.parent / f".home-{ws.name}"
    home.mkdir(exist_ok=True)
    proc = subprocess.run(argv, cwd=ws, env=minimal_env(str(home), str(home), EXTRA_ENV),
                          stdin=subprocess.DEVNULL, capture_output=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"plain check failed: {proc.stdout.decode()[-500:]}")


def _sandboxed(mode: str) -> Runner:
    sandbox = get_sandbox(mode)  # type: ignore[arg-type]

    def run(argv: list[str], ws: Path) -> None:
        result = sandbox.run(argv, ws, limits=SandboxLimits(), env=EXTRA_ENV)
        if result.exit_code != 0:
            raise SystemExit(f"{mode} check failed: {result.output_tail[-500:]}")

    return run


def _children_cpu_ms() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (usage.ru_utime + usage.ru_stime) * 1000.0


def _time_ms(run: Runner, argv: list[str], ws: Path) -> tuple[float, float]:
    """Wall ms and CPU ms (every waited-for descendant) of one check."""
    c0, t0 = _children_cpu_ms(), time.perf_counter()
    run(argv, ws)
    return (time.perf_counter() - t0) * 1000.0, _children_cpu_ms() - c0


def _throughput(run: Runner, argv: list[str], dirs: list[Path], concurrency: int,
                batch: int) -> float:
    slots = iter(range(batch))

    def worker(ws: Path) -> None:
        for _ in slots:
            run(argv, ws)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(worker, dirs[:concurrency]))
    return batch / (time.perf_counter() - t0)


def _p90(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.9 * len(values)) - 1)]


def main() -> None:
    """Run the comparison and print it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batch", type=int, default=8, help="checks per throughput run")
    args = parser.parse_args()
    variants: dict[str, Runner] = {"plain": _plain, "process": _sandboxed("process")}
    reason = bwrap_unavailable_reason()
    if reason is None:
        variants["bwrap"] = _sandboxed("bwrap")
    else:
        print(f"bwrap: n/a ({reason})")
    print(f"uptime: {os.popen('uptime').read().strip()}   cpus: {os.cpu_count()}")
    root = Path(tempfile.mkdtemp(prefix="af-valbench-"))
    try:
        dirs = [_workspace(root, f"ws{i}") for i in range(4)]
        for check, argv in CHECKS.items():
            _report(check, argv, variants, dirs, args.rounds, args.batch)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _report(check: str, argv: list[str], variants: dict[str, Runner], dirs: list[Path],
            rounds: int, batch: int) -> None:
    names = list(variants)
    for name in names:  # warm caches (page cache, bwrap probe) outside the measurement
        variants[name](argv, dirs[0])
    times: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            wall_ms, cpu_ms = _time_ms(variants[name], argv, dirs[0])
            times[name].append(wall_ms)
            cpu[name].append(cpu_ms)
    base = statistics.median(times["plain"])
    print(f"\ncheck: {check} ({' '.join(argv)}), {rounds} interleaved rounds")
    print(f"{'variant':<8} {'median ms':>10} {'p90 ms':>8} {'overhead ms':>12} {'ratio':>6}"
          f" {'cpu ms':>7} {'cpu overhead':>13} {'checks/s c=1':>13} {'checks/s c=4':>13}")
    for name in names:
        paired = [t - p for t, p in zip(times[name], times["plain"], strict=True)]
        cpu_paired = [t - p for t, p in zip(cpu[name], cpu["plain"], strict=True)]
        c1 = _throughput(variants[name], argv, dirs, 1, batch)
        c4 = _throughput(variants[name], argv, dirs, 4, batch)
        med = statistics.median(times[name])
        cpu_cols = (f"{'n/a':>7} {'n/a':>13}" if name == "bwrap" else
                    f"{statistics.median(cpu[name]):>7.1f} "
                    f"{statistics.median(cpu_paired):>+13.1f}")
        print(f"{name:<8} {med:>10.1f} {_p90(times[name]):>8.1f} "
              f"{statistics.median(paired):>+12.1f} {med / base:>6.2f} {cpu_cols} "
              f"{c1:>13.2f} {c4:>13.2f}")
    if "bwrap" in times:
        print("bwrap cpu: n/a (bwrap's monitor exits without reaping the namespace's init, so "
              "the check's CPU time is never accounted to this process)")
        paired = [t - p for t, p in zip(times["bwrap"], times["plain"], strict=True)]
        verdict = "met" if statistics.median(paired) <= 50 else "NOT met"
        print(f"goal bwrap <= 50 ms per check: {verdict} ({statistics.median(paired):+.1f} ms)")


if __name__ == "__main__":
    main()
