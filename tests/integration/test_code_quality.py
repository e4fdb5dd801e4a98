"""Code quality of generated files, with ruff really run in the sandbox."""

from __future__ import annotations

from aetherflow.validation.quality import code_quality
from aetherflow.validation.sandbox import get_sandbox

# F401 (unused import) and E711 (comparison to None): exactly two findings in four lines.
KNOWN = "import os\n\n\ndef f(x):\n    return x == None\n"


def test_ruff_findings_per_100_lines_of_known_code() -> None:
    quality = code_quality({"a.py": KNOWN, "notes.md": "# not python\n"}, get_sandbox())
    assert quality is not None
    assert (quality.python_files, quality.lines, quality.ruff_findings) == (1, 5, 2)
    assert quality.ruff_findings_per_100_lines == 40.0
    assert quality.cyclomatic_complexity_max == 1 and quality.note is None


def test_no_python_file_means_no_quality_figures() -> None:
    assert code_quality({"README.md": "hi\n"}, get_sandbox()) is None
