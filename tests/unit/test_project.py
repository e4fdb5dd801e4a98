"""A project run's copy, views, diff and write-back (execution/project.py), on real trees in
tmp dirs: git's own listing and ``git apply`` are the ground truth where they can be."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from aetherflow.errors import (
    ConfigError,
    CorruptResultError,
    OutputError,
    ResultNotFoundError,
    WorkspaceError,
)
from aetherflow.execution import project as project_module
from aetherflow.execution.project import (
    BASE_DIR,
    DELETED_FILE,
    LINK_MIN_BYTES,
    LINK_MIN_FILES,
    MANIFEST_FILE,
    FileView,
    PendingSnapshot,
    Project,
    ProjectManifest,
    apply_to_project,
    choose_link,
    diff_stat,
    materialize_view,
    prepare_project_run,
    project_changes,
    record_deleted,
    run_changes,
    unified_diff,
)

GIT = shutil.which("git")
needs_git = pytest.mark.skipif(GIT is None, reason="git is not installed")


def _git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                          text=True, env=env).stdout


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


TREE = {
    ".gitignore": "*.log\n!keep.log\nbuild/\n/top_only.txt\n",
    "app.py": "print('app')\n",
    "keep.log": "kept\n",
    "debug.log": "ignored\n",
    "top_only.txt": "ignored at the top\n",
    "sub/top_only.txt": "kept: the pattern is anchored\n",
    "build/out.bin": "ignored dir\n",
    "pkg/__init__.py": "",
    "pkg/mod.py": "X = 1\n",
    "pkg/.gitignore": "*.tmp\n!important.tmp\n",
    "pkg/scratch.tmp": "ignored by the nested file\n",
    "pkg/important.tmp": "re-included\n",
    "pkg/deep/build/x.py": "ignored: build/ matches at any depth\n",
}
VISIBLE = sorted([".gitignore", "app.py", "keep.log", "sub/top_only.txt", "pkg/__init__.py",
                  "pkg/mod.py", "pkg/.gitignore", "pkg/important.tmp"])


# --- opening and listing ----------------------------------------------------------------------


def test_open_refuses_bad_paths_with_one_line(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"^--project .*missing: no such directory$"):
        Project.open(tmp_path / "missing")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(ConfigError, match=r"^--project .*f\.txt: not a directory$"):
        Project.open(tmp_path / "f.txt")

    def denied(path: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "scandir", denied)
    with pytest.raises(ConfigError, match=r"cannot be read \(Permission denied\)$"):
        Project.open(tmp_path)


def test_open_resolves_the_root(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    os.symlink(tmp_path / "p", tmp_path / "alias")
    assert Project.open(tmp_path / "alias").root == (tmp_path / "p").resolve()


def test_walk_applies_every_gitignore_like_git(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    root = _tree(tmp_path / "p", TREE)
    (root / ".git").mkdir()  # a bare .git dir without git's files: skipped, never listed
    (root / ".git" / "config").write_text("x")
    monkeypatch.setattr(shutil, "which", lambda name, **_: None)  # no git on this machine
    listing = Project.open(root).listing()
    assert listing.method == "gitignore"
    assert sorted(listing.files) == VISIBLE


@needs_git
def test_git_listing_matches_the_walk(tmp_path: Path) -> None:
    """The same tree listed by ``git ls-files -co --exclude-standard`` and by the walk."""
    root = _tree(tmp_path / "p", TREE)
    _git(root, "init", "-q")
    _git(root, "add", "app.py")
    _git(root, "commit", "-q", "-m", "one tracked file")
    listing = Project.open(root).listing()
    assert listing.method == "git"
    assert sorted(listing.files) == VISIBLE  # tracked and untracked, ignored left out


@needs_git
def test_a_tracked_file_deleted_from_the_work_tree_is_not_listed(tmp_path: Path) -> None:
    root = _tree(tmp_path / "p", {"a.py": "a\n", "b.py": "b\n"})
    _git(root, "init", "-q")
    _git(root, "add", ".")
    (root / "b.py").unlink()
    assert Project.open(root).files() == ["a.py"]


@needs_git
def test_a_project_ignored_by_its_enclosing_repository_is_walked(tmp_path: Path) -> None:
    outer = _tree(tmp_path / "outer", {".gitignore": "vendor/\n"})
    _git(outer, "init", "-q")
    inner = _tree(outer / "vendor" / "lib", {"m.py": "m\n", "x.log": "l\n",
                                              ".gitignore": "*.log\n"})
    listing = Project.open(inner).listing()
    assert listing.method == "gitignore" and sorted(listing.files) == [".gitignore", "m.py"]


def test_exclude_and_symlinks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name, **_: None)
    root = _tree(tmp_path / "p", {"a.py": "a\n", "runs/r1/workspace/x.py": "x\n",
                                  "data/d.txt": "d\n"})
    outside = _tree(tmp_path / "outside", {"secret.txt": "s\n"})
    os.symlink("a.py", root / "alias.py")
    os.symlink(outside / "secret.txt", root / "leak.txt")
    os.symlink("data", root / "data_link")
    os.symlink("missing.py", root / "dangling.py")
    os.mkfifo(root / "fifo")
    listing = Project.open(root).listing(exclude=[root / "runs", tmp_path / "elsewhere"])
    assert sorted(listing.files) == ["a.py", "data/d.txt"]
    assert listing.links == {"alias.py": "a.py", "data_link": "data"}
    assert set(listing.skipped) == {"leak.txt", "dangling.py", "fifo"}
    assert "outside the project" in listing.skipped["leak.txt"]
    assert listing.excluded == ["runs"]
    assert Project.open(root).files(exclude=[root / "runs"]) == [
        "a.py", "alias.py", "data/d.txt", "data_link"]


# --- the snapshot and its manifest ------------------------------------------------------------


def test_snapshot_copies_read_only_and_stamps_each_file(tmp_path: Path) -> None:
    root = _tree(tmp_path / "p", {"a.py": "print(1)\n", "bin/run.sh": "#!/bin/sh\necho\n",
                                  "pkg/m.py": "m = 1\n"})
    os.chmod(root / "bin/run.sh", 0o755)
    os.chmod(root / "pkg/m.py", 0o600)
    os.symlink("pkg/m.py", root / "link.py")
    base = tmp_path / "run" / BASE_DIR
    manifest = Project.open(root).snapshot(base)
    assert sorted(manifest.files) == ["a.py", "bin/run.sh", "pkg/m.py"]
    assert manifest.links == {"link.py": "pkg/m.py"}
    assert manifest.root == str(root.resolve()) and manifest.base == str(base)
    for rel, stamp in manifest.files.items():
        copied = base / rel
        assert copied.read_bytes() == (root / rel).read_bytes()
        assert stamp.sha256 == hashlib.sha256(copied.read_bytes()).hexdigest()
        assert stamp.size == copied.stat().st_size
        assert stamp.mtime_ns == (root / rel).stat().st_mtime_ns
    assert stat.S_IMODE((base / "a.py").stat().st_mode) == 0o444
    assert stat.S_IMODE((base / "pkg/m.py").stat().st_mode) == 0o444  # readable by a check
    assert stat.S_IMODE((base / "bin/run.sh").stat().st_mode) == 0o555
    assert manifest.files["bin/run.sh"].mode == 0o755
    assert os.readlink(base / "link.py") == "pkg/m.py"
    assert manifest.total_bytes == sum(s.size for s in manifest.files.values())


def test_snapshot_leaves_out_its_destination_and_refuses_a_full_one(tmp_path: Path) -> None:
    root = _tree(tmp_path / "p", {"a.py": "a\n", "runs/old/x.py": "old run\n"})
    manifest = Project.open(root).snapshot(root / "runs" / "new" / BASE_DIR,
                                           exclude=[root / "runs"])
    assert list(manifest.files) == ["a.py"] and manifest.excluded == ["runs"]
    with pytest.raises(OutputError, match="is not an empty directory"):
        Project.open(root).snapshot(root / "runs" / "old")


def test_snapshot_skips_an_unreadable_file_with_the_reason(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _tree(tmp_path / "p", {"a.py": "a\n", "locked.py": "l\n"})
    real_open = os.open

    def guarded(path: str | os.PathLike[str], flags: int, *args: int) -> int:
        if str(path).endswith("p/locked.py"):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", guarded)
    manifest = Project.open(root).snapshot(tmp_path / "base")
    assert list(manifest.files) == ["a.py"]
    assert manifest.skipped == {"locked.py": "cannot be read: Permission denied"}
    assert not (tmp_path / "base" / "locked.py").exists()


def test_a_background_snapshot_gives_the_same_copy_and_manifest(tmp_path: Path) -> None:
    root = _tree(tmp_path / "p", {"a.py": "a\n", "pkg/m.py": "m\n", "big.bin": "x" * 3_000_000})
    os.symlink("a.py", root / "alias.py")
    sync = Project.open(root).snapshot(tmp_path / "sync")
    pending = Project.open(root).start_snapshot(tmp_path / "bg")
    manifest = pending.wait(timeout=60)
    assert pending.done() and manifest is pending.manifest
    assert manifest.files == sync.files and manifest.links == sync.links
    for rel in sync.files:
        assert (tmp_path / "bg" / rel).read_bytes() == (tmp_path / "sync" / rel).read_bytes()
        assert (tmp_path / "bg" / rel).stat().st_mode == (tmp_path / "sync" / rel).stat().st_mode
    assert os.readlink(tmp_path / "bg" / "alias.py") == "a.py"


def test_a_file_changed_before_the_background_copy_fails_the_wait(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _tree(tmp_path / "p", {"a.py": "a\n", "b.py": "b\n"})
    copy = PendingSnapshot._copy

    def edit_then_copy(self: PendingSnapshot, src: Path, dest: Path) -> None:
        (root / "b.py").write_text("edited after hashing\n")
        copy(self, src, dest)

    monkeypatch.setattr(PendingSnapshot, "_copy", edit_then_copy)
    pending = Project.open(root).start_snapshot(tmp_path / "bg")
    with pytest.raises(ConfigError, match=r"^--project: b\.py changed while the run was "
                                          r"copying the project; start the run again$"):
        pending.wait(timeout=60)


def test_manifest_round_trip_and_bad_files(tmp_path: Path) -> None:
    root = _tree(tmp_path / "p", {"a.py": "a\n"})
    manifest = Project.open(root).snapshot(tmp_path / "base")
    manifest.save(tmp_path / MANIFEST_FILE)
    assert ProjectManifest.load(tmp_path / MANIFEST_FILE) == manifest
    with pytest.raises(ResultNotFoundError, match="no project manifest"):
        ProjectManifest.load(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text('{"root": 3}')
    with pytest.raises(CorruptResultError, match=r"not a project manifest: .*\(and \d+ more\)"):
        ProjectManifest.load(tmp_path / "bad.json")


# --- what changed since -----------------------------------------------------------------------


def test_project_changes(tmp_path: Path) -> None:
    root = _tree(tmp_path / "p", {"a.py": "a\n", "b.py": "b\n", "c.py": "c\n",
                                  ".gitignore": "*.log\n"})
    manifest = Project.open(root).snapshot(tmp_path / "base")
    assert project_changes(root, manifest) == []
    os.utime(root / "a.py", ns=(1, 1))  # touched, same content: no change
    (root / "new.log").write_text("ignored: no change\n")
    assert project_changes(root, manifest) == []
    (root / "b.py").write_text("B\n")  # same size, new content
    os.utime(root / "b.py", ns=(manifest.files["b.py"].mtime_ns,) * 2)
    assert project_changes(root, manifest) == []  # stat says unchanged...
    assert project_changes(root, manifest, verify=["b.py"]) == ["b.py"]  # ...the hash does not
    (root / "c.py").unlink()
    (root / "d.py").write_text("d\n")
    assert project_changes(root, manifest, verify=["b.py"]) == ["b.py", "c.py", "d.py"]


# --- a check's view ---------------------------------------------------------------------------


class _Sandbox:
    def __init__(self, protects: bool) -> None:
        self.protects_linked_files = protects


def test_choose_link() -> None:
    assert choose_link(_Sandbox(True), LINK_MIN_FILES, 0)
    assert choose_link(_Sandbox(True), 1, LINK_MIN_BYTES)
    assert not choose_link(_Sandbox(True), LINK_MIN_FILES - 1, LINK_MIN_BYTES - 1)
    assert not choose_link(_Sandbox(False), 10**6, 10**12)
    assert not choose_link(object(), 10**6, 10**12)


@pytest.fixture
def base(tmp_path: Path) -> Path:
    root = _tree(tmp_path / "p", {"a.py": "a\n", "pkg/m.py": "m\n", "run.sh": "#!/bin/sh\n"})
    os.chmod(root / "run.sh", 0o755)
    os.symlink("pkg/m.py", root / "link.py")
    Project.open(root).snapshot(tmp_path / "base")
    return tmp_path / "base"


def test_link_view_links_the_base_and_writes_the_overlay_as_new_files(
        base: Path, tmp_path: Path) -> None:
    view = materialize_view(tmp_path / "v", base, {"a.py": "A\n", "pkg/new.py": "n\n",
                                                   "run.sh": None}, link=True)
    assert os.stat(view / "pkg/m.py").st_ino == os.stat(base / "pkg/m.py").st_ino
    assert os.stat(view / "a.py").st_ino != os.stat(base / "a.py").st_ino
    assert (view / "a.py").read_text() == "A\n" and (base / "a.py").read_text() == "a\n"
    assert (view / "pkg/new.py").read_text() == "n\n"
    assert not (view / "run.sh").exists() and (base / "run.sh").exists()
    assert os.readlink(view / "link.py") == "pkg/m.py"
    assert not (view / "pkg").is_symlink()


def test_copy_view_is_a_writable_copy(base: Path, tmp_path: Path) -> None:
    view = materialize_view(tmp_path / "v", base, {"a.py": "A\n"}, link=False)
    assert os.stat(view / "pkg/m.py").st_ino != os.stat(base / "pkg/m.py").st_ino
    (view / "pkg/m.py").write_text("changed in the copy\n")
    assert (base / "pkg/m.py").read_text() == "m\n"
    assert os.access(view / "run.sh", os.X_OK)


def test_link_view_falls_back_to_copies_across_filesystems(
        base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def cross_device(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    view = materialize_view(tmp_path / "v", base, {}, link=True)
    assert (view / "a.py").read_text() == "a\n"
    assert os.stat(view / "a.py").st_ino != os.stat(base / "a.py").st_ino


@pytest.mark.parametrize(("name", "reason"), [
    ("../x.py", "escapes"), ("/abs.py", "absolute"), ("link.py", "symlink"),
    ("pkg", "is a directory"), ("a.py/b.py", "is a file, not a directory")])
def test_view_refuses_overlay_paths_outside_it(base: Path, tmp_path: Path, name: str,
                                               reason: str) -> None:
    with pytest.raises(WorkspaceError, match=reason):
        materialize_view(tmp_path / "v", base, {name: "x\n"}, link=True)
    assert not (tmp_path / "x.py").exists()


def test_view_without_base(tmp_path: Path) -> None:
    view = materialize_view(tmp_path / "v", None, {"a/b.py": "b\n"}, link=True)
    assert (view / "a/b.py").read_text() == "b\n"


def test_file_view_reads_the_base_on_demand(base: Path) -> None:
    files = FileView(base, ["a.py", "pkg/m.py"], {"a.py": "A\n", "pkg/m.py": None,
                                                  "n.py": "n\n"})
    assert files["a.py"] == "A\n" and files["n.py"] == "n\n"
    assert "pkg/m.py" not in files and files.get("pkg/m.py") is None
    assert list(files) == ["a.py", "n.py"] and len(files) == 2
    assert FileView(base, ["pkg/m.py"])["pkg/m.py"] == "m\n"
    with pytest.raises(KeyError):
        FileView(base, ["a.py"])["other.py"]


# --- diffs ------------------------------------------------------------------------------------


@needs_git
def test_unified_diff_is_accepted_by_git_apply(tmp_path: Path) -> None:
    """Ground truth: ``git apply`` takes AetherFlow's diff and produces the new tree."""
    before = {"m.py": "".join(f"l{i}\n" for i in range(30)), "gone.py": "bye\n",
              "eof.py": "no newline", "same.py": "same\n"}
    after: dict[str, str | None] = {
        "m.py": before["m.py"].replace("l3\n", "L3\n").replace("l25\n", "l25\nnew\n"),
        "gone.py": None, "eof.py": "no newline, changed", "new/file.py": "fresh\n",
        "same.py": "same\n"}
    repo = _tree(tmp_path / "r", {k: v for k, v in before.items()})
    _git(repo, "init", "-q")
    diff = unified_diff(before, after)
    assert "same.py" not in diff and "new file mode" in diff and "deleted file mode" in diff
    (tmp_path / "d.patch").write_text(diff)
    _git(repo, "apply", "--check", str(tmp_path / "d.patch"))
    _git(repo, "apply", str(tmp_path / "d.patch"))
    for rel, text in after.items():
        assert (repo / rel).read_text() == text if text is not None else \
            not (repo / rel).exists()


def test_diff_stat() -> None:
    stats = diff_stat({"a": "1\n2\n3\n", "b": "x\n"}, {"a": "1\nTWO\n3\n4\n", "b": None,
                                                      "c": "new\n"})
    assert [(s.path, s.insertions, s.deletions, s.status) for s in stats] == [
        ("a", 2, 1, "modified"), ("b", 0, 1, "deleted"), ("c", 1, 0, "added")]


# --- writing back -----------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, ProjectManifest]:
    root = _tree(tmp_path / "p", {"a.py": "a\n", "b.py": "b\n", "tool.sh": "#!/bin/sh\n"})
    os.chmod(root / "tool.sh", 0o750)
    return root, Project.open(root).snapshot(tmp_path / "base")


def test_apply_writes_modifies_creates_and_deletes(project: tuple[Path, ProjectManifest]
                                                   ) -> None:
    root, manifest = project
    result = apply_to_project(root, manifest, {"a.py": "A\n", "new/dir/n.py": "n\n",
                                               "b.py": None, "tool.sh": "#!/bin/sh\n"})
    assert (result.modified, result.created, result.deleted, result.unchanged) == (
        ["a.py"], ["new/dir/n.py"], ["b.py"], ["tool.sh"])
    assert (root / "a.py").read_text() == "A\n" and (root / "new/dir/n.py").read_text() == "n\n"
    assert not (root / "b.py").exists()
    assert "--- a/a.py\n+++ b/a.py\n" in result.diff and "+++ /dev/null" in result.diff
    assert not [p for p in root.rglob("*.tmp")]
    assert result.written == ["a.py", "b.py", "new/dir/n.py"]


def test_apply_keeps_the_file_mode(project: tuple[Path, ProjectManifest]) -> None:
    root, manifest = project
    apply_to_project(root, manifest, {"tool.sh": "#!/bin/sh\necho hi\n"})
    assert stat.S_IMODE((root / "tool.sh").stat().st_mode) == 0o750


def test_apply_refuses_a_changed_project_and_writes_nothing(
        project: tuple[Path, ProjectManifest]) -> None:
    root, manifest = project
    (root / "b.py").write_text("edited by the user during the run\n")
    with pytest.raises(ConfigError, match=r"^--apply refused: the project changed since the "
                                          r"run copied it \(1 file\(s\): b\.py\); nothing"):
        apply_to_project(root, manifest, {"a.py": "A\n", "c.py": "c\n"})
    assert (root / "a.py").read_text() == "a\n" and not (root / "c.py").exists()


@pytest.mark.parametrize(("name", "reason"), [
    ("../escape.py", "escapes the project"), ("/etc/x.py", "absolute path"),
    ("link/x.py", "symlink")])
def test_apply_refuses_paths_outside_the_project(project: tuple[Path, ProjectManifest],
                                                 tmp_path: Path, name: str,
                                                 reason: str) -> None:
    root, manifest = project
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", root / "link")
    manifest = Project.open(root).snapshot(tmp_path / "base2")
    with pytest.raises(ConfigError, match=reason):
        apply_to_project(root, manifest, {"a.py": "A\n", name: "x\n"})
    assert (root / "a.py").read_text() == "a\n"
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_apply_never_overwrites_a_file_the_run_did_not_copy(tmp_path: Path) -> None:
    root = _tree(tmp_path / "p", {"a.py": "a\n", ".gitignore": ".env\n", ".env": "KEY=1\n"})
    manifest = Project.open(root).snapshot(tmp_path / "base")
    assert ".env" not in manifest.files
    with pytest.raises(ConfigError, match=r"'\.env': it exists in the project but the run did "
                                          r"not copy it"):
        apply_to_project(root, manifest, {"a.py": "A\n", ".env": "KEY=stolen\n"})
    assert (root / ".env").read_text() == "KEY=1\n" and (root / "a.py").read_text() == "a\n"


def test_apply_to_a_project_that_is_gone(project: tuple[Path, ProjectManifest]) -> None:
    root, manifest = project
    shutil.rmtree(root)
    with pytest.raises(ConfigError, match=r"^--project .*: no such directory$"):
        apply_to_project(root, manifest, {"a.py": "A\n"})


def test_an_unreadable_directory_is_skipped_with_the_reason(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name, **_: None)
    root = _tree(tmp_path / "p", {"a.py": "a\n", "locked/b.py": "b\n"})
    real_scandir = os.scandir

    def guarded(path: str | os.PathLike[str]) -> object:
        if str(path).endswith("locked"):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", guarded)
    listing = Project(root=root.resolve()).listing()
    assert listing.files == ["a.py"]
    assert listing.skipped == {"locked": "directory cannot be read: Permission denied"}


def test_a_failure_while_staging_writes_nothing(project: tuple[Path, ProjectManifest],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    root, manifest = project
    calls = []

    def full_disk(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OutputError, match="No space left on device; nothing was written"):
        apply_to_project(root, manifest, {"a.py": "A\n", "z/new.py": "n\n"})
    assert (root / "a.py").read_text() == "a\n"
    assert sorted(p.name for p in root.iterdir()) == ["a.py", "b.py", "tool.sh"]


# --- a run directory --------------------------------------------------------------------------


def _project_run(tmp_path: Path) -> tuple[Path, Path]:
    root = _tree(tmp_path / "p", {"a.py": "a\n", "b.py": "b\n", "c.py": "c\n"})
    run = tmp_path / "run"
    manifest = Project.open(root).snapshot(run / BASE_DIR)
    manifest.base = BASE_DIR  # relative to the run directory
    manifest.save(run / MANIFEST_FILE)
    _tree(run / "workspace", {"a.py": "A\n", "b.py": "b\n", "new.py": "n\n"})
    record_deleted(run, ["c.py"])
    return root, run


def test_run_changes(tmp_path: Path) -> None:
    root, run = _project_run(tmp_path)
    changes = run_changes(run)
    assert changes.after == {"a.py": "A\n", "new.py": "n\n", "c.py": None}
    assert changes.before == {"a.py": "a\n", "new.py": None, "c.py": "c\n"}
    assert changes.diff().startswith("diff --git a/a.py b/a.py\n")
    assert json.loads((run / DELETED_FILE).read_text()) == ["c.py"]
    for path in (run / BASE_DIR).rglob("*"):  # the copy spoiled: originals from the project
        if path.is_file():
            path.chmod(0o644)
            path.write_text("tampered\n")
    assert run_changes(run).before["a.py"] == "a\n"
    (root / "a.py").write_text("changed\n")
    with pytest.raises(ResultNotFoundError, match=r"the original of a\.py is gone"):
        run_changes(run)


@pytest.mark.parametrize("background", [True, False])
def test_prepare_project_run(tmp_path: Path, background: bool) -> None:
    root = _tree(tmp_path / "p", {"a.py": "a\n", "runs/old/x.py": "old\n"})
    run = root / "runs" / "new"
    run.mkdir(parents=True)
    (run / "journal.jsonl").write_text("{}\n")
    pending = prepare_project_run(Project.open(root), run, exclude=[root / "runs"],
                                  background=background)
    manifest = pending.wait(timeout=60)
    saved = ProjectManifest.load(run / MANIFEST_FILE)
    assert saved.base == BASE_DIR and saved.base_path(run) == run / BASE_DIR
    assert list(saved.files) == ["a.py"] == list(manifest.files)
    assert (run / BASE_DIR / "a.py").read_text() == "a\n"
    assert pending.files({"b.py": "b\n"}) == {"a.py": "a\n", "b.py": "b\n"}
    assert run_changes(run).after == {}


def test_a_pending_snapshot_reads_the_project_until_its_copy_is_done(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _tree(tmp_path / "p", {"a.py": "a\n", "b.py": "b\n"})
    release = threading.Event()
    copy = PendingSnapshot._copy

    def held_copy(self: PendingSnapshot, src: Path, dest: Path) -> None:
        release.wait(30)
        copy(self, src, dest)

    monkeypatch.setattr(PendingSnapshot, "_copy", held_copy)
    pending = prepare_project_run(Project.open(root), tmp_path / "run")
    assert not pending.done()
    files = pending.files()
    assert files["a.py"] == "a\n"  # from the project, hash checked
    with pytest.raises(KeyError):
        pending.read_bytes("missing.py")
    (root / "b.py").write_text("edited\n")
    with pytest.raises(ConfigError, match=r"b\.py changed after the run copied the project"):
        files["b.py"]
    release.set()
    with pytest.raises(ConfigError, match="changed while the run was copying"):
        pending.wait(timeout=60)


def test_run_changes_of_a_run_that_is_not_a_project_run(tmp_path: Path) -> None:
    with pytest.raises(ResultNotFoundError, match="no such run directory"):
        run_changes(tmp_path / "nope")
    (tmp_path / "plain").mkdir()
    with pytest.raises(ResultNotFoundError, match=r"is not a project run \(no "
                                                  r"project_manifest\.json"):
        run_changes(tmp_path / "plain")


def test_exports_are_pinned() -> None:
    assert project_module.__all__ == [
        "BASE_DIR", "DELETED_FILE", "LINK_MIN_BYTES", "LINK_MIN_FILES", "MANIFEST_FILE",
        "ApplyResult", "DiffStat", "FileStamp", "FileView", "PendingSnapshot", "Project",
        "ProjectListing",
        "ProjectManifest", "ReadySnapshot", "RunChanges", "Snapshot", "apply_to_project",
        "choose_link", "diff_stat",
        "materialize_view", "prepare_project_run", "project_changes", "record_deleted",
        "run_changes", "unified_diff"]
