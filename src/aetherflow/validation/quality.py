"""Static code quality of the Python files a step produced (definitions in docs/metrics.md).

* **ruff findings per 100 lines**: ``ruff check --select QUALITY_RULES`` findings on the
  step's Python files (run in the sandbox: ruff only reads them) × 100 / their lines.
* **maintainability index**: radon's ``mi_visit`` (0..100, higher is better), the mean over
  files weighted by lines.
* **cyclomatic complexity**: radon's ``cc_visit`` per function/method/class block; mean and
  max over the step's blocks.

radon parses with :mod:`ast` (nothing executes). A file that does not parse is counted in
``python_files`` and ``lines`` but gives no radon figure (the note says so).
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from aetherflow.results.run import CodeQuality
from aetherflow.validation.checks import RUFF_ENV, materialize
from aetherflow.validation.sandbox import Sandbox, SandboxLimits

__all__ = ["QUALITY_RULES", "code_quality", "radon_figures", "ruff_findings"]

#: The rule set behind "ruff findings per 100 lines": pycodestyle errors and warnings,
#: pyflakes, bugbear and simplifications, with line length ignored (models wrap freely).
QUALITY_RULES = "E,W,F,B,SIM"
_IGNORE = "E501"


def _lines(source: str) -> int:
    return len(source.splitlines())


def radon_figures(files: Mapping[str, str]) -> tuple[float | None, float | None, int | None,
                                                      list[str]]:
    """(maintainability index, mean CC, max CC, files that did not parse)."""
    from radon.complexity import cc_visit
    from radon.metrics import mi_visit

    weighted, total_lines, blocks, broken = 0.0, 0, [], []
    for name, source in sorted(files.items()):
        try:
            mi = float(mi_visit(source, multi=True))
            blocks += [b.complexity for b in cc_visit(source)]
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            broken.append(name)
            continue
        n = max(_lines(source), 1)
        weighted += mi * n
        total_lines += n
    mi_mean = weighted / total_lines if total_lines else None
    cc_mean = sum(blocks) / len(blocks) if blocks else None
    return mi_mean, cc_mean, max(blocks) if blocks else None, broken


def ruff_findings(files: Mapping[str, str], sandbox: Sandbox,
                  scratch: Path | None = None) -> int | None:
    """Number of ruff findings (:data:`QUALITY_RULES`) on ``files``; None if ruff failed."""
    argv = [sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", "--exit-zero",
            "--select", QUALITY_RULES, "--ignore", _IGNORE, "--output-format", "concise",
            "--quiet", *sorted(files)]
    with tempfile.TemporaryDirectory(prefix="quality-", dir=scratch) as tmp:
        work = materialize(Path(tmp) / "ws", files)
        result = sandbox.run(argv, work, env=RUFF_ENV,
                             limits=SandboxLimits(wall_s=60, cpu_s=60,
                                                  max_output_bytes=1 << 20))
    if result.exit_code != 0 or result.output_truncated:
        return None
    return sum(1 for line in result.output_tail.splitlines()
               if line.strip() and not line.startswith(("Found ", "[*]", "No fixes")))


def code_quality(files: Mapping[str, str], sandbox: Sandbox,
                 scratch: Path | None = None) -> CodeQuality | None:
    """Quality figures of the Python files among ``files``; None when there is none."""
    py = {k: v for k, v in files.items() if k.endswith(".py")}
    if not py:
        return None
    lines = sum(_lines(v) for v in py.values())
    mi, cc_mean, cc_max, broken = radon_figures(py)
    findings = ruff_findings(py, sandbox, scratch)
    notes = []
    if broken:
        notes.append(f"radon could not parse {', '.join(broken)}")
    if findings is None:
        notes.append("ruff did not run to completion")
    return CodeQuality(
        python_files=len(py), lines=lines, ruff_findings=findings,
        ruff_findings_per_100_lines=(None if findings is None or not lines
                                     else findings * 100 / lines),
        maintainability_index=mi, cyclomatic_complexity_mean=cc_mean,
        cyclomatic_complexity_max=cc_max, note="; ".join(notes) or None)
