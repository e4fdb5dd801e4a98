"""Extract fenced code blocks from a model's answer and write them into the run workspace.

A block's file name comes from, in order: a path in the fence's info string
(```` ```python calc.py ````), a first-line comment (``# file: calc.py``, ``// calc.ts``),
or the step's ``context.files`` in order. A path that is absolute or escapes the
workspace is refused and reported, never written.
"""

from __future__ import annotations

import errno
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from aetherflow.errors import RunDirectoryError
from aetherflow.results.run import RefusedFile

__all__ = ["NAME_MAX_BYTES", "PATH_MAX_BYTES", "CodeBlock", "assign_step_files",
           "extract_code_blocks", "name_problem", "safe_workspace_path", "write_files",
           "write_step_files"]

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
    """Every fenced block in ``text``, with a file name when the answer names one.

    A first line that only names the file (``# file: calc.py``) is the answer's label for
    the block, not the file's content: it is left out of ``code``."""
    blocks = []
    for m in _FENCE.finditer(text):
        lang, name = _name_from_info(m.group(2).strip())
        code = m.group(3)
        first, _, rest = code.partition("\n")
        if name is None and (hit := _NAME_COMMENT.match(first)):
            name, code = hit.group(1), rest
        blocks.append(CodeBlock(language=lang, filename=name, code=code))
    return blocks


#: Longest file-name component and whole relative path accepted from a model's answer.
NAME_MAX_BYTES = 255
PATH_MAX_BYTES = 1024
#: errno values that mean the run directory itself cannot be written (not the model's fault).
_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EIO})


def name_problem(name: str) -> str | None:
    """Why a model-chosen relative path cannot be a file of the workspace (None if it can)."""
    posix = PurePosixPath(name.replace("\\", "/"))
    if not posix.parts or name.strip() in ("", "."):
        return "empty file name"
    if posix.is_absolute():
        return "absolute path: escapes the run workspace"
    if ".." in posix.parts:
        return "path escapes the run workspace"
    if len(name.encode("utf-8")) > PATH_MAX_BYTES:
        return f"path longer than {PATH_MAX_BYTES} bytes"
    if any(len(p.encode("utf-8")) > NAME_MAX_BYTES for p in posix.parts):
        return f"a path component is longer than {NAME_MAX_BYTES} bytes"
    if any(c in name for c in "\0\n\r"):
        return "control character in the file name"
    return None


def safe_workspace_path(workspace: Path, name: str) -> Path | None:
    """``workspace/name`` if it stays inside the workspace, else None."""
    if name_problem(name) is not None:
        return None
    posix = PurePosixPath(name.replace("\\", "/"))
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


def _normal(name: str) -> str:
    return PurePosixPath(name.replace("\\", "/")).as_posix()


def _tree_clash(name: str, files: dict[str, str]) -> str | None:
    """A file whose path is another file's directory (``a`` and ``a/b.py``) cannot exist."""
    parts = PurePosixPath(name).parts
    for i in range(1, len(parts)):
        parent = "/".join(parts[:i])
        if parent in files:
            return f"its directory {parent!r} is a file the answer also names"
    prefix = name + "/"
    if any(other.startswith(prefix) for other in files):
        return "it is the directory of another file the answer names"
    return None


def assign_step_files(text: str, expected_files: list[str],
                      ) -> tuple[dict[str, str], list[RefusedFile]]:
    """The files an answer names: (relative path -> content, files refused with reasons).

    Pure: nothing is written. Blocks with no name and no expected file left are not files
    (they stay in the raw step output). A later block for the same file replaces an earlier
    one. A name that cannot be a workspace file (absolute, escaping, too long, a file that
    is another file's directory) is refused with the reason; nothing a model writes can
    crash the run.
    """
    files: dict[str, str] = {}
    refused: list[RefusedFile] = []
    for name, code in _assign_names(extract_code_blocks(text), expected_files):
        if name is None:
            continue
        problem = name_problem(name)
        key = _normal(name) if problem is None else name
        problem = problem or _tree_clash(key, files)
        if problem is not None:
            refused.append(RefusedFile(path=name[:300], reason=problem))
            continue
        files[key] = code
    return files, refused


def write_files(workspace: Path, files: dict[str, str]) -> tuple[list[str], list[RefusedFile]]:
    """Write ``files`` into ``workspace``; return (written, refused with reasons).

    A file the workspace cannot hold because of its name or its place (a directory in the
    way, a symlink out) is refused. A full, read-only or failing disk raises
    :class:`~aetherflow.errors.RunDirectoryError`: that is the run directory's problem.
    """
    written: list[str] = []
    refused: list[RefusedFile] = []
    for name, code in files.items():
        target = safe_workspace_path(workspace, name)
        if target is None:
            refused.append(RefusedFile(path=name, reason="path escapes the run workspace"))
            continue
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(code, encoding="utf-8")
        except OSError as exc:
            if exc.errno in _DISK_ERRNOS:
                raise RunDirectoryError(f"cannot write {target}: {exc.strerror}") from exc
            refused.append(RefusedFile(path=name, reason=f"cannot be written here: "
                                                         f"{exc.strerror or exc}"))
            continue
        written.append(target.relative_to(workspace.resolve()).as_posix())
    return written, refused


def write_step_files(
    workspace: Path, text: str, expected_files: list[str]
) -> tuple[list[str], list[RefusedFile]]:
    """Assign the answer's code blocks to files and write them (see
    :func:`assign_step_files` and :func:`write_files`)."""
    files, refused = assign_step_files(text, expected_files)
    written, not_written = write_files(workspace, files)
    return written, refused + not_written
