"""A check runs on a project view in the real sandbox and cannot change the run's base.

With bwrap started by root, a view is a hard-link farm of the read-only base: the check runs
as a throwaway uid that does not own the linked files, so writing into one fails and
replacing one makes a new inode; the base is byte-for-byte and owner-for-owner unchanged.
The ``process`` fallback runs checks as you, so it gets a real copy instead.
"""

from __future__ import annotations

import hashlib
import os
import textwrap
from pathlib import Path

import pytest

from aetherflow.execution.project import (
    LINK_MIN_FILES,
    Project,
    ProjectManifest,
    choose_link,
    materialize_view,
)
from aetherflow.plan.models import CommandCriterion
from aetherflow.validation.sandbox import (
    Sandbox,
    SandboxLimits,
    bwrap_unavailable_reason,
    get_sandbox,
)

INVENTORY = Path(__file__).resolve().parents[2] / "examples" / "projects" / "inventory"
LIMITS = SandboxLimits(wall_s=60.0, cpu_s=60.0)


def _state(base: Path) -> dict[str, tuple[str, int, int, int]]:
    """Every base file's hash, mode, owner and inode."""
    out = {}
    for path in sorted(base.rglob("*")):
        if path.is_file() and not path.is_symlink():
            st = path.lstat()
            out[path.relative_to(base).as_posix()] = (
                hashlib.sha256(path.read_bytes()).hexdigest(), st.st_mode, st.st_uid, st.st_ino)
    return out


@pytest.fixture
def bwrap_root() -> Sandbox:
    """bwrap started by root (the only backend that protects linked files)."""
    if reason := bwrap_unavailable_reason():
        pytest.skip(f"bwrap cannot run here: {reason}")
    sandbox = get_sandbox("bwrap")
    if not getattr(sandbox, "protects_linked_files", False):
        pytest.skip("bwrap runs in a user namespace here (not root): the check keeps your "
                    "uid and views are copies")
    return sandbox


@pytest.fixture
def snapshot(tmp_path: Path) -> tuple[Path, ProjectManifest]:
    manifest = Project.open(INVENTORY).snapshot(tmp_path / "base")
    return tmp_path / "base", manifest


ATTACKS = {
    "write into a linked file": """
        open("inventory/store.py", "w").write("hacked")
    """,
    "append to a linked file": """
        open("inventory/store.py", "a").write("hacked")
    """,
    "make a linked file writable": """
        import os
        os.chmod("inventory/store.py", 0o666)
    """,
    "make a linked file writable, then write into it": """
        import os
        try:
            os.chmod("inventory/store.py", 0o666)
        finally:
            open("inventory/store.py", "w").write("hacked")
    """,
    "truncate a linked file": """
        import os
        os.truncate("inventory/store.py", 0)
    """,
    "change a linked file's owner": """
        import os
        os.chown("inventory/store.py", os.getuid(), os.getgid())
    """,
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_check_cannot_write_into_the_base_through_a_link(
        bwrap_root: Sandbox, snapshot: tuple[Path, ProjectManifest], tmp_path: Path,
        attack: str) -> None:
    base, _ = snapshot
    before = _state(base)
    view = materialize_view(tmp_path / "view", base,
                            {"attack.py": textwrap.dedent(ATTACKS[attack])}, link=True)
    assert os.stat(view / "inventory/store.py").st_ino == before["inventory/store.py"][3]
    result = bwrap_root.run(["python", "attack.py"], view, limits=LIMITS)
    assert result.exit_code != 0, result.output_tail
    assert "PermissionError" in result.output_tail or "Operation not permitted" in \
        result.output_tail, result.output_tail
    assert _state(base) == before


def test_a_check_may_replace_a_file_with_a_new_inode(
        bwrap_root: Sandbox, snapshot: tuple[Path, ProjectManifest], tmp_path: Path) -> None:
    base, _ = snapshot
    before = _state(base)
    script = textwrap.dedent("""
        import os
        with open("inventory/store.tmp", "w") as f:
            f.write("replaced\\n")
        os.replace("inventory/store.tmp", "inventory/store.py")
        os.remove("README.md")
        print(open("inventory/store.py").read(), end="")
    """)
    view = materialize_view(tmp_path / "view", base, {"replace.py": script}, link=True)
    result = bwrap_root.run(["python", "replace.py"], view, limits=LIMITS)
    assert result.exit_code == 0, result.output_tail
    assert result.output_tail == "replaced\n"
    assert (view / "inventory/store.py").read_text() == "replaced\n"
    assert os.stat(view / "inventory/store.py").st_ino != before["inventory/store.py"][3]
    assert _state(base) == before


def test_the_project_tests_run_on_a_link_view_and_ownership_is_given_back(
        bwrap_root: Sandbox, snapshot: tuple[Path, ProjectManifest], tmp_path: Path) -> None:
    base, _ = snapshot
    before = _state(base)
    view = materialize_view(tmp_path / "view", base, {}, link=True)
    result = bwrap_root.run(
        ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], view,
        limits=LIMITS, env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert result.exit_code == 0, result.output_tail
    assert " passed" in result.output_tail
    assert _state(base) == before
    owners = {p.lstat().st_uid for p in [view, *view.rglob("*")]}
    assert owners == {os.getuid()}  # nothing left owned by the check's throwaway uid


def test_the_process_fallback_gets_a_copy(snapshot: tuple[Path, ProjectManifest],
                                          tmp_path: Path) -> None:
    base, manifest = snapshot
    sandbox = get_sandbox("process")
    assert not choose_link(sandbox, LINK_MIN_FILES * 10, manifest.total_bytes)
    before = _state(base)
    view = materialize_view(tmp_path / "view", base, {
        "w.py": 'open("inventory/store.py", "w").write("changed in the copy")\n'}, link=False)
    result = sandbox.run(["python", "w.py"], view, limits=LIMITS)
    assert result.exit_code == 0, result.output_tail
    assert (view / "inventory/store.py").read_text() == "changed in the copy"
    assert _state(base) == before


def test_bwrap_as_root_picks_links_for_a_large_base(bwrap_root: Sandbox) -> None:
    assert choose_link(bwrap_root, LINK_MIN_FILES, 0)
    assert not choose_link(bwrap_root, 3, 1000)


# --- the shipped plan against the shipped project, through these pieces -----------------------

PLAN = Path(__file__).resolve().parents[2] / "examples" / "plans" / "refactor_project.json"
F = "```"
GOOD_REPLIES = {
    "refactor_order_total": f'''{F}python
"""What an order costs."""

RATES = {{"regular": (1.0, 0.95), "member": (0.97, 0.90), "staff": (0.80, 0.80)}}


def order_total(items, customer_type, coupon=None):
    """The total of ``items`` for a customer type, after an optional coupon, in cents."""
    total = 0
    for item in items:
        if item["qty"] <= 0:
            continue
        if customer_type not in RATES:
            raise ValueError("unknown customer type: " + str(customer_type))
        small, bulk = RATES[customer_type]
        total += item["price"] * item["qty"] * (bulk if item["qty"] >= 10 else small)
    if coupon is not None:
        if coupon == "SAVE5":
            total = total - 5 if total >= 50 else total
        elif coupon == "HALF":
            total = total / 2
        else:
            raise ValueError("unknown coupon: " + str(coupon))
    return round(total, 2)
{F}
''',
    "add_low_stock": f'''Here is the method:
{F}python
def low_stock(self, limit: int = 5) -> list[str]:
    """The sorted names of the items with fewer than ``limit`` in stock."""
    return sorted(name for name, item in self.items.items() if item.qty < limit)
{F}
''',
}
BAD_REPLIES = {
    "refactor_order_total": f"{F}python\ndef order_total(items, customer_type, coupon=None):\n"
                            f"    return 0\n{F}\n",
    "add_low_stock": f"{F}python\ndef low_stock(self, limit=5):\n    return []\n{F}\n",
}


def _check_step(sandbox: Sandbox, base: Path, manifest: ProjectManifest, step_id: str,
                reply: str, tmp_path: Path) -> list[int | None]:
    from aetherflow.execution.patching import assign_output
    from aetherflow.execution.project import FileView
    from aetherflow.plan.loader import load_plan

    step = load_plan(PLAN).step(step_id)
    current = FileView(base, manifest.files)
    for name in step.context.input_files:
        assert name in current  # input files are project-relative
    assignment = assign_output(reply, step.context.files, current, patch=step.context.patch,
                               root=base)
    codes: list[int | None] = []
    for criterion in step.validation_criteria:
        if not isinstance(criterion, CommandCriterion):
            continue
        view = materialize_view(tmp_path / f"{step_id}-{len(codes)}", base, assignment.files,
                                link=choose_link(sandbox, 10**6, 0))
        result = sandbox.run(["/bin/sh", "-c", criterion.run], view, limits=LIMITS,
                             env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
        codes.append(result.exit_code)
    return codes


@pytest.mark.parametrize("step_id", sorted(GOOD_REPLIES))
def test_the_example_plan_is_solvable_and_checked(snapshot: tuple[Path, ProjectManifest],
                                                  tmp_path: Path, step_id: str) -> None:
    """A right reply passes every command check of the shipped plan on the shipped project;
    a wrong one fails them. Either way the copy of the project is left as it was."""
    base, manifest = snapshot
    sandbox = get_sandbox("auto")
    before = _state(base)
    good = _check_step(sandbox, base, manifest, step_id, GOOD_REPLIES[step_id], tmp_path)
    assert good and all(code == 0 for code in good), good
    bad = _check_step(sandbox, base, manifest, step_id, BAD_REPLIES[step_id], tmp_path / "bad")
    assert any(code != 0 for code in bad), bad
    assert _state(base) == before
