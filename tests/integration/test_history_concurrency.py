"""Several AetherFlow processes writing one history at once lose nothing.

Three OS processes each create benches and save several hundred runs into the same
``history.db`` at the same time. Their runs are named like legacy bench runs ("1", "2",
"3", colliding across processes and benches) and each run is saved twice (when it starts
and when it ends), as the executor does. Afterwards every run is listed exactly once, with
its final status, in its own bench, and no process saw an error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import aetherflow
from aetherflow.store import HistoryStore

WORKERS = 3
BENCHES = 20  # per worker
REPEATS = 3  # runs per bench, named "1", "2", "3"
SOLO = 60  # per worker: runs with globally unique ids, outside any bench

WORKER = r"""
import json, sys, time
from pathlib import Path
from aetherflow.results.run import Environment, RunConfig, RunRecord, StepRecord
from aetherflow.store import BusyPolicy, HistoryStore

db, worker, start_at = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
benches, repeats, solo = (int(x) for x in sys.argv[4:7])
config = RunConfig(provider="openai", concurrency=1, max_tokens=64, temperature=0.0,
                   step_timeout_s=10.0, max_attempts=1)
env = Environment(hostname="h", platform="linux", machine="x86_64", cpu_count=2,
                  python="3.11", aetherflow_version="0.1")

def record(run_id, started, status, steps):
    return RunRecord(run_id=run_id, task_id="calc", status=status, started_at=started,
                     config=config, environment=env,
                     steps=[StepRecord(step_id="s1", type="analysis", status="passed")] * steps)

while time.time() < start_at:  # every process starts writing at the same moment
    time.sleep(0.001)
saved = []
# worker 0 waits on SQLite's busy timeout as configured by default; the others give up at
# once and go through the jittered-backoff retries
policy = BusyPolicy() if worker == 0 else BusyPolicy(timeout_ms=0)
with HistoryStore(db, busy=policy) as store:
    for b in range(benches):
        out = Path(f"/w{worker}/bench{b}")
        bench = store.create_bench("calc", f"label{b % 2}", "plans/calc.json", repeats, out)
        for i in range(1, repeats + 1):
            started = f"2025-01-01T00:{b:02d}:{i:02d}.{worker:06d}+00:00"
            run_dir = out / "runs" / str(i)
            first = store.save(record(str(i), started, "running", 0), run_dir, "x", bench)
            last = store.save(record(str(i), started, "passed", 1), run_dir, "x", bench)
            assert first.id == last.id and not last.created, (first, last)
            saved.append([first.id, str(i), str(run_dir), bench])
    for n in range(solo):
        run_id = f"20250101-000000-calc-{worker:02x}{n:06x}"
        started = f"2025-01-02T00:00:{n % 60:02d}+00:00"
        row = store.save(record(run_id, started, "crashed", 0), Path(f"/w{worker}/solo/{n}"))
        saved.append([row.id, run_id, f"/w{worker}/solo/{n}", None])
    print(json.dumps({"saved": saved, "retries": store.busy.retries}))
"""


def test_concurrent_processes_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    HistoryStore(db).close()  # created and migrated once; the workers race on the writes
    src = str(Path(aetherflow.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    start_at = time.time() + 3.0  # after every interpreter has started
    procs = [subprocess.Popen(
        [sys.executable, "-c", WORKER, str(db), str(w), str(start_at), str(BENCHES),
         str(REPEATS), str(SOLO)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env) for w in range(WORKERS)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        # the only thing on stderr: the notes that colliding run ids were renamed
        assert all("nothing was overwritten" in line for line in err.splitlines()), err
        results.append(json.loads(out))
    saved = [tuple(s) for r in results for s in r["saved"]]
    total = WORKERS * (BENCHES * REPEATS + SOLO)
    assert len(saved) == total == len({s[0] for s in saved})  # every save got its own row

    with HistoryStore(db) as store:
        runs = store.list_runs(limit=None)
        benches = store.list_benches()
    assert len(runs) == total == len({r.run_id for r in runs})
    by_id = {r.id: r for r in runs}
    for row_id, source_run_id, run_dir, bench in saved:  # none overwritten by another
        run = by_id[row_id]
        assert (run.source_run_id, run.run_dir, run.bench_id) == (source_run_id, run_dir, bench)
    assert Counter(r.status for r in runs) == {"passed": WORKERS * BENCHES * REPEATS,
                                                "crashed": WORKERS * SOLO}
    assert len(benches) == WORKERS * BENCHES
    assert all(b.run_count == REPEATS for b in benches)
    retries = [r["retries"] for r in results]
    print(f"busy retries per process: {retries}")  # usually > 0 for workers 1 and 2
