"""``bench prompt-cache`` and ``bench slm-local`` as a user runs them (subprocesses).

The embedded model is real (its own server per repeat, so its log is read); the cloud side
is the provider emulator with a fast profile, so the whole module takes well under a minute.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.local_model

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


def test_prompt_cache_local_reuse_is_read_from_llama_cpp(prompt_cache_dir: Path) -> None:
    defeated, used = _cached(prompt_cache_dir / "local" / "A"), _cached(
        prompt_cache_dir / "local" / "B")
    assert used[0] == 0  # fresh server per repeat: the first step evaluates everything
    assert used[1] is not None and used[1] > 300  # the shared file is reused
    assert all(v is not None and v < 16 for v in defeated)  # only template tokens match
    a_runs = json.loads((prompt_cache_dir / "local" / "A" / "benchmark_data.json").read_text())
    assert a_runs["runs"][0]["record"]["config"]["prompt_cache"] == "off"


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


def test_prompt_cache_report_files(prompt_cache_dir: Path) -> None:
    md = (prompt_cache_dir / "prompt_cache_report.md").read_text()
    assert "emulated:openai" in md and "cached_input_share" in md and "| local |" in md
    data = json.loads((prompt_cache_dir / "prompt_cache_data.json").read_text())
    assert {p["title"] for p in data["pairs"]} == {"local", "emulated:openai",
                                                   "emulated:anthropic"}
    for sub in ("local", "emulated-openai"):
        for name in ("comparison_report.md", "comparison_report.html", "comparison_data.json",
                     "A/benchmark_report.html", "B/benchmark_report.md"):
            assert (prompt_cache_dir / sub / name).is_file(), f"{sub}/{name}"
    assert (prompt_cache_dir / "emulator_profile.json").is_file()


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


def test_slm_local_real_without_key_is_exit_2(tmp_path: Path) -> None:
    proc = _cli("bench", "slm-local", str(_plan(tmp_path)), "--real", "--remote", "openai",
                "-o", str(tmp_path / "out"), "-q", home=tmp_path / "home")
    assert proc.returncode == 2
    assert "OPENAI_API_KEY" in proc.stderr and "Traceback" not in proc.stderr
