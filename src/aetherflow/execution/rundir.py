"""The on-disk layout of one run: step outputs, the workspace, and ``run.json``.

``run.json`` is rewritten atomically after every step, so a crash or Ctrl-C keeps every
completed result.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path

from aetherflow.metrics.records import RunRecord

__all__ = ["RunDirectory", "default_run_dir"]


def default_run_dir(task_id: str, root: Path = Path("runs"), now: datetime | None = None) -> Path:
    """``runs/<YYYYmmdd-HHMMSS>-<task_id>``, with a numeric suffix if it already exists."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", task_id)
    base = root / f"{stamp}-{safe}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


class RunDirectory:
    """Paths and writers for one run directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.outputs = path / "step_outputs"
        self.workspace = path / "workspace"
        self.run_json = path / "run.json"

    def create(self) -> None:
        """Create the directory tree (the run directory may already exist but be empty)."""
        self.outputs.mkdir(parents=True, exist_ok=True)
        self.workspace.mkdir(parents=True, exist_ok=True)

    def write_step_output(self, step_id: str, text: str) -> Path:
        """Write a step's raw output to ``step_outputs/<step_id>.md``."""
        path = self.outputs / f"{step_id}.md"
        path.write_text(text, encoding="utf-8")
        return path

    def write_record(self, record: RunRecord) -> None:
        """Atomically replace ``run.json`` with ``record``."""
        tmp = self.run_json.with_suffix(".json.tmp")
        tmp.write_text(record.model_dump_json(indent=2), encoding="utf-8")
        os.replace(tmp, self.run_json)
