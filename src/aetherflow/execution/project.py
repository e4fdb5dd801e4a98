"""A real codebase a run works on (``--project DIR``): its copy, its checks' views, its diff,
and writing the run's changes back (``--apply``).

The project itself is never written during a run. :meth:`Project.snapshot` copies the files
the run may see (``.gitignore`` respected) into the run's **base** (read-only files) and
records each one's size, mtime and SHA-256 in a :class:`ProjectManifest`. Steps work on views
of that base; a check runs in :func:`materialize_view` (the base plus the step's files, as a
hard-link farm or a real copy). ``aetherflow diff`` shows :func:`run_changes`; ``--apply``
calls :func:`apply_to_project`, which refuses if any project file changed since the snapshot.

Run-directory layout of a project run (the names are constants here)::

    RUN_DIR/project_manifest.json   the snapshot's manifest (MANIFEST_FILE)
    RUN_DIR/project_base/           the read-only copy of the project (BASE_DIR)
    RUN_DIR/workspace/              the files the steps wrote (changed or new files only)
    RUN_DIR/project_deleted.json    project files a step deleted (DELETED_FILE), if any
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import hashlib
import json
import os
import secrets
import shutil
import stat
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Literal, Protocol

import pathspec
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aetherflow.errors import (
    AetherFlowError,
    ConfigError,
    CorruptResultError,
    OutputError,
    ResultNotFoundError,
    WorkspaceError,
    one_line_error,
)
from aetherflow.execution.patching import path_problem, split_lines

__all__ = [
    "BASE_DIR",
    "DELETED_FILE",
    "LINK_MIN_BYTES",
    "LINK_MIN_FILES",
    "MANIFEST_FILE",
    "ApplyResult",
    "DiffStat",
    "FileStamp",
    "FileView",
    "PendingSnapshot",
    "Project",
    "ProjectListing",
    "ProjectManifest",
    "ReadySnapshot",
    "RunChanges",
    "Snapshot",
    "apply_to_project",
    "choose_link",
    "diff_stat",
    "materialize_view",
    "prepare_project_run",
    "project_changes",
    "record_deleted",
    "run_changes",
    "unified_diff",
]

MANIFEST_FILE = "project_manifest.json"
BASE_DIR = "project_base"
DELETED_FILE = "project_deleted.json"
#: A check's view is a hard-link farm (not a copy) when the base has at least this many files
#: or bytes, and only on a sandbox that protects linked files (bwrap as root). Below both, a
#: copy costs little (measured by ``benchmarks/project_startup.py``) and is the simpler thing.
LINK_MIN_FILES = 500
LINK_MIN_BYTES = 16 << 20
_CHUNK = 1 << 20
_RO_MODE = 0o444
_GIT_ENV_DROP = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                 "GIT_CEILING_DIRECTORIES", "GIT_NAMESPACE")


# --- the manifest -----------------------------------------------------------------------------


class FileStamp(BaseModel):
    """One project file as the snapshot saw it: size, mtime (ns), SHA-256 of its bytes and its
    permission bits (the base copy itself is read-only)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: int = Field(ge=0)
    mtime_ns: int
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    mode: int = Field(default=0o644, ge=0, le=0o7777)


class ProjectManifest(BaseModel):
    """What a run copied from its project: the source of truth for ``diff`` and ``--apply``.

    ``root`` is the project's absolute path; ``base`` where the copy is (relative paths are
    relative to the manifest's directory, i.e. the run directory); ``files`` the copied
    regular files; ``links`` symlinks that stay inside the project (path -> relative target,
    recreated in the copy); ``skipped`` what was seen but not copied, with the reason;
    ``excluded`` project-relative directories left out (e.g. a run directory inside the
    project); ``listing`` how the file list was made (``git ls-files`` or the ``.gitignore``
    walk).
    """

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    root: str
    base: str | None = None
    listing: Literal["git", "gitignore"]
    files: dict[str, FileStamp]
    links: dict[str, str] = Field(default_factory=dict)
    skipped: dict[str, str] = Field(default_factory=dict)
    excluded: list[str] = Field(default_factory=list)
    created_at: datetime

    @property
    def total_bytes(self) -> int:
        """The size of every copied file together."""
        return sum(s.size for s in self.files.values())

    def base_path(self, relative_to: Path) -> Path | None:
        """Where the copy is, resolving a relative ``base`` against ``relative_to``."""
        if self.base is None:
            return None
        base = Path(self.base)
        return base if base.is_absolute() else relative_to / base

    def save(self, path: Path) -> None:
        """Write the manifest to ``path`` atomically (a temp file beside it, then renamed)."""
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            tmp.write_text(self.model_dump_json(indent=1), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise OutputError(f"cannot write the project manifest {path}: "
                              f"{exc.strerror or exc}") from exc

    @classmethod
    def load(cls, path: Path) -> ProjectManifest:
        """Read a manifest; a missing file is :class:`ResultNotFoundError`, a bad one
        :class:`CorruptResultError` (one line each)."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise ResultNotFoundError(f"{path}: no project manifest") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise CorruptResultError(f"{path}: cannot be read: {exc}") from exc
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            raise CorruptResultError(f"{path}: not a project manifest: "
                                     f"{one_line_error(exc)}") from exc


# --- listing and copying the project ----------------------------------------------------------


@dataclass(frozen=True)
class ProjectListing:
    """The files of a project a run may see, and what was left out with the reason."""

    files: list[str]
    links: dict[str, str]
    skipped: dict[str, str]
    excluded: list[str]
    method: Literal["git", "gitignore"]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _printable(name: str) -> str:
    return os.fsencode(name).decode("utf-8", "replace")


def _git_names(root: Path) -> list[str] | None:
    """``git ls-files -co --exclude-standard`` under ``root``; None when git is missing,
    fails (not a work tree, unsafe ownership) or lists nothing (``root`` is ignored by an
    enclosing repository)."""
    git = shutil.which("git")
    if git is None:
        return None
    env = {k: v for k, v in os.environ.items() if k not in _GIT_ENV_DROP}
    try:
        done = subprocess.run([git, "-C", str(root), "ls-files", "-z", "-c", "-o",
                               "--exclude-standard"], capture_output=True, env=env,
                              timeout=300, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    names = sorted({os.fsdecode(n) for n in done.stdout.split(b"\0") if n})
    return names or None


def _ignored(rel: str, is_dir: bool, specs: Sequence[tuple[str, pathspec.GitIgnoreSpec]]) -> bool:
    """git's rule: the deepest ``.gitignore`` with a matching pattern decides; within one
    file the last matching pattern wins (``!`` re-includes)."""
    for base, spec in reversed(specs):
        sub = rel[len(base) + 1:] if base else rel
        result = spec.check_file(sub + "/" if is_dir else sub)
        if result.include is not None:
            return bool(result.include)
    return False


def _walk_names(root: Path, excluded: Sequence[str], skipped: dict[str, str]) -> list[str]:
    """Every file under ``root`` that the ``.gitignore`` files there do not exclude (``.git``
    and ``excluded`` directories skipped; symlinked directories not entered; a directory
    that cannot be read is added to ``skipped`` with the reason)."""
    out: list[str] = []

    def visit(rel_dir: str, specs: list[tuple[str, pathspec.GitIgnoreSpec]]) -> None:
        directory = root / rel_dir if rel_dir else root
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            if not rel_dir:
                raise
            skipped[rel_dir] = f"directory cannot be read: {exc.strerror or exc}"
            return
        if any(e.name == ".gitignore" and e.is_file() for e in entries):
            with contextlib.suppress(OSError, UnicodeDecodeError):
                lines = (directory / ".gitignore").read_text(encoding="utf-8").splitlines()
                specs = [*specs, (rel_dir, pathspec.GitIgnoreSpec.from_lines(lines))]
        for entry in entries:
            if entry.name == ".git":
                continue
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            is_dir = entry.is_dir(follow_symlinks=False)
            if rel in excluded or _ignored(rel, is_dir, specs):
                continue
            if is_dir:
                visit(rel, specs)
            else:
                out.append(rel)

    visit("", [])
    return out


def _link_target(root: Path, rel: str) -> str | None:
    """The relative target of a symlink that resolves inside ``root`` (None otherwise)."""
    full = root / rel
    real = Path(os.path.realpath(full))
    if not real.exists() or not real.is_relative_to(root) or real == root:
        return None
    return os.path.relpath(real, full.parent)


def _read_stamp(fd: int, out: int | None) -> FileStamp:
    """Stamp the regular file open at ``fd`` from the bytes read, copying them to ``out``
    (made read-only, execute bits kept) when given."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise OSError(errno.EINVAL, "not a regular file")
    mode = stat.S_IMODE(st.st_mode)
    h = hashlib.sha256()
    size = 0
    while chunk := os.read(fd, _CHUNK):
        h.update(chunk)
        size += len(chunk)
        if out is not None:
            view = memoryview(chunk)
            while view:
                view = view[os.write(out, view):]
    if out is not None:
        os.fchmod(out, _RO_MODE | (mode & 0o111))
    return FileStamp(size=size, mtime_ns=st.st_mtime_ns, sha256=h.hexdigest(), mode=mode)


def _stamp_file(src: Path, dst: Path | None = None) -> FileStamp:
    """Stamp ``src`` (size, mtime, SHA-256, mode), copying it to a new read-only ``dst``
    when given; the stamp is of the bytes actually read."""
    fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if dst is None:
            return _read_stamp(fd, None)
        out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            return _read_stamp(fd, out)
        finally:
            os.close(out)
    finally:
        os.close(fd)


_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


def _empty_dest(dest: Path) -> Path:
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise OutputError(f"the project copy's destination {dest} is not an empty directory")
    return dest


def _make_dirs(dest: Path, paths: Iterable[str]) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for d in sorted({str(PurePosixPath(p).parent) for p in paths} - {"."}):
        (dest / d).mkdir(parents=True, exist_ok=True)


class Snapshot(Protocol):
    """A run's copy of its project: its manifest, where the copy is, the files as text."""

    manifest: ProjectManifest
    base: Path

    def files(self, overlay: Mapping[str, str | None] | None = None) -> FileView:
        """The snapshot's files as text, under ``overlay``."""
        ...

    def wait(self, timeout: float | None = None) -> ProjectManifest:
        """Block until the copy is complete; return the manifest."""
        ...


class ReadySnapshot:
    """The copy an earlier session of the run made (``--resume``): complete already."""

    def __init__(self, manifest: ProjectManifest, base: Path) -> None:
        self.manifest = manifest
        self.base = base

    @classmethod
    def of_run(cls, run_dir: Path) -> ReadySnapshot:
        """The snapshot kept in ``run_dir``.

        Raises:
            ResultNotFoundError: the run was not started with ``--project`` (or its copy
                is gone).
        """
        if not (run_dir / MANIFEST_FILE).is_file():
            raise ResultNotFoundError(f"{run_dir} is not a project run (no {MANIFEST_FILE})")
        manifest = ProjectManifest.load(run_dir / MANIFEST_FILE)
        base = manifest.base_path(run_dir)
        if base is None or not base.is_dir():
            raise ResultNotFoundError(f"{run_dir}: the run's copy of the project is gone")
        return cls(manifest, base)

    def files(self, overlay: Mapping[str, str | None] | None = None) -> FileView:
        """The copy's files as text, under ``overlay``."""
        return FileView(self.base, [*self.manifest.files, *self.manifest.links], overlay)

    def wait(self, timeout: float | None = None) -> ProjectManifest:
        """Already complete."""
        return self.manifest


class PendingSnapshot:
    """A snapshot whose manifest is complete (every file listed and hashed) while its copy
    is still being made by a background thread: :meth:`Project.start_snapshot`.

    Call :meth:`wait` before anything reads the copy (a check's view, ``assign_output``'s
    ``root``, a :class:`FileView` of the base). Before that, read a file's text from the
    project itself: the copy verifies every file against the manifest's hash, so if the
    project changed in between, :meth:`wait` raises instead of the run going on with a
    copy its prompts did not see.
    """

    def __init__(self, manifest: ProjectManifest, root: Path, dest: Path) -> None:
        self.manifest = manifest
        self.root = root
        self.base = dest
        self._error: AetherFlowError | None = None
        self._thread = threading.Thread(target=self._copy, args=(root, dest), daemon=True,
                                        name="aetherflow-project-copy")
        self._thread.start()

    def _copy(self, root: Path, dest: Path) -> None:
        m = self.manifest
        try:
            _make_dirs(dest, [*m.files, *m.links])
            for rel, stamp in m.files.items():
                if _stamp_file(root / rel, dest / rel).sha256 != stamp.sha256:
                    raise ConfigError(f"--project: {rel} changed while the run was copying "
                                      "the project; start the run again")
            for rel, target in m.links.items():
                os.symlink(target, dest / rel)
        except AetherFlowError as exc:
            self._error = exc
        except OSError as exc:
            self._error = OutputError(f"cannot copy the project into {dest}: "
                                      f"{exc.strerror or exc}")

    def done(self) -> bool:
        """Whether the copy has finished (successfully or not)."""
        return not self._thread.is_alive()

    def read_bytes(self, rel: str) -> bytes:
        """A project file's bytes as the snapshot recorded them: from the copy once it is
        done, before that from the project, checked against the manifest's hash.

        Raises:
            ConfigError: the project's file no longer has the recorded content.
            KeyError: ``rel`` is not a file of the snapshot.
        """
        if rel not in self.manifest.files and rel not in self.manifest.links:
            raise KeyError(rel)
        if self.done() and self._error is None:
            return (self.base / rel).read_bytes()
        data = (self.root / rel).read_bytes()
        stamp = self.manifest.files.get(rel)
        if stamp is not None and hashlib.sha256(data).hexdigest() != stamp.sha256:
            raise ConfigError(f"--project: {rel} changed after the run copied the project; "
                              "start the run again")
        return data

    def files(self, overlay: Mapping[str, str | None] | None = None) -> FileView:
        """The snapshot's files as text, under ``overlay``, usable before the copy is done
        (see :meth:`read_bytes`)."""
        return FileView(None, [*self.manifest.files, *self.manifest.links], overlay,
                        reader=self.read_bytes)

    def wait(self, timeout: float | None = None) -> ProjectManifest:
        """Block until the copy is complete and return the manifest.

        Raises:
            ConfigError: a project file changed between hashing and copying.
            OutputError: the copy could not be written, or ``timeout`` passed first.
        """
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise OutputError(f"the project copy did not finish within {timeout} s")
        if self._error is not None:
            raise self._error
        return self.manifest


@dataclass(frozen=True)
class Project:
    """A project directory a run copies (see the module docstring). Use :meth:`open`."""

    root: Path

    @classmethod
    def open(cls, path: Path) -> Project:
        """The project at ``path`` (resolved).

        Raises:
            ConfigError: ``path`` does not exist, is not a directory, or cannot be read.
        """
        given = Path(path).expanduser()
        try:
            if not given.exists():
                raise ConfigError(f"--project {path}: no such directory")
            if not given.is_dir():
                raise ConfigError(f"--project {path}: not a directory")
            with os.scandir(given) as it:
                next(it, None)
        except OSError as exc:
            raise ConfigError(f"--project {path}: cannot be read "
                              f"({exc.strerror or exc})") from exc
        return cls(root=given.resolve())

    def _excluded(self, exclude: Iterable[Path]) -> list[str]:
        out = []
        for path in exclude:
            real = Path(path).resolve()
            if real.is_relative_to(self.root) and real != self.root:
                out.append(real.relative_to(self.root).as_posix())
        kept: list[str] = []
        for rel in sorted(set(out)):  # a directory inside an excluded one adds nothing
            if not any(rel.startswith(k + "/") for k in kept):
                kept.append(rel)
        return kept

    def listing(self, *, exclude: Iterable[Path] = ()) -> ProjectListing:
        """What the run may see: ``git ls-files -co --exclude-standard`` in a git work tree
        (tracked and untracked files, ignored ones left out), else a walk that applies every
        ``.gitignore`` with git's rules. ``.git/`` is always skipped, and so is every
        directory in ``exclude`` (absolute paths; e.g. a run directory inside the project).
        Symlinks are kept only when they resolve inside the project; special files, nested
        repositories and names that are not UTF-8 are skipped with the reason."""
        excluded = self._excluded(exclude)
        skipped: dict[str, str] = {}
        names = _git_names(self.root)
        method: Literal["git", "gitignore"] = "git"
        if names is None:
            method, names = "gitignore", _walk_names(self.root, excluded, skipped)
        files: list[str] = []
        links: dict[str, str] = {}
        for rel in names:
            if any(rel == e or rel.startswith(e + "/") for e in excluded):
                continue
            self._classify(rel, files, links, skipped)
        return ProjectListing(files=files, links=links, skipped=skipped, excluded=excluded,
                              method=method)

    def _classify(self, rel: str, files: list[str], links: dict[str, str],
                  skipped: dict[str, str]) -> None:
        try:
            rel.encode("utf-8")
        except UnicodeEncodeError:
            skipped[_printable(rel)] = "file name is not valid UTF-8"
            return
        try:
            st = os.lstat(self.root / rel)
        except OSError:
            return  # tracked by git but gone from the working tree
        if stat.S_ISREG(st.st_mode):
            files.append(rel)
        elif stat.S_ISLNK(st.st_mode):
            target = _link_target(self.root, rel)
            if target is None:
                skipped[rel] = "symlink that points outside the project (or nowhere)"
            else:
                links[rel] = target
        elif stat.S_ISDIR(st.st_mode):
            skipped[rel] = "a nested git repository or submodule (not copied)"
        else:
            skipped[rel] = "not a regular file"

    def files(self, *, exclude: Iterable[Path] = ()) -> list[str]:
        """Relative posix paths the run may see (files and in-project symlinks), sorted. See
        :meth:`listing` for the rules."""
        listing = self.listing(exclude=exclude)
        return sorted([*listing.files, *listing.links])

    def snapshot(self, dest: Path, *, exclude: Iterable[Path] = ()) -> ProjectManifest:
        """Copy the project into ``dest`` (the run's base; created, must be empty) and
        return its manifest (``base`` is ``dest`` as given). One read of each file both
        copies and hashes it.

        Copied files are read-only (``0444``, execute bits kept) so that a check's hard-link
        view cannot change them. ``dest`` itself is left out when it lies in the project. A
        file that cannot be read is skipped with the reason, not fatal.

        Raises:
            OutputError: ``dest`` is not empty or cannot be written.
        """
        dest = _empty_dest(dest)
        listing = self.listing(exclude=[*exclude, dest])
        stamps: dict[str, FileStamp] = {}
        skipped = dict(listing.skipped)
        try:
            _make_dirs(dest, [*listing.files, *listing.links])
            for rel in listing.files:
                try:
                    stamps[rel] = _stamp_file(self.root / rel, dest / rel)
                except OSError as exc:
                    if exc.errno in _DISK_FULL:
                        raise
                    (dest / rel).unlink(missing_ok=True)
                    skipped[rel] = f"cannot be read: {exc.strerror or exc}"
            for rel, target in listing.links.items():
                os.symlink(target, dest / rel)
        except OSError as exc:
            raise OutputError(f"cannot copy the project into {dest}: "
                              f"{exc.strerror or exc}") from exc
        return self._manifest(listing, dest, stamps, skipped)

    def start_snapshot(self, dest: Path, *, exclude: Iterable[Path] = ()) -> PendingSnapshot:
        """Like :meth:`snapshot`, but return as soon as every file is listed and hashed; the
        copy into ``dest`` goes on in a background thread (see :class:`PendingSnapshot`).
        On a disk where creating files is slow, this keeps the copy off the run's start:
        its first request can go out while the copy is made.

        Raises:
            OutputError: ``dest`` is not empty.
        """
        dest = _empty_dest(dest)
        listing = self.listing(exclude=[*exclude, dest])
        stamps: dict[str, FileStamp] = {}
        skipped = dict(listing.skipped)
        for rel in listing.files:
            try:
                stamps[rel] = _stamp_file(self.root / rel)
            except OSError as exc:
                skipped[rel] = f"cannot be read: {exc.strerror or exc}"
        return PendingSnapshot(self._manifest(listing, dest, stamps, skipped), self.root, dest)

    def _manifest(self, listing: ProjectListing, dest: Path, stamps: dict[str, FileStamp],
                  skipped: dict[str, str]) -> ProjectManifest:
        return ProjectManifest(root=str(self.root), base=str(dest), listing=listing.method,
                               files=stamps, links=listing.links, skipped=skipped,
                               excluded=listing.excluded, created_at=datetime.now(UTC))


def prepare_project_run(project: Project, run_dir: Path, *, exclude: Iterable[Path] = (),
                        background: bool = True) -> PendingSnapshot:
    """Everything a run directory needs for ``--project``: the project copied into
    ``RUN_DIR/project_base`` (``run_dir`` and ``exclude`` left out of it) and the manifest
    saved as ``RUN_DIR/project_manifest.json`` with a relative ``base`` (the run directory
    stays movable).

    With ``background`` the copy goes on in a thread (the manifest is saved first, from the
    hashes); without it, this returns once the copy is complete. Either way call
    :meth:`PendingSnapshot.wait` before a check or ``assign_output`` uses the copy.

    Raises:
        OutputError: the copy's destination is not empty or the manifest cannot be written.
    """
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the run directory {run_dir}: "
                          f"{exc.strerror or exc}") from exc
    pending = project.start_snapshot(run_dir / BASE_DIR, exclude=[run_dir, *exclude])
    manifest = pending.manifest.model_copy(update={"base": BASE_DIR})
    manifest.save(run_dir / MANIFEST_FILE)
    if not background:
        pending.wait()
    return pending


def project_changes(project_root: Path, manifest: ProjectManifest, *,
                    verify: Iterable[str] = ()) -> list[str]:
    """Project files changed, added or removed since ``manifest`` was taken, sorted.

    The same listing rules as the snapshot apply (so a new ignored file is no change). A
    file whose size and mtime are as recorded counts as unchanged, except the paths in
    ``verify``, which are always hashed; any other file is compared by SHA-256 (a file
    touched but not changed is no change). A changed symlink counts too.

    Raises:
        ConfigError: the project is gone or cannot be read.
    """
    project = Project.open(project_root)
    root = project.root
    try:
        listing = project.listing(exclude=[root / e for e in manifest.excluded])
    except OSError as exc:
        raise ConfigError(f"--project {project_root}: cannot be listed "
                          f"({exc.strerror or exc})") from exc
    now = set(listing.files)
    always = set(verify)
    changed: set[str] = set()
    for rel, stamp in manifest.files.items():
        if rel not in now:
            changed.add(rel)
            continue
        try:
            st = os.lstat(root / rel)
            if (rel not in always and st.st_size == stamp.size
                    and st.st_mtime_ns == stamp.mtime_ns):
                continue
            if st.st_size != stamp.size or _sha256(root / rel) != stamp.sha256:
                changed.add(rel)
        except OSError:
            changed.add(rel)
    changed |= now - manifest.files.keys()
    for rel in manifest.links.keys() | listing.links.keys():
        if manifest.links.get(rel) != listing.links.get(rel):
            changed.add(rel)
    return sorted(changed)


# --- a check's view ---------------------------------------------------------------------------


def choose_link(sandbox: object, file_count: int, total_bytes: int) -> bool:
    """Whether a check's view should be a hard-link farm: only on a sandbox that protects
    linked files (``protects_linked_files``: bwrap started by root, where the check runs as
    another uid and linked files stay root's), and only for a base of at least
    :data:`LINK_MIN_FILES` files or :data:`LINK_MIN_BYTES` bytes."""
    if not getattr(sandbox, "protects_linked_files", False):
        return False
    return file_count >= LINK_MIN_FILES or total_bytes >= LINK_MIN_BYTES


_LINK_FALLBACK = frozenset({errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EACCES})


def _copy_writable(src: str, dst: str, mode: int) -> None:
    shutil.copyfile(src, dst, follow_symlinks=False)
    if mode & 0o111:
        os.chmod(dst, (mode | 0o200) & 0o777)


def _fill(src_dir: str, dst_dir: str, link: bool) -> None:
    with os.scandir(src_dir) as it:
        for entry in it:
            dst = os.path.join(dst_dir, entry.name)
            if entry.is_symlink():
                os.symlink(os.readlink(entry.path), dst)
            elif entry.is_dir(follow_symlinks=False):
                os.mkdir(dst)
                _fill(entry.path, dst, link)
            elif entry.is_file(follow_symlinks=False):
                if link:
                    try:
                        os.link(entry.path, dst, follow_symlinks=False)
                        continue
                    except OSError as exc:
                        if exc.errno not in _LINK_FALLBACK:
                            raise
                _copy_writable(entry.path, dst, entry.stat(follow_symlinks=False).st_mode)


def materialize_view(dest: Path, base: Path | None, overlay: Mapping[str, str | None], *,
                     link: bool) -> Path:
    """Fill ``dest`` with ``base`` (if any) plus ``overlay`` (path -> content; ``None``
    deletes the base's file) and return it: a check's throwaway workspace.

    ``link=True`` makes a hard-link farm: directories are real, files are links to the base's
    (a real copy where the filesystem refuses a link), and every overlay file is written as
    a new file (a link in the way is removed first, never written through). Use it only with
    a sandbox whose ``protects_linked_files`` is true (see :func:`choose_link`): the base's
    files are read-only and stay owned by the run's user, so a check can replace a file but
    never write into a base inode. ``link=False`` makes a real, writable copy.

    Raises:
        WorkspaceError: an overlay path escapes ``dest``, goes through a symlink, or clashes
            with a directory or file of the base.
    """
    dest.mkdir(parents=True, exist_ok=True)
    if base is not None:
        _fill(str(base), str(dest), link)
    for name, content in overlay.items():
        problem = path_problem(name, dest)
        if problem is not None:
            raise WorkspaceError(f"{name}: {problem}")
        target = dest / PurePosixPath(name.replace("\\", "/"))
        try:
            if content is None:
                target.unlink(missing_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            with open(fd, "w", encoding="utf-8", newline="") as f:
                f.write(content)
        except OSError as exc:
            raise WorkspaceError(f"{name}: cannot be placed in the check's workspace: "
                                 f"{exc.strerror or exc}") from exc
    return dest


class FileView(Mapping[str, str]):
    """The text of the files a step sees, read on demand: ``overlay`` (the step's and its
    dependencies' files; ``None`` = deleted) over the base copy's ``names`` (read from
    ``base``, or through ``reader`` when given). Undecodable bytes read as U+FFFD. Suits
    :func:`~aetherflow.execution.patching.assign_output`'s ``current`` and a prompt's
    "current content" of ``context.files``."""

    def __init__(self, base: Path | None, names: Iterable[str],
                 overlay: Mapping[str, str | None] | None = None, *,
                 reader: Callable[[str], bytes] | None = None) -> None:
        self._base = base
        self._reader = reader
        self._names = (frozenset(names) if base is not None or reader is not None
                       else frozenset())
        self._overlay = dict(overlay or {})

    def __getitem__(self, key: str) -> str:
        if key in self._overlay:
            value = self._overlay[key]
            if value is None:
                raise KeyError(key)
            return value
        if key not in self._names:
            raise KeyError(key)
        if self._reader is not None:
            return self._reader(key).decode("utf-8", "replace")
        assert self._base is not None
        return (self._base / key).read_bytes().decode("utf-8", "replace")

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        if key in self._overlay:
            return self._overlay[key] is not None
        return key in self._names

    def __iter__(self) -> Iterator[str]:
        deleted = {k for k, v in self._overlay.items() if v is None}
        yield from sorted((self._names | self._overlay.keys()) - deleted)

    def __len__(self) -> int:
        return sum(1 for _ in self)


# --- diffs ------------------------------------------------------------------------------------


def _diff_lines(lines: Iterable[str]) -> Iterator[str]:
    """difflib's lines, each ended: its first two are the file headers, ``@@`` lines hunk
    headers (a content line starts with its tag), a content line without a newline gets the
    ``\\ No newline at end of file`` marker."""
    for k, line in enumerate(lines):
        if line.endswith("\n"):
            yield line
        elif k < 2 or line.startswith("@@"):
            yield line + "\n"
        else:
            yield line + "\n\\ No newline at end of file\n"


def unified_diff(before: Mapping[str, str | None], after: Mapping[str, str | None], *,
                 context: int = 3) -> str:
    """A git-style unified diff (``a/`` and ``b/`` paths) from ``before`` to ``after``.

    A path missing from ``before`` (or ``None`` there) is a new file; ``None`` in ``after``
    is a deletion. Paths come sorted; unchanged ones are left out. A last line without a
    newline is marked ``\\ No newline at end of file``.
    """
    out: list[str] = []
    for path in sorted(before.keys() | after.keys()):
        old, new = before.get(path), after.get(path)
        if old == new or path not in after:
            continue
        out.append(f"diff --git a/{path} b/{path}\n")
        if old is None:
            out.append("new file mode 100644\n")
        elif new is None:
            out.append("deleted file mode 100644\n")
        out += _diff_lines(difflib.unified_diff(
            split_lines(old or ""), split_lines(new or ""),
            "/dev/null" if old is None else f"a/{path}",
            "/dev/null" if new is None else f"b/{path}", n=context, lineterm=""))
    return "".join(out)


@dataclass(frozen=True)
class DiffStat:
    """One file's share of a diff: lines added and removed, and what happened to it."""

    path: str
    insertions: int
    deletions: int
    status: Literal["modified", "added", "deleted"]


def diff_stat(before: Mapping[str, str | None],
              after: Mapping[str, str | None]) -> list[DiffStat]:
    """Per file, the lines a change adds and removes (as ``git diff --stat`` counts them)."""
    out = []
    for path in sorted(before.keys() | after.keys()):
        old, new = before.get(path), after.get(path)
        if old == new or path not in after:
            continue
        plus = minus = 0
        for line in difflib.unified_diff(split_lines(old or ""), split_lines(new or ""),
                                         n=0):
            if line.startswith("+") and not line.startswith("+++"):
                plus += 1
            elif line.startswith("-") and not line.startswith("---"):
                minus += 1
        status: Literal["modified", "added", "deleted"] = (
            "added" if old is None else "deleted" if new is None else "modified")
        out.append(DiffStat(path=path, insertions=plus, deletions=minus, status=status))
    return out


# --- what a run changed -----------------------------------------------------------------------


@dataclass(frozen=True)
class RunChanges:
    """What a project run changed: ``before`` (original text, ``None`` for a new file) and
    ``after`` (new text, ``None`` for a deleted file) for every changed path."""

    run_dir: Path
    manifest: ProjectManifest
    before: dict[str, str | None] = field(default_factory=dict)
    after: dict[str, str | None] = field(default_factory=dict)

    def diff(self) -> str:
        """The unified diff of the run's changes."""
        return unified_diff(self.before, self.after)

    def stat(self) -> list[DiffStat]:
        """Per-file counts of the run's changes."""
        return diff_stat(self.before, self.after)


def record_deleted(run_dir: Path, paths: Iterable[str]) -> None:
    """Add ``paths`` to the run's list of deleted project files (:data:`DELETED_FILE`). A
    later step that writes one of them again wins: :func:`run_changes` prefers the
    workspace's file."""
    target = run_dir / DELETED_FILE
    known: set[str] = set()
    if target.exists():
        known = set(json.loads(target.read_text(encoding="utf-8")))
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_text(json.dumps(sorted(known | set(paths)), indent=1), encoding="utf-8")
    os.replace(tmp, target)


def _original(rel: str, manifest: ProjectManifest, base: Path | None) -> str:
    stamp = manifest.files[rel]
    for source in (base, Path(manifest.root)):
        if source is None:
            continue
        with contextlib.suppress(OSError):
            data = (source / rel).read_bytes()
            if hashlib.sha256(data).hexdigest() == stamp.sha256:
                return data.decode("utf-8", "replace")
    raise ResultNotFoundError(f"the original of {rel} is gone: neither the run's copy nor "
                              f"the project ({manifest.root}) holds it unchanged")


def _workspace_files(workspace: Path) -> Iterator[tuple[str, bytes]]:
    if not workspace.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(workspace):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath) / name
            if full.is_symlink() or not full.is_file():
                continue
            yield full.relative_to(workspace).as_posix(), full.read_bytes()


def run_changes(run_dir: Path) -> RunChanges:
    """What the run in ``run_dir`` changed against the project it copied: every
    ``workspace/`` file whose bytes differ from the manifest's (or that the project did not
    have), plus the deletions recorded in :data:`DELETED_FILE`.

    Raises:
        ResultNotFoundError: ``run_dir`` does not exist or is not a project run.
        CorruptResultError: its manifest does not parse.
    """
    if not run_dir.is_dir():
        raise ResultNotFoundError(f"{run_dir}: no such run directory")
    if not (run_dir / MANIFEST_FILE).is_file():
        raise ResultNotFoundError(f"{run_dir} is not a project run (no {MANIFEST_FILE}: it "
                                  "was not started with --project)")
    manifest = ProjectManifest.load(run_dir / MANIFEST_FILE)
    base = manifest.base_path(run_dir)
    changes = RunChanges(run_dir=run_dir, manifest=manifest)
    for rel, data in _workspace_files(run_dir / "workspace"):
        stamp = manifest.files.get(rel)
        if stamp is not None and hashlib.sha256(data).hexdigest() == stamp.sha256:
            continue
        changes.before[rel] = None if stamp is None else _original(rel, manifest, base)
        changes.after[rel] = data.decode("utf-8", "replace")
    deleted_file = run_dir / DELETED_FILE
    if deleted_file.is_file():
        try:
            deleted = [str(p) for p in json.loads(deleted_file.read_text(encoding="utf-8"))]
        except (OSError, ValueError) as exc:
            raise CorruptResultError(f"{deleted_file}: cannot be read: {exc}") from exc
        for rel in deleted:
            if rel in manifest.files and rel not in changes.after:
                changes.before[rel] = _original(rel, manifest, base)
                changes.after[rel] = None
    return changes


# --- writing back -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ApplyResult:
    """What :func:`apply_to_project` wrote: files modified, created and deleted, the files
    asked for that already had that content, and the unified diff of it all."""

    modified: list[str]
    created: list[str]
    deleted: list[str]
    unchanged: list[str]
    diff: str

    @property
    def written(self) -> list[str]:
        """Every path the project now has different (modified, created or deleted)."""
        return sorted([*self.modified, *self.created, *self.deleted])


def _list_more(paths: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(paths[:limit])
    return shown + (f" (and {len(paths) - limit} more)" if len(paths) > limit else "")


def _stage(root: Path, after: Mapping[str, str], modes: Mapping[str, int],
           created_dirs: list[Path], staged: dict[str, Path]) -> None:
    """Write every new content to a temp file beside its target, recording path -> temp in
    ``staged`` and the directories it had to create in ``created_dirs`` (as it goes, so a
    failure can undo both)."""
    for rel, text in after.items():
        target = root / rel
        missing = [p for p in [target.parent, *target.parent.parents]
                   if p.is_relative_to(root) and not p.exists()]
        for d in reversed(missing):
            d.mkdir()
            created_dirs.append(d)
        tmp = target.with_name(f".{target.name}.aetherflow-{secrets.token_hex(4)}.tmp")
        staged[rel] = tmp
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with open(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, modes.get(rel, 0o644))


def apply_to_project(project_root: Path, manifest: ProjectManifest,
                     changes: Mapping[str, str | None]) -> ApplyResult:
    """Write ``changes`` (path -> new text; ``None`` deletes) into the project.

    Refuses, writing nothing, when any project file changed since ``manifest`` was taken
    (the run's checks saw the snapshot, not what is there now), when a path is absolute,
    escapes the project, goes through a symlink or names a directory, or when it names a
    file the project has but the run never copied (an ignored ``.env``, say: the run did
    not see it, so it must not overwrite it). Every new content is
    first staged in a temp file beside its target (created with the original file's mode),
    then all are renamed over their targets and deletions are made; a failure while staging
    removes the temp files (nothing written).

    Raises:
        ConfigError: the project changed, or a path is refused (one line; nothing written).
        OutputError: a file cannot be staged (disk full, permissions; nothing written).
    """
    root = Project.open(project_root).root
    for rel in changes:
        if (problem := path_problem(rel, root)) is not None:
            raise ConfigError(f"--apply refused {rel!r}: {problem}; nothing was written")
        if rel not in manifest.files and os.path.lexists(root / rel):
            raise ConfigError(f"--apply refused {rel!r}: it exists in the project but the run "
                              "did not copy it (ignored by .gitignore, or skipped); nothing "
                              "was written")
    drift = project_changes(root, manifest, verify=changes.keys())
    if drift:
        raise ConfigError(f"--apply refused: the project changed since the run copied it "
                          f"({len(drift)} file(s): {_list_more(drift)}); nothing was written "
                          "(`aetherflow diff RUN_DIR` shows the run's changes)")
    before: dict[str, str | None] = {}
    after: dict[str, str] = {}
    deleted: list[str] = []
    unchanged: list[str] = []
    modes: dict[str, int] = {}
    for rel, text in sorted(changes.items()):
        target = root / rel
        old = (target.read_bytes().decode("utf-8", "replace")
               if rel in manifest.files else None)
        if rel in manifest.files and text is not None and target.read_bytes() == \
                text.encode("utf-8"):
            unchanged.append(rel)
            continue
        if text is None:
            if old is None:
                unchanged.append(rel)
                continue
            deleted.append(rel)
        else:
            after[rel] = text
            modes[rel] = manifest.files[rel].mode if rel in manifest.files else 0o644
        before[rel] = old
    created_dirs: list[Path] = []
    staged: dict[str, Path] = {}
    try:
        _stage(root, after, modes, created_dirs, staged)
    except OSError as exc:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
        for d in reversed(created_dirs):
            with contextlib.suppress(OSError):
                d.rmdir()
        raise OutputError(f"--apply could not stage its files in {root}: "
                          f"{exc.strerror or exc}; nothing was written") from exc
    for rel, tmp in staged.items():
        os.replace(tmp, root / rel)
    for rel in deleted:
        (root / rel).unlink(missing_ok=True)
    final: dict[str, str | None] = {**after, **dict.fromkeys(deleted)}
    return ApplyResult(
        modified=sorted(r for r in after if before.get(r) is not None),
        created=sorted(r for r in after if before.get(r) is None),
        deleted=sorted(deleted), unchanged=sorted(unchanged),
        diff=unified_diff(before, final))
