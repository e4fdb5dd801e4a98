"""``--project`` end to end with the emulator's scripted replies: a refactoring step gets the
current content of its files, a patch step lands at its marker, the checks run the
project's own tests, the project is never touched without ``--apply``, and ``--apply``
writes the changes back with a diff; bad input fails the step (or the run) in one line."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from aetherflow.emulator import EmulatorServer
from aetherflow.emulator.profile import (
    EmulatorProfile,
    LatencyModelConfig,
    ProviderProfile,
    ReplyRule,
)
from aetherflow.errors import ConfigError
from aetherflow.execution import RunOptions, run_plan_async
from aetherflow.execution.journal import step_prompts
from aetherflow.execution.project import MANIFEST_FILE, run_changes
from aetherflow.results.run import RunRecord

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "examples" / "plans" / "refactor_project.json"

REFACTORED = '''"""What an order costs."""

_RATES = {
    "regular": (1.0, 0.95),
    "member": (0.97, 0.90),
    "staff": (0.80, 0.80),
}


def order_total(items, customer_type, coupon=None):
    """The total of ``items`` (dicts with ``price`` and ``qty``) for a customer type
    (``regular``, ``member`` or ``staff``), after an optional coupon, rounded to cents."""
    total = 0
    for item in items:
        if item["qty"] <= 0:
            continue
        if customer_type not in _RATES:
            raise ValueError("unknown customer type: " + str(customer_type))
        small, bulk = _RATES[customer_type]
        rate = bulk if item["qty"] >= 10 else small
        total = total + item["price"] * item["qty"] * rate
    if coupon is not None:
        if coupon == "SAVE5":
            if total >= 50:
                total = total - 5
        elif coupon == "HALF":
            total = total / 2
        else:
            raise ValueError("unknown coupon: " + str(coupon))
    return round(total, 2)
'''

LOW_STOCK = '''    def low_stock(self, limit: int = 5) -> list[str]:
        """The sorted names of the items with fewer than ``limit`` in stock."""
        return sorted(i.name for i in self.items.values() if i.qty < limit)

'''


def _project(tmp_path: Path) -> Path:
    copy = tmp_path / "inventory"
    shutil.copytree(ROOT / "examples" / "projects" / "inventory", copy)
    return copy


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


def _run(tmp_path: Path, replies: dict[str, str], **opts: Any) -> RunRecord:
    rules = [ReplyRule(contains=f"Step `{step}`", reply=reply) for step, reply in replies.items()]
    profile = EmulatorProfile(require_auth=False, replies=rules, default=ProviderProfile(
        latency=LatencyModelConfig(ttft_base_ms=0, decode_ms_per_output_token=0)))

    async def go() -> RunRecord:
        async with EmulatorServer(profile) as emu:
            options = RunOptions(provider="openai", emulator_url=emu.url, repairs=0,
                                 max_tokens=4000, output=tmp_path / "run", **opts)
            record, _ = await run_plan_async(PLAN, options)
            return record

    return asyncio.run(go())


GOOD = {"refactor_order_total": f"```python\n# file: inventory/pricing.py\n{REFACTORED}```\n",
        "add_low_stock": f"```python\n{LOW_STOCK}```\n"}


def test_a_project_run_checks_the_changed_project_and_leaves_it_alone(tmp_path: Path) -> None:
    project = _project(tmp_path)
    before = _snapshot(project)
    seen: list[str] = []
    record = _run(tmp_path, GOOD, project=project)
    assert [s.status for s in record.steps] == ["passed", "passed"], [
        (s.step_id, s.reason, s.validation) for s in record.steps]
    assert _snapshot(project) == before  # never modified without --apply
    prompts = {k: json.dumps(v) for k, v in
               step_prompts(tmp_path / "run" / "journal.jsonl").items()}
    prompt = prompts["refactor_order_total"]
    assert "Current content of `inventory/pricing.py`" in prompt
    assert "customer_type ==" in prompt  # the file as it is, given to the model
    assert "AETHERFLOW: new methods here" in prompts["add_low_stock"]
    seen += [v.check for s in record.steps for v in s.validation if v.method == "executed"]
    assert "command" in seen
    store = (tmp_path / "run" / "workspace" / "inventory" / "store.py").read_text()
    assert store.index("def low_stock(") < store.index("# AETHERFLOW: new methods here")
    changes = run_changes(tmp_path / "run")
    assert sorted(changes.after) == ["inventory/pricing.py", "inventory/store.py"]
    assert (tmp_path / "run" / MANIFEST_FILE).is_file()


def test_apply_writes_the_changes_back_with_a_diff(tmp_path: Path) -> None:
    project = _project(tmp_path)
    record = _run(tmp_path, GOOD, project=project, apply=True)
    assert record.project_apply is not None and record.project_apply.applied
    assert record.project_apply.files == ["inventory/pricing.py", "inventory/store.py"]
    assert record.project_apply.unverified == []
    assert (project / "inventory" / "pricing.py").read_text() == REFACTORED
    diff = (tmp_path / "run" / "applied.diff").read_text()
    assert "--- a/inventory/store.py" in diff and "+    def low_stock(" in diff


def test_apply_refuses_when_a_step_failed_and_writes_nothing(tmp_path: Path) -> None:
    project = _project(tmp_path)
    before = _snapshot(project)
    wrong = REFACTORED.replace('"staff": (0.80, 0.80)', '"staff": (0.70, 0.70)')
    record = _run(tmp_path, {**GOOD, "refactor_order_total":
                             f"```python\n# file: inventory/pricing.py\n{wrong}```\n"},
                  project=project, apply=True)
    assert record.steps[0].status == "failed"  # the project's own tests caught it
    assert record.project_apply is not None and not record.project_apply.applied
    assert "nothing was written" in (record.project_apply.note or "")
    assert _snapshot(project) == before


@pytest.mark.parametrize(("reply", "reason"), [
    ("```python\n    def x(self):\n        pass\n```\n", "marker"),
    ("--- a/inventory/store.py\n+++ b/inventory/store.py\n@@ -1,1 +1,1 @@\n-nope\n+yes\n",
     "does not apply"),
])
def test_a_patch_that_cannot_be_applied_fails_the_step(tmp_path: Path, reply: str,
                                                       reason: str) -> None:
    project = _project(tmp_path)
    if reason == "marker":
        store = project / "inventory" / "store.py"
        store.write_text(store.read_text().replace("# AETHERFLOW: new methods here", ""))
    record = _run(tmp_path, {**GOOD, "add_low_stock": reply}, project=project)
    step = next(s for s in record.steps if s.step_id == "add_low_stock")
    assert step.status == "failed" and "cannot be applied" in (step.reason or "")
    assert reason in (step.reason or "")


def test_a_missing_project_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"does not exist|no such"):
        _run(tmp_path, GOOD, project=tmp_path / "nope")
    assert not (tmp_path / "run").exists()


@pytest.mark.local_model
def test_the_example_project_plan_on_the_embedded_model(tmp_path: Path) -> None:
    """The same plan on SmolLM2 (a real model): whatever it answers, each step's status
    comes from executed checks on the changed project (or an assignment that failed with
    its reason), the refactoring step saw the file, and the project is left alone."""
    project = _project(tmp_path)
    before = _snapshot(project)

    async def go() -> RunRecord:
        options = RunOptions(provider="local", max_tokens=256, repairs=0,
                             output=tmp_path / "run", project=project)
        record, _ = await run_plan_async(PLAN, options)
        return record

    record = asyncio.run(go())
    assert record.status in ("passed", "failed"), record.status
    for step in record.steps:
        executed = [v for v in step.validation if v.method == "executed"]
        assert step.status in ("passed", "failed")
        assert executed or (step.status == "failed" and step.reason), (step.step_id,
                                                                       step.reason)
        if step.status == "passed":
            assert all(v.status == "passed" for v in executed)
    prompt = json.dumps(step_prompts(tmp_path / "run" / "journal.jsonl")
                        ["refactor_order_total"])
    assert "customer_type ==" in prompt
    assert _snapshot(project) == before
