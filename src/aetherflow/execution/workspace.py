"""Extract fenced code blocks from a model's answer and write them into the run workspace.

A block's file name comes from, in order: a path in the fence's info string
(```` ```python calc.py ````), a first-line comment (``# file: calc.py``, ``// calc.ts``),
or the step's ``context.files`` in order. A path that is absolute or escapes the
workspace is refused and reported, never written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from aetherflow.metrics.records import RefusedFile

__all__ = ["CodeBlock", "extract_code_blocks", "safe_workspace_path", "write_step_files"]

_FENCE = re.compile(r"^(`{3,}|~{3,})[ \t]*([^\n`]*)\n(.*?)^\1[ \t]*$", re.S | re.M)
_NAME_COMMENT = re.compile(
    r"^\s*(?:#|//|--|/\*|<!--)\s*(?:file(?:name)?\s*:\s*)?([\w./\\-]+\.[A-Za-z0-9]+)\s*(?:\*/|-->)?\s*$",
    re.I,
)
_LANG_EXT = {"python": ".py", "py": ".py", "javascript": ".js", "js": ".js", "typescript": ".ts",
             "ts": ".ts", "go": ".go", "rust": ".rs", "bash": ".sh", "sh": ".sh",
             "json": ".json", "toml": ".toml", "yaml": ".yaml", "markdown": ".md", "sql": ".sql"}


@dataclass(frozen=True)
class CodeBlock:
    """One fenced block: its language tag, the file name it names (if any) and its code."""

    language: str
    filename: str | None
    code: str


def _name_from_info(info: str) -> tuple[str, str | None]:
    parts = info.split()
    lang = parts[0].lower() if parts else ""
    for part in parts[1:] if parts else []:
        candidate = part.split("=", 1)[-1].strip("\"'")
        if "." in candidate:
            return lang, candidate
    if "." in lang and lang not in _LANG_EXT:  # ```calc.py
        return "", lang
    return lang, None


def extract_code_blocks(text: str) -> list[CodeBlock]:
    """Every fenced block in ``text``, with a file name when the answer names one."""
    blocks = []
    for m in _FENCE.finditer(text):
        lang, name = _name_from_info(m.group(2).strip())
        code = m.group(3)
        first = code.partition("\n")[0]
        if name is None and (hit := _NAME_COMMENT.match(first)):
            name = hit.group(1)
        blocks.append(CodeBlock(language=lang, filename=name, code=code))
    return blocks


def safe_workspace_path(workspace: Path, name: str) -> Path | None:
    """``workspace/name`` if it stays inside the workspace, else None."""
    posix = PurePosixPath(name.replace("\\", "/"))
    if posix.is_absolute() or ".." in posix.parts or not posix.parts:
        return None
    target = (workspace / Path(*posix.parts)).resolve()
    root = workspace.resolve()
    return target if target.is_relative_to(root) and target != root else None


def _assign_names(blocks: list[CodeBlock], expected: list[str]) -> list[tuple[str | None, str]]:
    remaining = [f for f in expected if f not in {b.filename for b in blocks}]
    out: list[tuple[str | None, str]] = []
    for block in blocks:
        name = block.filename
        if name is None and remaining:
            name = remaining.pop(0)
        out.append((name, block.code))
    return out


def write_step_files(
    workspace: Path, text: str, expected_files: list[str]
) -> tuple[list[str], list[RefusedFile]]:
    """Write the answer's code blocks; return (files written, files refused with reasons).

    Blocks with no name and no expected file left are not written (they stay in the raw
    step output). A later block for the same file replaces an earlier one.
    """
    written: dict[str, None] = {}
    refused: list[RefusedFile] = []
    for name, code in _assign_names(extract_code_blocks(text), expected_files):
        if name is None:
            continue
        target = safe_workspace_path(workspace, name)
        if target is None:
            refused.append(RefusedFile(path=name, reason="path escapes the run workspace"))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(code, encoding="utf-8")
        written[target.relative_to(workspace.resolve()).as_posix()] = None
    return list(written), refused
