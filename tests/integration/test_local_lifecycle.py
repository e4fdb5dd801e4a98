"""The embedded server is always stopped: after a run, on a start failure, and on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aetherflow.errors import ProviderUnavailableError
from aetherflow.providers.base import ProviderSettings
from aetherflow.providers.local import LocalProvider, LocalServer

pytestmark = pytest.mark.local_model


def _llama_pids() -> set[int]:
    out = subprocess.run(["pgrep", "-f", "llama_cpp.server"], capture_output=True, text=True)
    return {int(p) for p in out.stdout.split()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_provider_starts_and_stops_its_server() -> None:
    provider = LocalProvider(ProviderSettings(name="local"))
    await provider.start()
    server = provider._server
    assert server is not None and server.process is not None
    pid = server.process.pid
    assert _alive(pid)
    await provider.aclose()
    await provider.aclose()  # idempotent
    assert not _alive(pid)


async def test_start_failure_is_clear_and_leaves_nothing(tmp_path: Path) -> None:
    before = _llama_pids()
    bogus = tmp_path / "not-a-model.gguf"
    bogus.write_bytes(b"nope")
    server = LocalServer(bogus, startup_timeout_s=60)
    with pytest.raises(ProviderUnavailableError, match="exited with code"):
        await server.start()
    server.stop()
    assert _llama_pids() <= before


def test_ctrl_c_stops_server_and_keeps_results(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    steps = [{"id": f"s{i}", "description": "Write a long Python module with many functions.",
              "dependencies": [f"s{i-1}"] if i else []} for i in range(6)]
    plan.write_text(json.dumps({"task_id": "ctrlc", "steps": steps}))
    out = tmp_path / "run"
    before = _llama_pids()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from aetherflow.cli.main import main; main()", "run", str(plan),
         "--output", str(out), "--quiet", "--max-tokens", "200", "--concurrency", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if (out / "run.json").exists() and json.loads((out / "run.json").read_text())["steps"]:
            break
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("run never completed a step")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "interrupted"
    assert record["steps"] and record["steps"][0]["status"] == "succeeded"
    time.sleep(0.5)
    assert _llama_pids() <= before
