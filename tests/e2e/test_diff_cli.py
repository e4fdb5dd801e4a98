"""``aetherflow diff RUN_DIR`` as a user runs it (a subprocess), on a project run directory
built here the way a ``run --project`` lays it out: the example project copied into
``project_base/``, its manifest, and a ``workspace/`` with the steps' files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aetherflow.execution.project import (
    BASE_DIR,
    MANIFEST_FILE,
    Project,
    prepare_project_run,
    record_deleted,
)

INVENTORY = Path(__file__).resolve().parents[2] / "examples" / "projects" / "inventory"
#: Runs the real CLI entry point; registers ``diff`` only if the CLI does not already.
_MAIN = """
import sys
import aetherflow.cli.main as m
from aetherflow.cli import diff
registered = m._register_commands
def register_all():
    registered()
    if not any(c.name == "diff" for c in m.app.registered_commands):
        diff.register(m.app)
m._register_commands = register_all
m.main(sys.argv[1:])
"""


def _cli(*args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "AETHERFLOW_DEBUG"}
    env["COLUMNS"] = str(columns)
    return subprocess.run([sys.executable, "-c", _MAIN, "diff", *args], capture_output=True,
                          text=True, timeout=60, env=env, check=False)


NEW_METHOD = '''    def low_stock(self, limit: int = 5) -> list[str]:
        """The sorted names of the items with fewer than ``limit`` in stock."""
        return sorted(n for n, i in self.items.items() if i.qty < limit)

'''


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A finished project run: one file patched, one new, one deleted, one unchanged copy."""
    project = tmp_path / "inventory"
    shutil.copytree(INVENTORY, project, ignore=shutil.ignore_patterns("__pycache__"))
    run = tmp_path / "run"
    prepare_project_run(Project.open(project), run).wait(timeout=60)
    ws = run / "workspace"
    (ws / "inventory").mkdir(parents=True)
    store = (project / "inventory/store.py").read_text()
    (ws / "inventory/store.py").write_text(store.replace(
        "    # AETHERFLOW: new methods here", NEW_METHOD + "    # AETHERFLOW: new methods here"))
    (ws / "inventory/__init__.py").write_text((project / "inventory/__init__.py").read_text())
    (ws / "CHANGELOG.md").write_text("# Changes\n\n- Inventory.low_stock\n")
    record_deleted(run, ["README.md"])
    return run


def test_diff_applies_to_the_project_with_git(run_dir: Path, tmp_path: Path) -> None:
    result = _cli(str(run_dir))
    assert result.returncode == 0, result.stderr
    diff = result.stdout
    assert diff.startswith("diff --git a/CHANGELOG.md b/CHANGELOG.md\nnew file mode")
    assert "--- a/inventory/store.py\n+++ b/inventory/store.py\n" in diff
    assert "+    def low_stock(self, limit: int = 5) -> list[str]:\n" in diff
    assert "deleted file mode 100644\n--- a/README.md\n+++ /dev/null\n" in diff
    assert "__init__.py" not in diff  # the same bytes as the project's: no change
    if shutil.which("git") is None:
        pytest.skip("git is not installed: cannot cross-check with git apply")
    project = tmp_path / "inventory"
    (tmp_path / "run.patch").write_text(diff)
    subprocess.run(["git", "apply", "--unsafe-paths", "--directory", ".",
                    str(tmp_path / "run.patch")], cwd=project, check=True,
                   capture_output=True)
    assert (project / "inventory/store.py").read_text() == \
        (run_dir / "workspace/inventory/store.py").read_text()
    assert not (project / "README.md").exists()
    assert (project / "CHANGELOG.md").read_text().startswith("# Changes")


def test_diff_stat(run_dir: Path) -> None:
    result = _cli(str(run_dir), "--stat")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(" CHANGELOG.md") and lines[0].endswith("+++ (new)")
    assert lines[1].startswith(" README.md") and lines[1].endswith("(gone)")
    assert lines[2].startswith(" inventory/store.py |  4 ++++")
    assert lines[-1].startswith(" 3 files changed, 7 insertions(+), ")
    assert all(len(line) <= 80 for line in lines)


def test_a_run_that_changed_nothing(tmp_path: Path) -> None:
    run = tmp_path / "run"
    manifest = Project.open(INVENTORY).snapshot(run / BASE_DIR)
    manifest.save(run / MANIFEST_FILE)
    result = _cli(str(run))
    assert result.returncode == 0 and result.stdout == ""
    assert result.stderr.startswith("no changes: the run left ")


def test_not_a_project_run_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "run.json").write_text("{}")
    result = _cli(str(tmp_path / "plain"))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (f"error: {tmp_path / 'plain'} is not a project run (no "
                             "project_manifest.json: it was not started with --project)\n")
    missing = _cli(str(tmp_path / "missing"))
    assert missing.returncode == 2
    assert missing.stderr == f"error: {tmp_path / 'missing'}: no such run directory\n"


def test_a_corrupt_manifest_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / MANIFEST_FILE).write_text("{not json")
    result = _cli(str(tmp_path / "run"))
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "not a project manifest" in result.stderr
