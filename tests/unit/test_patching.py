"""The rules that turn a model's reply into file contents (execution/patching.py), one table
per rule, failure cases included: never a guess, never a silently corrupted file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aetherflow.errors import AetherFlowError
from aetherflow.execution import patching
from aetherflow.execution.patching import (
    Assignment,
    AssignmentError,
    apply_unified_diff,
    assign_output,
    is_diff_text,
    path_problem,
    split_lines,
)
from aetherflow.execution.project import unified_diff
from aetherflow.plan.models import PatchSpec

F = "```"
STORE = "class Store:\n    def __init__(self):\n        self.items = {}\n\n" \
        "    # AETHERFLOW: new methods here\n"
CURRENT = {"app.py": "print('old')\n", "lib/util.py": "X = 1\n", "store.py": STORE}


@dataclass(frozen=True)
class Case:
    """One reply, what the step works on, and the files it must produce."""

    name: str
    reply: str
    targets: tuple[str, ...]
    expected: dict[str, str | None]
    method: str


WHOLE_FILE_CASES = [
    Case("one unnamed block fills the one target",
         f"Here:\n{F}python\nprint('new')\n{F}\n", ("app.py",),
         {"app.py": "print('new')\n"}, "ordered"),
    Case("unnamed blocks fill targets in order when counts match",
         f"{F}python\nA = 1\n{F}\ntext\n{F}python\nB = 2\n{F}\n", ("app.py", "lib/util.py"),
         {"app.py": "A = 1\n", "lib/util.py": "B = 2\n"}, "ordered"),
    Case("a block named in the info string goes to that file",
         f"{F}python lib/util.py\nX = 2\n{F}\n", ("app.py", "lib/util.py"),
         {"lib/util.py": "X = 2\n"}, "named"),
    Case("a # file: comment names the block's file",
         f"{F}python\n# file: app.py\nprint(2)\n{F}\n", ("app.py",),
         {"app.py": "print(2)\n"}, "named"),  # the label line is not content
    Case("named blocks first, then the unnamed one fills the unnamed target",
         f"{F}python\nU = 1\n{F}\n{F}python app.py\nN = 1\n{F}\n", ("app.py", "lib/util.py"),
         {"app.py": "N = 1\n", "lib/util.py": "U = 1\n"}, "named"),
    Case("a named new file beside the targets is written too",
         f"{F}python app.py\nA = 1\n{F}\n{F}python lib/new.py\nB = 1\n{F}\n", ("app.py",),
         {"app.py": "A = 1\n", "lib/new.py": "B = 1\n"}, "named"),
    Case("unnamed blocks are left out when every target has a named block",
         f"{F}python app.py\nA = 1\n{F}\n{F}bash\npytest -q\n{F}\n", ("app.py",),
         {"app.py": "A = 1\n"}, "named"),
    Case("./ and backslashes are normalised",
         f"{F}python .\\lib\\util.py\nX = 3\n{F}\n", ("lib/util.py",),
         {"lib/util.py": "X = 3\n"}, "named"),
]


@pytest.mark.parametrize("case", WHOLE_FILE_CASES, ids=lambda c: c.name)
def test_whole_file_rules(case: Case) -> None:
    got = assign_output(case.reply, case.targets, CURRENT, patch=None)
    assert got.files == case.expected
    assert got.method == case.method


def test_unnamed_blocks_left_out_are_reported() -> None:
    got = assign_output(f"{F}python app.py\nA = 1\n{F}\n{F}bash\nls\n{F}\n", ["app.py"],
                        CURRENT)
    assert got.notes and "unnamed" in got.notes[0]
    partial = assign_output(f"{F}python app.py\nA = 1\n{F}\n", ["app.py", "lib/util.py"],
                            CURRENT)
    assert partial.notes == ("left unchanged: lib/util.py",)


WHOLE_FILE_FAILURES = [
    ("one unnamed block for two files", f"{F}python\nA = 1\n{F}\n",
     ("app.py", "lib/util.py"), "1 unnamed code block(s) for 2 file(s)"),
    ("more unnamed blocks than targets", f"{F}python\nA = 1\n{F}\n{F}python\nB = 1\n{F}\n",
     ("app.py",), "2 unnamed code block(s) for 1 file(s)"),
    ("no code block at all", "I would rename the function.", ("app.py",),
     "no code block for app.py"),
    ("a block cut off at the token limit", f"Here:\n{F}python\ndef f():\n    return",
     ("app.py",), "no code block for app.py: it opens a code block that is never closed "
                  "(cut off at the token limit?)"),
    ("the same file named twice", f"{F}python app.py\nA\n{F}\n{F}python app.py\nB\n{F}\n",
     ("app.py",), "two code blocks name app.py"),
    ("a file that is another's directory", f"{F}python a.py\nA\n{F}\n{F}python a.py/b.py\n"
     f"B\n{F}\n", (), "is both a file and the directory"),
    ("an absolute path", f"{F}python /etc/passwd.py\nx\n{F}\n", ("app.py",),
     "absolute path"),
    ("a path with ..", f"{F}python ../outside.py\nx\n{F}\n", ("app.py",),
     "escapes the project"),
    ("a target with ..", f"{F}python\nx\n{F}\n", ("../x.py",), "escapes the project"),
]


@pytest.mark.parametrize(("name", "reply", "targets", "reason"), WHOLE_FILE_FAILURES,
                         ids=[c[0] for c in WHOLE_FILE_FAILURES])
def test_whole_file_failures(name: str, reply: str, targets: tuple[str, ...],
                             reason: str) -> None:
    with pytest.raises(AssignmentError) as info:
        assign_output(reply, targets, CURRENT)
    assert reason in info.value.reason
    assert "\n" not in str(info.value)


# --- context.patch ----------------------------------------------------------------------------

METHOD = "def count(self):\n    return len(self.items)\n"
PATCH_CASES = [
    ("after", f"{F}python\n{METHOD}{F}\n",
     STORE + "    def count(self):\n        return len(self.items)\n"),
    ("before", f"{F}python\n{METHOD}{F}\n",
     STORE.replace("    # AETHERFLOW", "    def count(self):\n        return len(self.items)\n"
                   "    # AETHERFLOW")),
    ("replace", f"{F}python\n{METHOD}{F}\n",
     STORE.replace("    # AETHERFLOW: new methods here\n",
                   "    def count(self):\n        return len(self.items)\n")),
    ("after", f"{F}python\n    def count(self):\n        return 0\n{F}\n",
     STORE + "    def count(self):\n        return 0\n"),  # already indented: kept as is
    ("after", f"{F}python store.py\n# file: store.py\n{METHOD}{F}\n",
     STORE + "    def count(self):\n        return len(self.items)\n"),  # name comment dropped
]


@pytest.mark.parametrize(("position", "reply", "expected"), PATCH_CASES)
def test_patch_rules(position: str, reply: str, expected: str) -> None:
    spec = PatchSpec(position=position, marker="AETHERFLOW: new methods here")  # type: ignore[arg-type]
    got = assign_output(reply, ["store.py"], CURRENT, patch=spec)
    assert got == Assignment(files={"store.py": expected}, method="patch")
    compile(expected, "store.py", "exec")


def test_patch_at_a_last_line_without_newline() -> None:
    spec = PatchSpec(position="after", marker="# END")
    got = assign_output(f"{F}\nb = 2\n{F}\n", ["m.py"], {"m.py": "a = 1\n# END"}, patch=spec)
    assert got.files == {"m.py": "a = 1\n# END\nb = 2\n"}


PATCH_FAILURES = [
    ("marker not found", "NOT THERE", ["store.py"], f"{F}\nx\n{F}\n",
     "patch marker 'NOT THERE' not found in store.py"),
    ("marker found twice", "self", ["store.py"], f"{F}\nx\n{F}\n",
     "found 2 times in store.py (lines 2, 3): ambiguous"),
    ("two blocks", "AETHERFLOW", ["store.py"], f"{F}\nx\n{F}\n{F}\ny\n{F}\n",
     "exactly one code block, the reply has 2"),
    ("no block", "AETHERFLOW", ["store.py"], "add a count method", "the reply has 0"),
    ("a cut-off block", "AETHERFLOW", ["store.py"], f"{F}python\ndef count(self):",
     "the reply has 0: it opens a code block that is never closed"),
    ("two files", "AETHERFLOW", ["store.py", "app.py"], f"{F}\nx\n{F}\n",
     "exactly one file in context.files, the step has 2"),
    ("block names another file", "AETHERFLOW", ["store.py"], f"{F}python app.py\nx\n{F}\n",
     "names 'app.py', but the step patches store.py"),
    ("file missing", "AETHERFLOW", ["nope.py"], f"{F}\nx\n{F}\n",
     "nope.py, does not exist"),
]


@pytest.mark.parametrize(("name", "marker", "targets", "reply", "reason"), PATCH_FAILURES,
                         ids=[c[0] for c in PATCH_FAILURES])
def test_patch_failures(name: str, marker: str, targets: list[str], reply: str,
                        reason: str) -> None:
    with pytest.raises(AssignmentError) as info:
        assign_output(reply, targets, CURRENT, patch=PatchSpec(position="after", marker=marker))
    assert reason in info.value.reason


# --- unified diffs ----------------------------------------------------------------------------

CODE = "".join(f"line {i}\n" for i in range(1, 21))
DIFF_CURRENT = {"m.py": CODE, "gone.py": "a\nb\n", "old.py": "keep\n"}

DIFF_CASES = [
    ("a fenced diff", f"{F}diff\n--- a/m.py\n+++ b/m.py\n@@ -2,3 +2,3 @@\n line 2\n-line 3\n"
     "+LINE 3\n line 4\n" + F + "\n", {"m.py": CODE.replace("line 3\n", "LINE 3\n")}),
    ("an unfenced git diff", "diff --git a/m.py b/m.py\nindex 1..2 100644\n--- a/m.py\n"
     "+++ b/m.py\n@@ -19,2 +19,3 @@\n line 19\n line 20\n+line 21\n",
     {"m.py": CODE + "line 21\n"}),
    ("a hunk at another line than stated, found once", f"{F}diff\n--- a/m.py\n+++ b/m.py\n"
     "@@ -1,3 +1,3 @@\n line 10\n-line 11\n+eleven\n line 12\n" + F + "\n",
     {"m.py": CODE.replace("line 11\n", "eleven\n")}),
    ("wrong @@ counts: the hunk's lines are what counts", f"{F}diff\n--- a/m.py\n+++ b/m.py\n"
     "@@ -5,1 +5,1 @@\n line 5\n-line 6\n+six\n line 7\n" + F + "\n",
     {"m.py": CODE.replace("line 6\n", "six\n")}),
    ("a bare @@ with no numbers", f"{F}diff\n--- a/m.py\n+++ b/m.py\n@@\n line 7\n-line 8\n"
     "+eight\n" + F + "\n", {"m.py": CODE.replace("line 8\n", "eight\n")}),
    ("two hunks in order", f"{F}diff\n--- a/m.py\n+++ b/m.py\n@@ -1,2 +1,2 @@\n-line 1\n"
     "+one\n line 2\n@@ -15,2 +15,2 @@\n line 15\n-line 16\n+sixteen\n" + F + "\n",
     {"m.py": CODE.replace("line 1\n", "one\n", 1).replace("line 16\n", "sixteen\n")}),
    ("a new file", f"{F}diff\n--- /dev/null\n+++ b/pkg/new.py\n@@ -0,0 +1,2 @@\n+a = 1\n"
     "+b = 2\n" + F + "\n", {"pkg/new.py": "a = 1\nb = 2\n"}),
    ("a deletion", f"{F}diff\n--- a/gone.py\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-a\n-b\n"
     + F + "\n", {"gone.py": None}),
    ("a rename with a change", f"{F}diff\ndiff --git a/old.py b/new.py\nrename from old.py\n"
     "rename to new.py\n--- a/old.py\n+++ b/new.py\n@@ -1 +1 @@\n-keep\n+kept\n" + F + "\n",
     {"old.py": None, "new.py": "kept\n"}),
    ("a blank context line with its space stripped", f"{F}diff\n--- a/s.py\n+++ b/s.py\n"
     "@@ -1,3 +1,3 @@\n a\n\n-b\n+B\n" + F + "\n", {"s.py": "a\n\nB\n"}),
    ("no newline at end of file", f"{F}diff\n--- a/n.py\n+++ b/n.py\n@@ -1 +1 @@\n-x\n"
     "\\ No newline at end of file\n+y\n" + F + "\n", {"n.py": "y\n"}),
]


@pytest.mark.parametrize(("name", "reply", "expected"), DIFF_CASES,
                         ids=[c[0] for c in DIFF_CASES])
def test_diff_rules(name: str, reply: str, expected: dict[str, str | None]) -> None:
    current = {**DIFF_CURRENT, "s.py": "a\n\nb\n", "n.py": "x"}
    got = assign_output(reply, ["m.py"], current)
    assert got.method == "diff"
    assert got.files == expected


DIFF_FAILURES = [
    ("context that does not match", f"{F}diff\n--- a/m.py\n+++ b/m.py\n@@ -2,2 +2,2 @@\n"
     " line 2\n-line three\n+3\n" + F + "\n",
     "the diff does not apply to m.py: hunk 1 (@@ -2,2 +2,2 @@): its lines are not in the "
     "file (line 3 is 'line 3', expected 'line three')"),
    ("whitespace differs (no fuzz)", f"{F}diff\n--- a/m.py\n+++ b/m.py\n@@ -2 +2 @@\n"
     "-line 2 \n+x\n" + F + "\n", "hunk 1"),
    ("an ambiguous hunk", f"{F}diff\n--- a/d.py\n+++ b/d.py\n@@ -9 +9 @@\n-x\n+y\n" + F + "\n",
     "its lines match at 2 places (lines 1, 2): ambiguous"),
    ("hunks out of order", f"{F}diff\n--- a/m.py\n+++ b/m.py\n@@ -15 +15 @@\n-line 15\n+f\n"
     "@@ -2 +2 @@\n-line 2\n+t\n" + F + "\n", "hunk 2"),
    ("a file that does not exist", f"{F}diff\n--- a/nope.py\n+++ b/nope.py\n@@ -1 +1 @@\n"
     "-a\n+b\n" + F + "\n", "changes nope.py, which is not a file of the project"),
    ("a new file that exists", f"{F}diff\n--- /dev/null\n+++ b/m.py\n@@ -0,0 +1 @@\n+a\n"
     + F + "\n", "creates m.py, which already exists"),
    ("a partial deletion", f"{F}diff\n--- a/gone.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-a\n"
     + F + "\n", "hunks do not remove all of it"),
    ("a path escaping the project", f"{F}diff\n--- a/../x.py\n+++ b/../x.py\n@@ -1 +1 @@\n"
     "-a\n+b\n" + F + "\n", "'../x.py': path escapes the project"),
    ("an absolute path", "--- /etc/passwd\n+++ /etc/passwd\n@@ -1 +1 @@\n-a\n+b\n",
     "absolute path"),
    ("a diff mixed with code blocks", f"{F}diff\n--- a/m.py\n+++ b/m.py\n@@ -1 +1 @@\n"
     f"-line 1\n+x\n{F}\n{F}python\nprint()\n{F}\n", "mixes a diff with 1 other code block"),
    ("a hunk before any header", f"{F}diff\n@@ -1 +1 @@\n-a\n+b\n{F}\n",
     "a hunk before any file header"),
    ("a binary patch", f"{F}diff\ndiff --git a/i.png b/i.png\nGIT binary patch\n{F}\n",
     "binary patch"),
]


@pytest.mark.parametrize(("name", "reply", "reason"), DIFF_FAILURES,
                         ids=[c[0] for c in DIFF_FAILURES])
def test_diff_failures(name: str, reply: str, reason: str) -> None:
    current = {**DIFF_CURRENT, "d.py": "x\nx\n"}
    with pytest.raises(AssignmentError) as info:
        assign_output(reply, ["m.py"], current)
    assert reason in info.value.reason
    assert "\n" not in info.value.reason


def test_a_diff_is_applied_even_on_a_patch_step() -> None:
    reply = f"{F}diff\n--- a/m.py\n+++ b/m.py\n@@ -1 +1 @@\n-line 1\n+one\n{F}\n"
    got = assign_output(reply, ["m.py"], DIFF_CURRENT,
                        patch=PatchSpec(position="after", marker="line 20"))
    assert got.method == "diff" and got.files["m.py"].startswith("one\n")  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "expected"), [
    ("diff --git a/x b/x\n", True), ("\n--- a/x\n+++ b/x\n", True), ("--- a/x\nfoo\n", False),
    ("Here is a diff:\n--- a/x\n+++ b/x\n", False), ("- item\n+ item\n", False)])
def test_is_diff_text(text: str, expected: bool) -> None:
    assert is_diff_text(text) is expected


# --- the project boundary on disk -------------------------------------------------------------


def test_paths_through_symlinks_and_onto_directories_are_refused(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("a\n")
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    os.symlink(outside, tmp_path / "out")
    os.symlink(tmp_path / "pkg" / "a.py", tmp_path / "alias.py")
    assert path_problem("pkg/a.py", tmp_path) is None
    assert path_problem("pkg/new.py", tmp_path) is None
    assert path_problem("out/x.py", tmp_path) == "path goes through a symlink: refused"
    assert path_problem("alias.py", tmp_path) == "path goes through a symlink: refused"
    assert path_problem("pkg", tmp_path) == "is a directory"
    assert path_problem("pkg/a.py/b.py", tmp_path) == "pkg/a.py is a file, not a directory"
    with pytest.raises(AssignmentError, match="symlink"):
        assign_output(f"{F}python out/x.py\nx\n{F}\n", ["pkg/a.py"], {}, root=tmp_path)
    assert list(outside.iterdir()) == []


def test_changed_leaves_out_what_is_already_there() -> None:
    got = Assignment(files={"a": "1\n", "b": "new\n", "c": None, "d": None}, method="diff")
    assert got.changed({"a": "1\n", "b": "old\n", "c": "x"}) == {"b": "new\n", "c": None}


# --- properties -------------------------------------------------------------------------------

_line = st.text(alphabet=st.sampled_from("ab -+@\\ \t"), max_size=6)
_text = st.lists(_line, max_size=25).map(lambda ls: "".join(x + "\n" for x in ls)) | \
    st.lists(_line, min_size=1, max_size=25).map("\n".join)


@settings(max_examples=300, deadline=None)
@given(before=_text, after=_text)
def test_applying_our_own_diff_gives_the_new_text(before: str, after: str) -> None:
    """Whatever the lines look like (diff markers included), AetherFlow's diff of two texts
    applies back exactly."""
    diff = unified_diff({"f.txt": before}, {"f.txt": after})
    if before == after:
        assert diff == ""
        return
    assert apply_unified_diff(diff, {"f.txt": before}) == {"f.txt": after}


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200))
def test_split_lines_round_trips(text: str) -> None:
    lines = split_lines(text)
    assert "".join(lines) == text
    assert all(line.endswith("\n") for line in lines[:-1])


def test_exports_are_pinned() -> None:
    assert patching.__all__ == ["Assignment", "AssignmentError", "AssignmentMethod",
                                "apply_unified_diff", "assign_output", "is_diff_text",
                                "path_problem", "split_lines"]
    assert issubclass(AssignmentError, AetherFlowError)
