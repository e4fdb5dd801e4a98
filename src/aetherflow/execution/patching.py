"""Turn a model's reply into new contents for a step's files, by fixed rules that never guess.

A step that works on existing files (``context.files``, ``context.patch``) gets a reply that
may hold whole files, a snippet for a marker, or a unified diff. :func:`assign_output`
decides which files change and how, or raises :class:`AssignmentError` with the reason (the
step then fails with it). It is pure: nothing is read from or written to disk, except that a
``root`` may be given to refuse paths that pass through a symlink there.

The rules, in the order they are tried (``docs/projects.md`` has them for users):

1. **Diff.** A reply whose code is a unified diff (a ```` ```diff ```` / ```` ```patch ````
   block, or, with no fenced block, text starting with ``diff --git`` or ``--- a/...``
   followed by ``+++``) is applied as a diff, exactly: context and removed lines must match
   the current file line for line (no fuzz, whitespace included). A hunk may sit at another
   line than its ``@@`` header says only if its lines match at exactly one place after the
   previous hunk. ``@@`` line counts are a hint: the hunk's own lines are what is applied.
   New files (``--- /dev/null``), deletions (``+++ /dev/null``) and renames work. A reply
   that mixes a diff with other code blocks fails.
2. **Patch** (``context.patch``): the reply must hold exactly one code block and the step
   exactly one file; the marker text must occur on exactly one line of it. The block goes
   ``before`` / ``after`` that line or ``replace`` s it. A block with no indentation is
   indented like the marker line; a first-line ``# file: ...`` comment is dropped.
3. **Whole files.** A block naming its file (```` ```python path.py ```` or a first-line
   ``# file: path.py`` comment) replaces that file. Unnamed blocks fill the targets no
   block named, in order, only when their counts are equal; if every target is named,
   unnamed blocks are not files (they are reported in :attr:`Assignment.notes`). Any other
   count fails, as does a file named twice.

Every path (named, target, or in a diff) must be relative and stay inside the project:
absolute paths, ``..`` and paths through a symlink are refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from aetherflow.errors import AssignmentError
from aetherflow.execution.workspace import CodeBlock, extract_code_blocks, name_problem
from aetherflow.plan.models import PatchSpec

__all__ = [
    "Assignment",
    "AssignmentError",
    "AssignmentMethod",
    "apply_unified_diff",
    "assign_output",
    "is_diff_text",
    "path_problem",
    "split_lines",
]

AssignmentMethod = Literal["diff", "patch", "named", "ordered"]
_DIFF_LANGS = frozenset({"diff", "patch", "udiff"})
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_SHOWN = 70  # characters of a line quoted in a reason


@dataclass(frozen=True)
class Assignment:
    """What a reply does to the step's files.

    ``files`` maps a relative posix path to its new content, or ``None`` for a file the
    reply deletes (diffs only). ``method`` says which rule applied; ``notes`` lists what was
    left out on purpose (e.g. unnamed blocks that are not files).
    """

    files: dict[str, str | None]
    method: AssignmentMethod
    notes: tuple[str, ...] = field(default=())

    def changed(self, current: Mapping[str, str]) -> dict[str, str | None]:
        """The entries of :attr:`files` that differ from ``current``."""
        out: dict[str, str | None] = {}
        for path, text in self.files.items():
            if current.get(path) != text:
                out[path] = text
        return out


def split_lines(text: str) -> list[str]:
    """``text`` as lines that keep their ``\\n`` (only ``\\n`` ends a line; the last line
    has none when the text does not end with one)."""
    if not text:
        return []
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _normal(name: str) -> str:
    posix = PurePosixPath(name.strip().replace("\\", "/"))
    return posix.as_posix()


def path_problem(name: str, root: Path | None = None) -> str | None:
    """Why ``name`` cannot be a file of the project (``None`` if it can).

    Refused: empty, absolute, ``..``, over-long or control-character names, and, when
    ``root`` is given, a path any of whose existing components under ``root`` is a symlink
    or whose target is a directory.
    """
    problem = name_problem(name)
    if problem is not None:
        return problem.replace("the run workspace", "the project")
    if root is None:
        return None
    current = root
    parts = PurePosixPath(_normal(name)).parts
    for i, part in enumerate(parts, 1):
        current = current / part
        if current.is_symlink():
            return "path goes through a symlink: refused"
        if not current.exists():
            return None
        if i < len(parts) and not current.is_dir():
            return f"{'/'.join(parts[:i])} is a file, not a directory"
    return "is a directory" if current.is_dir() else None


def _checked(name: str, root: Path | None, what: str = "") -> str:
    problem = path_problem(name, root)
    if problem is not None:
        raise AssignmentError(f"{what}{name!r}: {problem}", path=name)
    return _normal(name)


# --- diffs ------------------------------------------------------------------------------------


def _is_diff_code(code: str) -> bool:
    lines = code.lstrip("\n").split("\n", 2)
    if lines[0].startswith("diff --git "):
        return True
    return len(lines) > 1 and lines[0].startswith("--- ") and lines[1].startswith("+++ ")


def is_diff_text(text: str) -> bool:
    """Whether ``text`` (no fence) starts like a unified diff: ``diff --git``, or a
    ``--- `` line followed by a ``+++ `` line."""
    return _is_diff_code(text.lstrip())


@dataclass
class _Hunk:
    header: str
    old_start: int | None
    lines: list[tuple[str, str]]  # (" " | "-" | "+", line with its "\n" unless at EOF)


@dataclass
class _FilePatch:
    old: str | None
    new: str | None
    hunks: list[_Hunk] = field(default_factory=list)
    headed: bool = False  # its --- / +++ lines were seen (else only a diff --git line)


def _diff_path(raw: str, prefix: str) -> str | None:
    text = raw.split("\t", 1)[0].strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    if text == "/dev/null":
        return None
    return text[len(prefix):] if text.startswith(prefix) else text


def _git_paths(line: str) -> tuple[str, str] | None:
    m = re.match(r"^diff --git a/(.+) b/(.+)$", line)
    return (m.group(1), m.group(2)) if m else None


def _hunk_line(line: str) -> bool:
    return line == "" or line[0] in " +-\\"


def _is_terminator(lines: list[str], i: int) -> bool:
    line = lines[i]
    return (line.startswith(("@@", "diff --git ")) or
            (line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ ")))


def _read_hunk(lines: list[str], i: int, header: str) -> tuple[_Hunk, int]:
    """Parse the hunk whose header is ``lines[i - 1]``; return it and the next index.

    The header's counts are consumed first (whatever the lines look like); lines that still
    look like hunk lines after them are taken too (models miscount), blank lines only when
    more hunk lines follow.
    """
    m = _HUNK.match(header)
    old_left = (int(m.group(2)) if m.group(2) is not None else 1) if m else 0
    new_left = (int(m.group(4)) if m.group(4) is not None else 1) if m else 0
    hunk = _Hunk(header=header.strip(), old_start=int(m.group(1)) if m else None, lines=[])

    def take(line: str) -> None:
        nonlocal old_left, new_left
        if line.startswith("\\"):
            if hunk.lines:
                op, text = hunk.lines[-1]
                hunk.lines[-1] = (op, text.removesuffix("\n"))
            return
        op, text = (" ", "") if line == "" else (line[0], line[1:])
        hunk.lines.append((op, text + "\n"))
        old_left -= op in " -"
        new_left -= op in " +"

    while i < len(lines) and (old_left > 0 or new_left > 0) and _hunk_line(lines[i]):
        take(lines[i])
        i += 1
    while i < len(lines) and _hunk_line(lines[i]) and not _is_terminator(lines, i):
        if lines[i] == "":
            j = i
            while j < len(lines) and lines[j] == "":
                j += 1
            if j == len(lines) or not _hunk_line(lines[j]) or _is_terminator(lines, j):
                break
        take(lines[i])
        i += 1
    return hunk, i


def _parse_diff(text: str) -> list[_FilePatch]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    patches: list[_FilePatch] = []
    current: _FilePatch | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("diff --git "):
            paths = _git_paths(line)
            current = _FilePatch(old=paths[0], new=paths[1]) if paths else None
            if current is not None:
                patches.append(current)
            i += 1
        elif line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            old, new = _diff_path(line[4:], "a/"), _diff_path(lines[i + 1][4:], "b/")
            if current is None or current.headed or current.hunks:
                current = _FilePatch(old=old, new=new)
                patches.append(current)
            current.old, current.new, current.headed = old, new, True
            i += 2
        elif line.startswith("@@"):
            if current is None:
                raise AssignmentError(f"diff line {i + 1}: a hunk before any file header "
                                      "(--- a/PATH, +++ b/PATH)")
            hunk, i = _read_hunk(lines, i + 1, line)
            current.hunks.append(hunk)
        elif line.startswith(("GIT binary patch", "Binary files ")):
            raise AssignmentError("the diff holds a binary patch: not supported")
        elif line.startswith("deleted file mode") and current is not None:
            current.new = None
            i += 1
        elif line.startswith("new file mode") and current is not None:
            current.old = None
            i += 1
        else:
            i += 1  # git's extended headers (index, mode, similarity), or prose
    if not patches:
        raise AssignmentError("the reply looks like a diff but names no file "
                              "(--- a/PATH, +++ b/PATH)")
    return patches


def _quote(line: str) -> str:
    shown = line.removesuffix("\n")
    return repr(shown if len(shown) <= _SHOWN else shown[:_SHOWN] + "…")


def _mismatch(lines: list[str], old: list[str], at: int) -> str:
    for j, want in enumerate(old):
        if at + j >= len(lines):
            return f"the file ends at line {len(lines)}, expected {_quote(want)}"
        if lines[at + j] != want:
            return (f"line {at + j + 1} is {_quote(lines[at + j])}, expected "
                    f"{_quote(want)}")
    return "no difference"  # pragma: no cover - only called for a position that does not match


def _locate(lines: list[str], old: list[str], cursor: int, hunk: _Hunk) -> int | str:
    """Where ``old`` starts in ``lines`` at or after ``cursor``; a reason when nowhere or
    ambiguous."""
    stated = None if hunk.old_start is None else max(hunk.old_start - (1 if old else 0), 0)
    if not old:  # a pure insertion: only the stated line places it
        if stated is None:
            return "an insertion hunk with no line numbers cannot be placed"
        if not cursor <= stated <= len(lines):
            return f"it inserts at line {stated}, outside the file or before the previous hunk"
        return stated
    n = len(old)
    found = [p for p in range(cursor, len(lines) - n + 1) if lines[p:p + n] == old]
    if stated is not None and stated in found:
        return stated
    if len(found) == 1:
        return found[0]
    if found:
        where = ", ".join(str(p + 1) for p in found[:5])
        return f"its lines match at {len(found)} places (lines {where}): ambiguous"
    near = stated if stated is not None and stated >= cursor else cursor
    return "its lines are not in the file" + (
        f" ({_mismatch(lines, old, near)})" if near < len(lines) else "")


def _apply_hunks(path: str, content: str, hunks: Sequence[_Hunk]) -> str:
    lines = split_lines(content)
    out: list[str] = []
    cursor = 0
    for k, hunk in enumerate(hunks, 1):
        old = [text for op, text in hunk.lines if op in " -"]
        new = [text for op, text in hunk.lines if op in " +"]
        at = _locate(lines, old, cursor, hunk)
        if isinstance(at, str):
            raise AssignmentError(f"the diff does not apply to {path}: hunk {k} "
                                  f"({hunk.header}): {at}", path=path)
        out += lines[cursor:at] + new
        cursor = at + len(old)
    return "".join(out + lines[cursor:])


def apply_unified_diff(diff: str, current: Mapping[str, str], *,
                       root: Path | None = None) -> dict[str, str | None]:
    """Apply a unified diff to ``current`` (path -> content); return the new contents
    (``None``: deleted). Raises :class:`AssignmentError` naming the file and hunk when it
    does not apply exactly, or when a path is refused (see :func:`path_problem`)."""
    state: dict[str, str | None] = {}

    def content_of(path: str) -> str | None:
        if path in state:
            return state[path]
        return current.get(path)

    for fp in _parse_diff(diff):
        old = None if fp.old is None else _checked(fp.old, root, "the diff's path ")
        new = None if fp.new is None else _checked(fp.new, root, "the diff's path ")
        if old is None and new is None:
            raise AssignmentError("a diff section has /dev/null on both sides")
        if old is None:
            assert new is not None
            if content_of(new) is not None:
                raise AssignmentError(f"the diff creates {new}, which already exists",
                                      path=new)
            before = ""
        else:
            existing = content_of(old)
            if existing is None:
                raise AssignmentError(f"the diff changes {old}, which is not a file of the "
                                      "project", path=old)
            before = existing
        if new is not None and new != old and content_of(new) is not None:
            raise AssignmentError(f"the diff renames {old} to {new}, which already exists",
                                  path=new)
        after = _apply_hunks(old or str(new), before, fp.hunks)
        if new is None:
            if after:
                raise AssignmentError(f"the diff deletes {old} but its hunks do not remove "
                                      "all of it", path=old)
            state[str(old)] = None
            continue
        if old is not None and old != new:
            state[old] = None
        state[new] = after
    return state


# --- whole files and patches ------------------------------------------------------------------


def _diff_of(text: str, blocks: list[CodeBlock]) -> str | None:
    diffs = [b for b in blocks if b.language in _DIFF_LANGS or
             (b.language == "" and _is_diff_code(b.code))]
    if not blocks:
        return text.lstrip() if is_diff_text(text) else None
    if not diffs:
        return None
    others = len(blocks) - len(diffs)
    if others:
        raise AssignmentError(f"the reply mixes a diff with {others} other code block(s): "
                              "send either a diff or whole files")
    return "\n".join(b.code.rstrip("\n") for b in diffs) + "\n"


_OPEN_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})", re.M)


def _unclosed(text: str) -> str:
    """A note for a reply with no complete code block that opens one (a reply cut off at
    the token limit looks like that)."""
    if _OPEN_FENCE.search(text):
        return (": it opens a code block that is never closed (cut off at the token "
                "limit?)")
    return ""


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _patch(block: CodeBlock, target: str, content: str, patch: PatchSpec) -> str:
    code = block.code
    first = code.partition("\n")[0].strip()
    if block.filename and first.startswith(("#", "//", "--", "/*", "<!--")) \
            and block.filename in first:
        code = code.partition("\n")[2]
    lines = split_lines(content)
    hits = [i for i, line in enumerate(lines) if patch.marker in line]
    if not hits:
        raise AssignmentError(f"patch marker {patch.marker!r} not found in {target}",
                              path=target)
    if len(hits) > 1:
        where = ", ".join(str(i + 1) for i in hits[:5])
        raise AssignmentError(f"patch marker {patch.marker!r} found {len(hits)} times in "
                              f"{target} (lines {where}): ambiguous", path=target)
    at = hits[0]
    indent = _indent_of(lines[at])
    body = split_lines(code)
    if body and not body[-1].endswith("\n"):
        body[-1] += "\n"
    if indent and body and min(len(_indent_of(b)) for b in body if b.strip()) == 0:
        body = [indent + b if b.strip() else b for b in body]
    if at == len(lines) - 1 and not lines[at].endswith("\n") and patch.position == "after":
        lines[at] += "\n"
    if patch.position == "before":
        lines[at:at] = body
    elif patch.position == "after":
        lines[at + 1:at + 1] = body
    else:
        lines[at:at + 1] = body
    return "".join(lines)


def _assign_patch(text: str, blocks: list[CodeBlock], targets: list[str],
                  current: Mapping[str, str], patch: PatchSpec) -> Assignment:
    if len(targets) != 1:
        raise AssignmentError(f"context.patch needs exactly one file in context.files, the "
                              f"step has {len(targets)}")
    target = targets[0]
    if len(blocks) != 1:
        raise AssignmentError(f"a patch step needs exactly one code block, the reply has "
                              f"{len(blocks)}{_unclosed(text) if not blocks else ''}",
                              path=target)
    block = blocks[0]
    if block.filename is not None and _normal(block.filename) != target:
        raise AssignmentError(f"the patch block names {block.filename!r}, but the step "
                              f"patches {target}", path=target)
    if target not in current:
        raise AssignmentError(f"the file to patch, {target}, does not exist", path=target)
    return Assignment(files={target: _patch(block, target, current[target], patch)},
                      method="patch")


def _tree_clash(files: Mapping[str, object]) -> str | None:
    for name in files:
        parts = PurePosixPath(name).parts
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in files:
                return f"{'/'.join(parts[:i])!r} is both a file and the directory of {name!r}"
    return None


def _assign_blocks(text: str, blocks: list[CodeBlock], targets: list[str],
                   root: Path | None) -> Assignment:
    if not blocks:
        where = f" for {', '.join(targets)}" if targets else ""
        raise AssignmentError(f"the reply has no code block{where}{_unclosed(text)}")
    files: dict[str, str | None] = {}
    unnamed: list[CodeBlock] = []
    for block in blocks:
        if block.filename is None:
            unnamed.append(block)
            continue
        name = _checked(block.filename, root, "the reply names ")
        if name in files:
            raise AssignmentError(f"two code blocks name {name}: ambiguous", path=name)
        files[name] = block.code
    left = [t for t in targets if t not in files]
    notes: tuple[str, ...] = ()
    method: AssignmentMethod = "named"
    if unnamed and not left:
        notes = (f"{len(unnamed)} unnamed code block(s) left out: every file has a named "
                 "block",)
    elif left and not unnamed:
        notes = (f"left unchanged: {', '.join(left)}",)
    elif unnamed and len(unnamed) == len(left):
        files.update({t: b.code for t, b in zip(left, unnamed, strict=True)})
        method = "ordered" if len(unnamed) == len(blocks) else "named"
    elif unnamed:
        raise AssignmentError(
            f"{len(unnamed)} unnamed code block(s) for {len(left)} file(s) without a named "
            f"block ({', '.join(left)}): name each block's file (```python PATH) — "
            "AetherFlow does not guess")
    if (clash := _tree_clash(files)) is not None:
        raise AssignmentError(f"the reply's files clash: {clash}")
    return Assignment(files=files, method=method, notes=notes)


def assign_output(text: str, targets: Sequence[str], current: Mapping[str, str], *,
                  patch: PatchSpec | None = None, root: Path | None = None) -> Assignment:
    """The files a step's reply changes (see the module docstring for the rules).

    ``targets`` are the step's ``context.files``; ``current`` maps a path to the content
    the step sees now (it may be lazy: only ``in`` and ``[]`` are used); ``patch`` is
    ``context.patch``; ``root``, if given, is the directory the paths will be written
    under (the run's copy of the project), used to refuse paths through a symlink.

    Raises:
        AssignmentError: the reply cannot be applied; its ``reason`` is one line.
    """
    norm_targets = [_checked(t, root, "context.files has ") for t in targets]
    blocks = extract_code_blocks(text)
    diff = _diff_of(text, blocks)
    if diff is not None:
        return Assignment(files=apply_unified_diff(diff, current, root=root), method="diff")
    if patch is not None:
        return _assign_patch(text, blocks, norm_targets, current, patch)
    return _assign_blocks(text, blocks, norm_targets, root)
