"""``aetherflow run`` as a user runs it: a subprocess, real embedded model, real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.local_model


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aetherflow", *args], capture_output=True,
                          text=True, timeout=600, env=env)


def test_run_calculator_example_on_local_model(tmp_path: Path, examples_dir: Path) -> None:
    out = tmp_path / "run"
    proc = _cli("run", str(examples_dir / "calculator.json"), "--output", str(out),
                "--max-tokens", "64")
    assert proc.returncode in (0, 1), proc.stderr
    record = json.loads((out / "run.json").read_text())
    assert record["schema_version"] == "2" and record["config"]["provider"] == "local"
    assert record["status"] in ("passed", "failed", "unvalidated")
    module = record["steps"][0]
    assert module["status"] in ("passed", "failed")  # calculator's checks were executed
    assert {v["method"] for v in module["validation"]} == {"executed"}
    assert record["steps"], "no step recorded"
    for step in record["steps"]:
        if not step["attempts"]:
            assert step["status"] == "skipped"  # its dependency failed its checks
            continue
        assert step["provider"] == "local"
        assert step["ttft_ms"] > 0 and step["ttr_ms"] >= step["ttft_ms"]
        attempt = step["attempts"][-1]
        assert attempt["usage"]["output"]["provenance"] == "tokenizer"
        assert attempt["cost"]["total_usd"] == 0.0 and attempt["cost"]["price_source"]
        assert (out / step["output_file"]).is_file()
    assert record["makespan_ms"] >= record["critical_path_ms"] > 0
    assert "run directory:" in proc.stderr


def test_run_json_flag_prints_the_record(tmp_path: Path, examples_dir: Path) -> None:
    proc = _cli("run", str(examples_dir / "calculator.json"), "--output", str(tmp_path / "r"),
                "--max-tokens", "16", "--json")
    assert proc.returncode in (0, 1), proc.stderr
    assert json.loads(proc.stdout)["task_id"] == "calculator"


@pytest.mark.parametrize(("args", "needle"), [
    (["--provider", "nope"], "unknown provider 'nope'"),
    (["--provider", "deepseek"], "DEEPSEEK_API_KEY"),
    (["--concurrency", "0"], "--concurrency"),
])
def test_bad_configuration_is_one_line_exit_2(tmp_path: Path, examples_dir: Path,
                                              args: list[str], needle: str) -> None:
    out = tmp_path / "run"
    proc = _cli("run", str(examples_dir / "calculator.json"), "--output", str(out), *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0]
    assert "Traceback" not in proc.stderr
    assert not (out / "run.json").exists()  # nothing was spent


def test_bad_plan_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"task_id": "x", "steps": [{"id": "a"}]}')
    proc = _cli("run", str(bad))
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"error: {bad}: $.steps[0] (a).description: required field "
                                   "is missing")
