"""Code-block extraction and the workspace boundary."""

from __future__ import annotations

from pathlib import Path

import pytest

from aetherflow.execution.workspace import (
    extract_code_blocks,
    safe_workspace_path,
    write_step_files,
)

ANSWER = """Here you go.

```python
# file: calc.py
def add(a, b):
    return a + b
```

```python tests/test_calc.py
from calc import add
```

```bash
echo unnamed
```
"""


def test_names_from_comment_and_info_string() -> None:
    blocks = extract_code_blocks(ANSWER)
    assert [(b.language, b.filename) for b in blocks] == [
        ("python", "calc.py"), ("python", "tests/test_calc.py"), ("bash", None)]
    assert "def add" in blocks[0].code


def test_unnamed_block_takes_the_next_expected_file(tmp_path: Path) -> None:
    text = "```python\nprint(1)\n```\n"
    written, refused = write_step_files(tmp_path, text, ["main.py"])
    assert written == ["main.py"] and refused == []
    assert (tmp_path / "main.py").read_text() == "print(1)\n"


def test_writes_named_files_and_keeps_unnamed_out(tmp_path: Path) -> None:
    written, refused = write_step_files(tmp_path, ANSWER, [])
    assert written == ["calc.py", "tests/test_calc.py"] and refused == []


@pytest.mark.parametrize("name", ["../evil.py", "/etc/passwd.txt", "a/../../b.py", "..\\x.py"])
def test_escaping_paths_are_refused(tmp_path: Path, name: str) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    text = f"```python {name}\nx = 1\n```\n"
    written, refused = write_step_files(ws, text, [])
    assert written == []
    assert refused[0].path == name and "escapes" in refused[0].reason
    assert safe_workspace_path(ws, name) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ws"]


def test_symlink_escape_is_refused(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "link").symlink_to(tmp_path)
    assert safe_workspace_path(ws, "link/x.py") is None


def test_a_file_that_is_another_files_directory_is_refused_not_a_crash(tmp_path: Path) -> None:
    """``# file: lib.v2/a.py`` then ``# file: lib.v2`` used to raise IsADirectoryError."""
    text = ("```python\n# file: lib.v2/a.py\nx = 1\n```\n"
            "```python\n# file: lib.v2\ny = 2\n```\n")
    written, refused = write_step_files(tmp_path, text, [])
    assert written == ["lib.v2/a.py"]
    assert [r.path for r in refused] == ["lib.v2"]
    assert "directory" in refused[0].reason


def test_an_overlong_name_is_refused_not_a_crash(tmp_path: Path) -> None:
    name = "x" * 300 + ".py"
    written, refused = write_step_files(tmp_path, f"```python {name}\nx = 1\n```\n", [])
    assert written == [] and "longer than" in refused[0].reason


def test_a_directory_in_the_workspace_refuses_a_file_of_that_name(tmp_path: Path) -> None:
    (tmp_path / "pkg.d").mkdir()
    written, refused = write_step_files(tmp_path, "```python pkg.d\nx = 1\n```\n", [])
    assert written == [] and "cannot be written" in refused[0].reason
