"""The whole ``aetherflow run`` path against a minimal client, side by side, by plan size.

What it measures: ``python -m aetherflow run PLAN --provider openai --emulator URL
--concurrency C --quiet --max-attempts 1 -o DIR`` as a child process — plan loading, the
executor and scheduler, the transport, the run records and the run directory, start-up and
imports included — against ``benchmarks/minimal_client.py`` (one aiohttp session, C workers,
read each SSE stream to ``[DONE]``), also a child process, sending the same number of requests
to the same endpoint at the same concurrency. Both talk to one zero-latency provider emulator
(``python -m aetherflow.emulator`` in its own process, 30 streamed tokens per reply by default).

For each child: wall time (start to exit), CPU time (user + sys, from ``os.wait4``) and peak
RSS (``ru_maxrss``). Printed per plan size: req/s, CPU ms per request (whole process, net
of a 1-request run's CPU, i.e. of start-up and imports, and for AetherFlow the CPU its run
recorded itself, run.json ``sessions[].cpu_ms``), the kernel's part, peak MB of both sides,
the ratio AetherFlow/minimal of req/s, the emulator's CPU per request, then how AetherFlow's
in-run CPU per request grows from the smallest plan to the largest (goal <= 1.2) and PASS/FAIL
of the other goals (2,000 steps at >= 0.5x the minimal req/s; 10,000 steps under 500 MB).
Plans are generated at run time: ``--shape independent`` (default; no dependencies),
``chain`` (each step needs the previous one) or ``fanin`` (groups of ``--fan-width`` steps,
each group joined by one step that needs all of them). A run that exceeds ``--timeout`` is
killed and reported as "> S s, not finished" with the requests the emulator had served.
Rounds are interleaved (minimal/AetherFlow order alternates) and each figure is the median.
The script always exits 0: the goals are informational.

    PYTHONPATH=src .venv/bin/python benchmarks/run_path_overhead.py \
        [--sizes 100,1000,2000,10000] [--rounds 1] [--timeout 600] [--concurrency 32] \
        [--tokens 30] [--shape independent|chain|fanin] [--json OUT] [--work-dir DIR]

See also ``harness_overhead.py``: one attempt's client overhead only (no executor, no records).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aetherflow
from aetherflow.emulator import run_emulator_in_subprocess

__all__ = [
    "ChildResult",
    "SideResult",
    "file_create_us",
    "main",
    "measure_child",
    "write_plan",
    "zero_latency_profile",
]

HERE = Path(__file__).resolve().parent
MINIMAL_CLIENT = HERE / "minimal_client.py"
SRC_DIR = Path(aetherflow.__file__).resolve().parents[1]
GOAL_RATIO_SIZE, GOAL_RATIO = 2000, 0.5
GOAL_MEMORY_SIZE, GOAL_MEMORY_MB = 10_000, 500.0
GOAL_CPU_GROWTH = 1.2
GROWTH_KEY = "run_cpu_ms_per_req"
NO_FIGURE = f"{'-':>11}"  # a column a side does not have
#: What the file-creation probe printed at the start means.
FILE_CREATE_NOTE = (
    "on this VM's ext4 about 30 us normally, 0.4-1 ms in a folder near thousands of files "
    "deleted in the last minutes, e.g. /tmp after a test run")
#: Why no round deletes its files before the next one runs.
KEEP_FILES_NOTE = (
    "work directories are deleted when the benchmark ends, not between runs: for some "
    "seconds after a directory tree is deleted, ext4 allocates inodes near the freed ones "
    "slowly (perf: recently_deleted() in find_inode_bit(), ~0.5 ms per file created instead "
    "of ~0.03 ms), so deleting one run's thousands of files would make the next run pay for "
    "the benchmark's own clean-up")


# --------------------------------------------------------------------------- inputs
def zero_latency_profile(path: Path, tokens: int) -> Path:
    """Write an emulator profile with no latency, no cache, ``tokens`` tokens per reply."""
    path.write_text(json.dumps({
        "seed": 1,
        "require_auth": False,
        "default": {
            "latency": {"ttft_base_ms": 0, "decode_ms_per_output_token": 0},
            "cache": {"enabled": False},
            "default_output_tokens": tokens,
        },
    }))
    return path


def _dependencies(i: int, shape: str, fan_width: int) -> list[str]:
    if shape == "chain":
        return [f"s{i - 1:05d}"] if i else []
    if shape == "fanin" and i % (fan_width + 1) == fan_width:
        return [f"s{j:05d}" for j in range(i - fan_width, i)]
    return []


def write_plan(path: Path, steps: int, shape: str = "independent", fan_width: int = 32) -> Path:
    """Write a plan of ``steps`` tiny code-generation steps without criteria.

    ``shape``: ``independent`` (no dependencies), ``chain`` (each step needs the previous)
    or ``fanin`` (every ``fan_width`` steps are followed by one step that needs all of them).
    """
    plan = {
        "task_id": f"run_path_overhead_{shape}_{steps}",
        "description": "Generated by benchmarks/run_path_overhead.py",
        "steps": [
            {
                "id": f"s{i:05d}",
                "description": f"Write function f{i}.",
                "type": "code_generation",
                "dependencies": _dependencies(i, shape, fan_width),
                "validation_criteria": [],
            }
            for i in range(steps)
        ],
    }
    path.write_text(json.dumps(plan))
    return path


def file_create_us(folder: Path, files: int = 2000) -> float:
    """Microseconds per small file created in a new ``folder`` (the machine's state: the
    same filesystem can take 30 us or 1 ms per file depending on recent deletions). As many
    files as a 2,000-step run writes: after 20,000 files were deleted nearby, the first 200
    still took 32 us each and 2,000 took 513 us each (the slow inodes come later)."""
    folder.mkdir(parents=True)
    t0 = time.perf_counter()
    for i in range(files):
        (folder / f"f{i:04d}.md").write_text("x" * 64)
    return (time.perf_counter() - t0) * 1e6 / files


# --------------------------------------------------------------------------- measuring a child
@dataclass(frozen=True)
class ChildResult:
    """One child process, measured from outside: wall, CPU (user+sys), peak RSS."""

    finished: bool
    returncode: int | None
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    sys_s: float
    stdout: str
    stderr: str


def measure_child(cmd: list[str], env: dict[str, str], timeout_s: float,
                  workdir: Path) -> ChildResult:
    """Run ``cmd``; kill its process group after ``timeout_s``; return its resource usage.

    CPU comes from ``os.wait4`` (the child's own usage plus that of the children it waited
    for). Peak RSS is the child's ``VmHWM`` read from ``/proc`` while it runs (a high-water
    mark, so the last reading is the peak up to then): ``ru_maxrss`` would report the
    forking parent's size, which the child inherits until it execs. Output goes to files so
    a chatty child cannot block on a full pipe.
    """
    out_path, err_path = workdir / "child.out", workdir / "child.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, start_new_session=True)
        expired = threading.Event()

        def kill() -> None:
            expired.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout_s, kill)
        timer.start()
        peak = {"kb": 0}
        watching = threading.Event()

        def watch() -> None:
            status_file = Path(f"/proc/{proc.pid}/status")
            while not watching.is_set():
                with contextlib.suppress(OSError, ValueError):
                    for line in status_file.read_text().splitlines():
                        if line.startswith("VmHWM:"):  # monotonic after exec: keep the
                            peak["kb"] = int(line.split()[1])  # last, not the forked copy's
                watching.wait(0.02)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
            watching.set()
            watcher.join()
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    finished = not expired.is_set()
    return ChildResult(
        finished=finished,
        returncode=proc.returncode if finished else None,
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        sys_s=usage.ru_stime,
        peak_rss_mb=(peak["kb"] or usage.ru_maxrss) / 1024.0,  # kilobytes on Linux
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
    )


def _proc_cpu_s(pid: int) -> float | None:
    """CPU seconds (user+sys) a running process has used so far, from /proc (Linux only)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _emulator_call(url: str, method: str = "GET") -> Any:
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


# --------------------------------------------------------------------------- one side
@dataclass
class SideResult:
    """One side (``aetherflow`` or ``minimal``) of one round at one plan size."""

    side: str
    requests: int
    finished: bool
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    served: int | None
    emulator_cpu_s: float | None
    returncode: int | None
    problem: str | None = None
    step_statuses: dict[str, int] = field(default_factory=dict)
    sys_s: float = 0.0
    #: AetherFlow only: the CPU its run recorded (run.json ``sessions[].cpu_ms``), i.e. the
    #: process's CPU from the executor's start to its end, start-up and imports excluded.
    run_cpu_s: float | None = None

    @property
    def req_per_s(self) -> float | None:
        """Requests per second of wall time (None when the run did not finish)."""
        return self.requests / self.wall_s if self.finished else None

    @property
    def cpu_ms_per_req(self) -> float | None:
        """Client CPU milliseconds per request (None when the run did not finish)."""
        return self.cpu_s * 1000.0 / self.requests if self.finished else None

    @property
    def emulator_cpu_ms_per_req(self) -> float | None:
        """Emulator CPU milliseconds per request served (None when not measurable)."""
        if self.emulator_cpu_s is None or not self.served:
            return None
        return self.emulator_cpu_s * 1000.0 / self.served


@dataclass(frozen=True)
class Bench:
    """Everything a round needs: the emulator, the environment and the options."""

    emu_url: str
    emu_pid: int
    env: dict[str, str]
    concurrency: int
    timeout_s: float
    shape: str
    fan_width: int
    tmp: Path


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC_DIR), env.get("PYTHONPATH")]))
    for var in ("OPENAI_API_KEY", "AETHERFLOW_CONFIG"):
        env.pop(var, None)
    return env


def _statuses(run_json: Path) -> tuple[dict[str, int], float | None, str | None]:
    """Step statuses, the run's own CPU seconds (``sessions[].cpu_ms``), a problem."""
    try:
        data = json.loads(run_json.read_text())
        counts: dict[str, int] = {}
        for step in data["steps"]:
            counts[str(step["status"])] = counts.get(str(step["status"]), 0) + 1
        cpu = [s.get("cpu_ms") for s in data.get("sessions", [])]
        run_cpu = sum(cpu) / 1000.0 if cpu and None not in cpu else None
        return counts, run_cpu, None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return {}, None, f"run.json not readable ({type(exc).__name__})"


def _run_side(bench: Bench, side: str, steps: int) -> SideResult:
    """Reset the emulator, run one side as a child process, collect its figures."""
    _emulator_call(bench.emu_url + "/_emulator/reset", "POST")
    work = Path(tempfile.mkdtemp(prefix=f"{side}-{steps}-", dir=bench.tmp))
    env = dict(bench.env)
    if side == "aetherflow":
        plan = write_plan(work / "plan.json", steps, bench.shape, bench.fan_width)
        env["AETHERFLOW_HOME"] = str(work / "home")
        cmd = [sys.executable, "-m", "aetherflow", "run", str(plan), "--provider", "openai",
               "--emulator", bench.emu_url, "--concurrency", str(bench.concurrency),
               "--quiet", "--max-attempts", "1", "-o", str(work / "run")]
    else:
        cmd = [sys.executable, str(MINIMAL_CLIENT), bench.emu_url + "/openai/v1",
               "--requests", str(steps), "--concurrency", str(bench.concurrency)]
    emu_cpu0 = _proc_cpu_s(bench.emu_pid)
    child = measure_child(cmd, env, bench.timeout_s, work)
    emu_cpu1 = _proc_cpu_s(bench.emu_pid)
    served = len(_emulator_call(bench.emu_url + "/_emulator/requests")["requests"])
    result = SideResult(
        side=side, requests=steps, finished=child.finished, wall_s=child.wall_s,
        cpu_s=child.cpu_s, peak_rss_mb=child.peak_rss_mb, served=served,
        emulator_cpu_s=(emu_cpu1 - emu_cpu0
                        if emu_cpu0 is not None and emu_cpu1 is not None else None),
        returncode=child.returncode, sys_s=child.sys_s,
    )
    _check(result, child, work)
    # The work directory stays until the whole benchmark ends (see KEEP_FILES_NOTE).
    return result


def _check(result: SideResult, child: ChildResult, work: Path) -> None:
    """Note anything that makes the figures doubtful (errors, missing steps)."""
    if not child.finished:
        result.problem = f"killed after {child.wall_s:.0f} s"
        return
    if result.side == "aetherflow":
        result.step_statuses, result.run_cpu_s, problem = _statuses(work / "run" / "run.json")
        recorded = sum(result.step_statuses.values())
        bad = {k: v for k, v in result.step_statuses.items() if k in ("failed", "skipped")}
        if problem or recorded != result.requests:
            result.problem = problem or f"run.json has {recorded} of {result.requests} steps"
        elif bad:
            result.problem = "steps " + ", ".join(f"{k}: {v}" for k, v in sorted(bad.items()))
    else:
        try:
            outcome = json.loads(child.stdout.strip().splitlines()[-1])
            if outcome["errors"]:
                result.problem = f"{outcome['errors']} errors, first: {outcome['first_error']}"
        except (ValueError, IndexError, KeyError):
            result.problem = "no outcome line"
    if result.problem is None and child.returncode not in (0, 1):
        result.problem = f"exit code {child.returncode}: {child.stderr.strip()[-200:]}"
    if result.problem is None and result.served != result.requests:
        result.problem = f"emulator served {result.served} requests, expected {result.requests}"


# --------------------------------------------------------------------------- summary
@dataclass
class SizeSummary:
    """Median figures of both sides at one plan size."""

    steps: int
    minimal: list[SideResult]
    aetherflow: list[SideResult]
    startup_cpu_s: dict[str, float]
    skipped_rounds: int = 0

    @staticmethod
    def _median(values: list[float | None]) -> float | None:
        got = [v for v in values if v is not None]
        return statistics.median(got) if got and len(got) == len(values) else None

    def figures(self, side: str) -> dict[str, Any]:
        """Median req/s, CPU ms/req (whole process, and net of the start-up run's CPU), peak MB,
        wall s, emulator CPU ms/req of ``side``."""
        runs = self.minimal if side == "minimal" else self.aetherflow
        base = self.startup_cpu_s[side]
        net = [(r.cpu_s - base) * 1000.0 / r.requests if r.finished else None for r in runs]
        return {
            "finished": all(r.finished for r in runs),
            "req_per_s": self._median([r.req_per_s for r in runs]),
            "cpu_ms_per_req": self._median([r.cpu_ms_per_req for r in runs]),
            "net_cpu_ms_per_req": self._median(net),
            "run_cpu_ms_per_req": self._median([
                r.run_cpu_s * 1000.0 / r.requests if r.finished and r.run_cpu_s is not None
                else None for r in runs]),
            "sys_ms_per_req": self._median([r.sys_s * 1000.0 / r.requests if r.finished
                                            else None for r in runs]),
            "peak_rss_mb": max(r.peak_rss_mb for r in runs),
            "wall_s": statistics.median(r.wall_s for r in runs),
            "emulator_cpu_ms_per_req": self._median([r.emulator_cpu_ms_per_req for r in runs]),
            "served": min((r.served or 0) for r in runs),
            "problems": sorted({r.problem for r in runs if r.problem}),
        }

    def ratio(self) -> float | None:
        """AetherFlow req/s over the minimal client's (None when either did not finish)."""
        a, m = self.figures("aetherflow")["req_per_s"], self.figures("minimal")["req_per_s"]
        return a / m if a is not None and m else None


def _fmt(value: float | None, spec: str, missing: str = "n/a") -> str:
    return missing if value is None else format(value, spec)


def _row(steps: int, side: str, fig: dict[str, Any], timeout_s: float) -> str:
    if not fig["finished"]:
        rate = f"> {timeout_s:.0f} s, not finished ({fig['served']:,} of {steps:,} served)"
        return f"{steps:>7,}  {side:<11} {rate}  peak {fig['peak_rss_mb']:.0f} MB so far"
    return (f"{steps:>7,}  {side:<11}{fig['wall_s']:>9.2f}{_fmt(fig['req_per_s'], '>9.1f')}"
            f"{_fmt(fig['cpu_ms_per_req'], '>12.2f')}{_fmt(fig['net_cpu_ms_per_req'], '>13.2f')}"
            f"{_fmt(fig['run_cpu_ms_per_req'], '>11.2f', NO_FIGURE)}"
            f"{_fmt(fig['sys_ms_per_req'], '>12.2f')}{fig['peak_rss_mb']:>9.1f}"
            f"{_fmt(fig['emulator_cpu_ms_per_req'], '>15.2f')}")


HEADER = (f"{'steps':>7}  {'side':<11}{'wall s':>9}{'req/s':>9}{'CPU ms/req':>12}"
          f"{'net ms/req':>13}{'run ms/req':>11}{'sys ms/req':>12}{'peak MB':>9}"
          f"{'emu CPU ms/req':>15}")


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _goal(name: str, verdict: str, detail: str) -> dict[str, str]:
    print(f"  {verdict:<4} {name}: {detail}")
    return {"goal": name, "verdict": verdict, "detail": detail}


def _goals(summaries: dict[int, SizeSummary], timeout_s: float) -> list[dict[str, Any]]:
    print("goals (informational):")
    out: list[dict[str, Any]] = [_growth(summaries)]
    name = f"{GOAL_RATIO_SIZE:,}-step plan at >= {GOAL_RATIO}x the minimal client's req/s"
    s = summaries.get(GOAL_RATIO_SIZE)
    if s is None:
        out.append(_goal(name, "n/a", f"{GOAL_RATIO_SIZE} not in --sizes"))
    elif (ratio := s.ratio()) is None:
        out.append(_goal(name, "FAIL", f"not finished within {timeout_s:.0f} s"))
    else:
        out.append(_goal(name, "PASS" if ratio >= GOAL_RATIO else "FAIL", f"{ratio:.2f}x"))
    name = f"{GOAL_MEMORY_SIZE:,}-step plan completes with peak memory < {GOAL_MEMORY_MB:.0f} MB"
    s = summaries.get(GOAL_MEMORY_SIZE)
    if s is None:
        out.append(_goal(name, "n/a", f"{GOAL_MEMORY_SIZE} not in --sizes"))
    else:
        fig = s.figures("aetherflow")
        ok = fig["finished"] and fig["peak_rss_mb"] < GOAL_MEMORY_MB
        state = "finished" if fig["finished"] else f"not finished within {timeout_s:.0f} s"
        out.append(_goal(name, "PASS" if ok else "FAIL",
                         f"{state}, peak {fig['peak_rss_mb']:.0f} MB"))
    return out


def _growth(summaries: dict[int, SizeSummary]) -> dict[str, Any]:
    """AetherFlow's in-run CPU per request (run.json ``sessions[].cpu_ms``: no start-up, so
    no start-up noise at small sizes) at the largest size over that at the smallest."""
    small, large = min(summaries), max(summaries)
    name = (f"in-run CPU ms/request at {large:,} steps / at {small:,} steps "
            f"<= {GOAL_CPU_GROWTH}")
    a = summaries[small].figures("aetherflow")[GROWTH_KEY]
    b = summaries[large].figures("aetherflow")[GROWTH_KEY]
    if small == large:
        verdict, detail, growth = "n/a", "needs two sizes", None
    elif a is None or b is None:
        verdict, detail, growth = "FAIL", f"{large:,} steps did not finish", None
        done = [n for n, s in summaries.items()
                if n > small and s.figures("aetherflow")[GROWTH_KEY] is not None]
        if a and done:
            c = summaries[max(done)].figures("aetherflow")[GROWTH_KEY]
            detail += (f"; largest finished, {max(done):,} steps: {c:.2f} / {a:.2f} = "
                       f"{c / a:.2f}")
    elif a <= 0:
        verdict, detail, growth = "n/a", f"in-run CPU at {small:,} steps is not above 0", None
    else:
        growth = b / a
        verdict = "PASS" if growth <= GOAL_CPU_GROWTH else "FAIL"
        detail = f"{b:.2f} / {a:.2f} = {growth:.2f}"
    return {"growth": growth, **_goal(name, verdict, detail)}


# --------------------------------------------------------------------------- driver
STARTUP_SAMPLES = 5


def _startup(bench: Bench, samples: int = STARTUP_SAMPLES) -> dict[str, dict[str, float]]:
    """One request each, ``samples`` times interleaved, medians: mostly interpreter start-up
    and imports.

    Its CPU is subtracted for the "net ms/req" column: start-up would otherwise make the
    small plans look dearer per request than they are. At 100 steps start-up is most of the
    CPU, so one sample's noise (tens of ms) swings the net figure by tenths of a millisecond
    per request: hence the median of several, and the growth goal uses the CPU the run
    recorded itself ("run ms/req"), which has no start-up in it.
    """
    runs: dict[str, list[SideResult]] = {"minimal": [], "aetherflow": []}
    for i in range(samples):
        for side in ("minimal", "aetherflow") if i % 2 == 0 else ("aetherflow", "minimal"):
            runs[side].append(_run_side(bench, side, 1))
    out = {side: {"wall_s": statistics.median(r.wall_s for r in rs),
                  "cpu_ms": statistics.median(r.cpu_s for r in rs) * 1000,
                  "cpu_ms_min": min(r.cpu_s for r in rs) * 1000,
                  "cpu_ms_max": max(r.cpu_s for r in rs) * 1000,
                  "peak_rss_mb": max(r.peak_rss_mb for r in rs)}
           for side, rs in runs.items()}
    print(f"start-up (a 1-request run, median of {samples}; included in every figure below): "
          + "; ".join(f"{s} {v['wall_s']:.2f} s wall, {v['cpu_ms']:.0f} ms CPU "
                      f"({v['cpu_ms_min']:.0f}-{v['cpu_ms_max']:.0f}), "
                      f"{v['peak_rss_mb']:.0f} MB" for s, v in out.items()))
    return out


def _rounds(bench: Bench, sizes: list[int], rounds: int,
            startup: dict[str, dict[str, float]]) -> dict[int, SizeSummary]:
    base = {side: v["cpu_ms"] / 1000.0 for side, v in startup.items()}
    summaries = {n: SizeSummary(n, [], [], base) for n in sizes}
    for r in range(rounds):
        for n in sizes:
            s = summaries[n]
            if s.aetherflow and not all(x.finished for x in s.aetherflow):
                s.skipped_rounds += 1  # it timed out already: it would again
                continue
            order = ("minimal", "aetherflow") if r % 2 == 0 else ("aetherflow", "minimal")
            for side in order:
                result = _run_side(bench, side, n)
                (s.minimal if side == "minimal" else s.aetherflow).append(result)
                note = f"  [{result.problem}]" if result.problem else ""
                print(f"  round {r + 1}/{rounds}: {n:,} steps, {side}: "
                      f"{result.wall_s:.2f} s{note}", flush=True)
    return summaries


def _report(summaries: dict[int, SizeSummary], timeout_s: float) -> list[dict[str, Any]]:
    print("CPU ms/req = the child's user+sys CPU / requests; net ms/req = the same less the "
          "1-request run's CPU (start-up); run ms/req = the CPU AetherFlow's run recorded "
          "itself (run.json sessions[].cpu_ms: executor start to end, no start-up); "
          "sys ms/req = the kernel's part of CPU ms/req (file creation shows here); "
          "peak MB = the child's max RSS")
    print(f"note: {KEEP_FILES_NOTE}")
    print(HEADER)
    rows = []
    for n, s in summaries.items():
        for side in ("minimal", "aetherflow"):
            print(_row(n, side, s.figures(side), timeout_s))
        ratio = s.ratio()
        print(f"{'':>9}ratio aetherflow/minimal req/s: {_fmt(ratio, '.2f', 'n/a')}"
              f"{'x' if ratio is not None else ' (not finished)'}")
        for side in ("minimal", "aetherflow"):
            for problem in s.figures(side)["problems"]:
                print(f"{'':>9}{side}: {problem}")
        if s.skipped_rounds:
            print(f"{'':>9}aetherflow: {s.skipped_rounds} later round(s) skipped after a timeout")
        rows.append({"steps": n, "minimal": s.figures("minimal"),
                     "aetherflow": s.figures("aetherflow"), "ratio_req_s": ratio,
                     "rounds": [asdict(r) for r in s.minimal + s.aetherflow]})
    return rows


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,2000,10000",
                        help="plan sizes in steps, comma-separated")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds (median)")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds per child run; a longer run is killed, reported unfinished")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=30, help="streamed tokens per reply")
    parser.add_argument("--shape", choices=("independent", "chain", "fanin"),
                        default="independent")
    parser.add_argument("--fan-width", type=int, default=32, help="group size of --shape fanin")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--work-dir", type=Path, default=Path("."),
                        help="where the runs are written, in a temporary folder removed at "
                             "the end (default: the current directory, as `aetherflow run` "
                             "writes ./runs)")
    args = parser.parse_args(argv)
    args.size_list = sorted({int(x) for x in args.sizes.split(",") if x.strip()})
    if not args.size_list or min(args.size_list) < 1 or args.rounds < 1:
        parser.error("--sizes needs positive integers and --rounds at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run every size, print the table, the goals; write ``--json``; return 0."""
    args = _parse_args(argv)
    start_uptime = _uptime()
    print(f"command: {shlex.join([sys.executable, *sys.argv])}")
    print(f"uptime at start: {start_uptime}")
    print(f"concurrency {args.concurrency}, {args.tokens} streamed tokens per reply, shape "
          f"{args.shape}, rounds {args.rounds}, timeout {args.timeout:.0f} s, zero-latency "
          f"emulator in its own process; every figure is a whole child process")
    with tempfile.TemporaryDirectory(prefix=".run-path-overhead-", dir=args.work_dir) as name:
        tmp = Path(name)
        create_us = file_create_us(tmp / "probe")
        print(f"file creation in {args.work_dir.resolve()}: {create_us:.0f} us per file "
              f"(AetherFlow writes one file per step; {FILE_CREATE_NOTE})")
        profile = zero_latency_profile(tmp / "zero.json", args.tokens)
        with run_emulator_in_subprocess(profile) as emu:
            bench = Bench(emu.url, emu.pid, _child_env(), args.concurrency, args.timeout,
                          args.shape, args.fan_width, tmp)
            startup = _startup(bench)
            summaries = _rounds(bench, args.size_list, args.rounds, startup)
    rows = _report(summaries, args.timeout)
    goals = _goals(summaries, args.timeout)
    end_uptime = _uptime()
    print(f"uptime at end: {end_uptime}")
    if args.json is not None:
        args.json.write_text(json.dumps({
            "command": shlex.join([sys.executable, *sys.argv]),
            "uptime_start": start_uptime, "uptime_end": end_uptime,
            "concurrency": args.concurrency, "tokens": args.tokens, "shape": args.shape,
            "rounds": args.rounds, "timeout_s": args.timeout, "startup": startup,
            "work_dir": str(args.work_dir.resolve()), "file_create_us": create_us,
            "sizes": rows, "cpu_growth": goals[0]["growth"], "goals": goals,
        }, indent=2))
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
