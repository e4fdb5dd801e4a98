"""The focused benchmarks as a user runs them (subprocesses).

``bench parallel`` and ``bench workflow`` run on the provider emulator in an 80-column
terminal. ``bench prompt-cache`` and ``bench slm-local`` use the real embedded model (its
own server per repeat, so its log is read; marked ``local_model``) and the emulator with a
fast profile for the cloud sides, so the whole module takes well under a minute.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aetherflow.emulator import run_emulator_in_subprocess

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plans"
CUT_NUMBER = re.compile(r"\d…|…\d")

_SHARED = "\n".join(f"def helper_{i}(value):\n    return value * {i} + {i * 3}\n"
                    for i in range(40))
_FAST_PROFILE = {
    "seed": 1,
    "default": {"latency": {"ttft_base_ms": 5, "prefill_ms_per_input_token": 0.05,
                            "decode_ms_per_output_token": 1},
                "cache": {"block_tokens": 16, "min_cached_tokens": 64,
                          "cached_prefill_fraction": 0.1},
                "default_output_tokens": 8},
}


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["AETHERFLOW_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "aetherflow", *args], capture_output=True,
                          text=True, timeout=600, env=env)


def _plan(tmp: Path) -> Path:
    (tmp / "shared.py").write_text(_SHARED)
    steps = [{"id": sid, "description": f"Which helper returns {q}?", "type": "analysis",
              "context": {"input_files": ["shared.py"]}}
             for sid, q in (("first", "value * 3 + 9"), ("second", "value * 5 + 15"))]
    plan = tmp / "plan.json"
    plan.write_text(json.dumps({"task_id": "pc", "description": "cache test", "steps": steps}))
    return plan


def _attempts(bench: Path) -> list[dict[str, Any]]:
    data = json.loads((bench / "benchmark_data.json").read_text())
    return [s["attempts"][-1] for r in data["runs"] for s in r["record"]["steps"]]


def _cached(bench: Path) -> list[int | None]:
    return [a["usage"]["cache_read"]["value"] for a in _attempts(bench)]


def _unchecked(dest: Path) -> Path:
    """parallel_diamond without its checks (the emulator's filler text would fail them)."""
    data = json.loads((EXAMPLES / "parallel_diamond.json").read_text())
    for step in data["steps"]:
        step["validation_criteria"] = []
    dest.write_text(json.dumps(data))
    return dest


def test_bench_parallel_on_the_emulator_fits_80_columns(tmp_path: Path) -> None:
    out = tmp_path / "par"
    _unchecked(tmp_path / "p.json")
    pythonpath = os.pathsep.join(str(Path(p).resolve()) for p in
                                 os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)
    with run_emulator_in_subprocess() as emu:
        proc = subprocess.run(  # in tmp_path: short relative paths, as a user types them
            [sys.executable, "-m", "aetherflow", "bench", "parallel", "p.json", "-n", "2",
             "--provider", "openai", "--emulator", emu.url, "--max-tokens", "16", "-o", "par",
             "--json"],
            capture_output=True, text=True, timeout=300, cwd=tmp_path,
            env={**os.environ, "COLUMNS": "80", "AETHERFLOW_HOME": str(tmp_path / "home"),
                 "PYTHONPATH": pythonpath})
    assert proc.returncode == 0, proc.stderr
    wide = [line for line in proc.stderr.splitlines() if len(line) > 80]
    assert not wide and not CUT_NUMBER.search(proc.stderr), wide
    assert "|" not in proc.stderr  # a table for people, not raw Markdown
    for metric in ("makespan", "parallel_efficiency", "queue_latency_mean"):
        assert re.search(rf"^{metric} +\S", proc.stderr, re.MULTILINE), metric
    summary = json.loads(proc.stdout)
    assert summary["kind"] == "parallel" and summary["report"] == "par/focused_report.md"
    rows = {r["metric"]: r for r in summary["pairs"][0]["rows"]}
    assert rows["makespan"]["estimate"]["n_a"] == 2
    for side in ("A", "B"):  # the shared options reached both sides
        data = json.loads((out / side / "benchmark_data.json").read_text())
        config = data["runs"][0]["record"]["config"]
        assert (config["max_tokens"], config["emulated"]) == (16, True)
        assert config["concurrency"] == (1 if side == "A" else 4)


@pytest.mark.parametrize(("args", "needle"), [
    (["parallel", "--concurrency", "3"], "--concurrency: bench parallel runs A at"),
    (["workflow", "--workflow", "prod"], "--workflow: bench workflow runs A with proto"),
    (["speculative", "--provider", "openai"], "--provider: bench speculative needs the local"),
    (["speculative", "--emulator", "http://127.0.0.1:1"], "--emulator: bench speculative"),
    (["slm-local", "--provider", "groq"], "--provider: bench slm-local runs the embedded"),
    (["prompt-cache", "--emulator", "http://127.0.0.1:1"], "--emulator: bench prompt-cache"),
    (["parallel", "--seed", "3"], "--seed: a bench gives every repeat its own seed"),
    (["workflow", "--max-tokens", "8", "--set", "max_tokens=4"],
     "--max-tokens and --set max_tokens=... both set max_tokens"),
])
def test_a_setting_fixed_by_design_is_refused_in_one_line(tmp_path: Path, args: list[str],
                                                          needle: str) -> None:
    kind, *rest = args
    proc = _cli("bench", kind, str(EXAMPLES / "calculator.json"), *rest, "-o",
                str(tmp_path / "out"), home=tmp_path / "home")
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [proc.stderr.strip()] and needle in proc.stderr
    assert not (tmp_path / "out").exists()  # refused before anything ran


@pytest.fixture(scope="module")
def prompt_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("pc")
    profile = tmp / "fast.json"
    profile.write_text(json.dumps(_FAST_PROFILE))
    out = tmp / "out"
    proc = _cli("bench", "prompt-cache", str(_plan(tmp)), "-n", "1", "--emulate", "openai",
                "--emulate", "anthropic", "--emulator-profile", str(profile),
                "--set", "max_tokens=4", "-o", str(out), "-q", home=tmp / "home")
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.mark.local_model
def test_prompt_cache_local_reuse_is_read_from_llama_cpp(prompt_cache_dir: Path) -> None:
    defeated, used = _cached(prompt_cache_dir / "local" / "A"), _cached(
        prompt_cache_dir / "local" / "B")
    assert used[0] == 0  # fresh server per repeat: the first step evaluates everything
    assert used[1] is not None and used[1] > 300  # the shared file is reused
    assert all(v is not None and v < 16 for v in defeated)  # only template tokens match
    a_runs = json.loads((prompt_cache_dir / "local" / "A" / "benchmark_data.json").read_text())
    assert a_runs["runs"][0]["record"]["config"]["prompt_cache"] == "off"


@pytest.mark.local_model
def test_prompt_cache_emulated_conventions(prompt_cache_dir: Path) -> None:
    for provider in ("openai", "anthropic"):
        side = prompt_cache_dir / f"emulated-{provider}"
        assert _cached(side / "A") == [0, 0]
        used = _cached(side / "B")
        assert used[0] == 0 and (used[1] or 0) > 0, provider
        cost_a = sum(a["cost"]["total_usd"] for a in _attempts(side / "A"))
        cost_b = sum(a["cost"]["total_usd"] for a in _attempts(side / "B"))
        assert 0 < cost_b < cost_a or provider == "anthropic"  # anthropic pays cache writes
        assert all(a["emulated"] for a in _attempts(side / "B"))


@pytest.mark.local_model
def test_prompt_cache_report_files(prompt_cache_dir: Path) -> None:
    md = (prompt_cache_dir / "prompt_cache_report.md").read_text()
    assert "emulated:openai" in md and "cached_input_share" in md and "| local |" in md
    data = json.loads((prompt_cache_dir / "focused_data.json").read_text())
    assert data["kind"] == "focused" and data["benchmark"] == "prompt-cache"
    assert {p["title"] for p in data["pairs"]} == {"local", "emulated:openai",
                                                   "emulated:anthropic"}
    for sub in ("local", "emulated-openai"):
        for name in ("comparison_report.md", "comparison_report.html", "comparison_data.json",
                     "A/benchmark_report.html", "B/benchmark_report.md"):
            assert (prompt_cache_dir / sub / name).is_file(), f"{sub}/{name}"
    assert (prompt_cache_dir / "emulator_profile.json").is_file()


@pytest.mark.local_model
def test_slm_local_emulates_without_a_key(tmp_path: Path) -> None:
    profile = tmp_path / "fast.json"
    profile.write_text(json.dumps(_FAST_PROFILE))
    out = tmp_path / "out"
    proc = _cli("bench", "slm-local", str(_plan(tmp_path)), "-n", "1", "--remote", "deepseek",
                "--emulator-profile", str(profile), "--set", "max_tokens=4", "-o", str(out),
                "-q", home=tmp_path / "home")
    assert proc.returncode == 0, proc.stderr
    local, remote = _attempts(out / "A"), _attempts(out / "B")
    assert {a["provider"] for a in local} == {"local"} and not any(a["emulated"] for a in local)
    assert {a["provider"] for a in remote} == {"deepseek"} and all(a["emulated"] for a in remote)
    assert all(a["cost"]["total_usd"] == 0.0 for a in local)
    assert all((a["cost"]["total_usd"] or 0) > 0 for a in remote)
    md = (out / "slm_local_report.md").read_text()
    assert "**emulated**" in md and "pass_rate" in md and "n/a as a quality measure" in md


@pytest.mark.local_model
def test_slm_local_real_without_key_is_exit_2(tmp_path: Path) -> None:
    proc = _cli("bench", "slm-local", str(_plan(tmp_path)), "--real", "--remote", "openai",
                "-o", str(tmp_path / "out"), "-q", home=tmp_path / "home")
    assert proc.returncode == 2
    assert "OPENAI_API_KEY" in proc.stderr and "Traceback" not in proc.stderr
