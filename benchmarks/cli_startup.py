"""How long the ``aetherflow`` command takes to start, per command (wall time of a child
process: interpreter start, imports, argument parsing, the command's own work).

Every command is run ``--runs`` times in turn (round robin, so a load spike hits them all
alike) and the median, min and max wall times are printed beside the goal, together with
the bare interpreter's start (``python -c pass``) measured the same way. With
``--baseline SRC`` the same commands also run from another source tree (e.g. an older
checkout's ``src``), interleaved with this one, and the ratio of the medians is printed.
With ``--importtime`` it also prints, per command, the modules whose imports cost the most
(cumulative milliseconds from ``python -X importtime``).

    PYTHONPATH=src .venv/bin/python benchmarks/cli_startup.py [--runs 15] [--importtime]
    git archive HEAD~1 src | tar -x -C /tmp/old && \
        .venv/bin/python benchmarks/cli_startup.py --baseline /tmp/old/src

The history and providers commands read an empty ``AETHERFLOW_HOME`` in a temporary
directory, so the user's data is neither read nor changed.

This is a benchmark, not a test: it prints numbers; it does not fail.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLAN = ROOT / "examples" / "plans" / "calculator.json"

#: (label, arguments after ``python``, goal in seconds or None).
COMMANDS: tuple[tuple[str, tuple[str, ...], float | None], ...] = (
    ("python -c pass", ("-c", "pass"), None),
    ("--help", ("-m", "aetherflow", "--help"), 0.3),
    ("plan check", ("-m", "aetherflow", "plan", "check", str(PLAN)), 0.3),
    ("run --help", ("-m", "aetherflow", "run", "--help"), 0.3),
    ("bench --help", ("-m", "aetherflow", "bench", "--help"), 0.3),
    ("providers", ("-m", "aetherflow", "providers"), 0.5),
    ("history", ("-m", "aetherflow", "history"), 0.5),
)


def _env(home: Path, src: Path) -> dict[str, str]:
    env = dict(os.environ, AETHERFLOW_HOME=str(home), COLUMNS="100")
    env["PYTHONPATH"] = str(src.resolve())
    return env


def _time_once(args: tuple[str, ...], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} exited {proc.returncode}: "
                         f"{proc.stderr.decode(errors='replace')[-500:]}")
    return elapsed


def _import_offenders(args: tuple[str, ...], env: dict[str, str], top: int) -> list[str]:
    """The ``top`` imports with the largest cumulative time (``-X importtime``), nested
    ones indented under their importer as Python prints them."""
    proc = subprocess.run([sys.executable, "-X", "importtime", *args], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          check=False)
    rows: list[tuple[int, str]] = []
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if not line.startswith("import time:") or len(parts) != 3 or "cumulative" in line:
            continue
        rows.append((int(parts[1]), parts[2].rstrip()))
    rows.sort(key=lambda row: row[0], reverse=True)
    return [f"{us / 1000:8.1f} ms {name}" for us, name in rows[:top]]


def _measure(runs: int, envs: dict[str, dict[str, str]]) -> dict[tuple[str, str], list[float]]:
    """``{(tree, command): [seconds, ...]}``, every command of every tree in turn."""
    for env in envs.values():  # warm the file cache and the .pyc files
        for _, args, _goal in COMMANDS:
            _time_once(args, env)
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(runs):
        for label, args, _goal in COMMANDS:
            for tree, env in envs.items():
                times.setdefault((tree, label), []).append(_time_once(args, env))
    return times


def _print_table(runs: int, times: dict[tuple[str, str], list[float]], baseline: bool) -> None:
    head = f"{'command':<16} {'median':>8} {'min':>8} {'max':>8} {'goal':>6}"
    print(head + (f" {'baseline':>9} {'ratio':>6}" if baseline else "")
          + f"  ({runs} runs each, seconds)")
    for label, _, goal in COMMANDS:
        t = times[("this", label)]
        median = statistics.median(t)
        verdict = "" if goal is None else ("ok" if median < goal else "over")
        line = (f"{label:<16} {median:8.3f} {min(t):8.3f} {max(t):8.3f} "
                f"{'' if goal is None else f'{goal:.1f}':>6}")
        if baseline:
            old = statistics.median(times[("baseline", label)])
            line += f" {old:9.3f} {old / median:5.1f}x"
        print(f"{line}  {verdict}".rstrip())


def main() -> None:
    """Measure every command and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per command (default 15)")
    parser.add_argument("--baseline", type=Path, help="another source tree to compare with")
    parser.add_argument("--importtime", action="store_true",
                        help="also print the slowest imports of each command")
    parser.add_argument("--top", type=int, default=12, help="imports listed per command")
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        envs = {"this": _env(Path(tmp) / "home", ROOT / "src")}
        if ns.baseline is not None:
            envs["baseline"] = _env(Path(tmp) / "home", ns.baseline)
        times = _measure(ns.runs, envs)
        _print_table(ns.runs, times, ns.baseline is not None)
        if ns.importtime:
            for label, args, _goal in COMMANDS[1:]:
                print(f"\nslowest imports (cumulative) of {label}:")
                for line in _import_offenders(args, envs["this"], ns.top):
                    print("  " + line)


if __name__ == "__main__":
    main()
