"""Executed validation checks: each structured criterion becomes a :class:`Verdict`.

A checker is registered under its check kind (the ``check`` key of a structured criterion),
the same way a third-party one would be. The five built-ins:

* ``python_syntax``: every Python file the step wrote compiles (parsed in-process with
  ``compile``: parsing never executes the code). A step that wrote no Python file fails it.
* ``contains``: the text appears verbatim in the step's answer or in a file it wrote
  (in-process string search).
* ``ruff``: ``ruff check`` with the fixed rule set :data:`RUFF_CHECK_RULES` on the step's
  Python files, in the sandbox.
* ``pytest``: the criterion's tests, written as ``test_aetherflow_check_<n>.py`` beside the
  step's files, run with ``python -m pytest`` in the sandbox.
* ``command``: ``sh -c RUN`` in the sandbox; exit status 0 required.

Free-text criteria are ``unchecked`` (method ``none``) unless an LLM judge is configured;
judged verdicts are produced elsewhere (:mod:`aetherflow.validation.judge`) and never count
as executed.

Checkers are synchronous (the executor runs them in worker threads) and never raise for a
problem of the checked code: that is a ``failed`` verdict with the reason. A check that
could not run at all (e.g. ruff missing) is ``error``.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aetherflow.results.run import Verdict
from aetherflow.validation.sandbox import Sandbox, SandboxLimits, SandboxResult

__all__ = [
    "DEFAULT_CHECK_TIMEOUT_S",
    "RUFF_CHECK_RULES",
    "CheckContext",
    "Checker",
    "check_kinds",
    "criterion_label",
    "materialize",
    "register_check",
    "run_check",
]

#: Rules of the ``ruff`` check: syntax errors (E9), invalid comparisons and raise misuse
#: (F63, F7), undefined names (F82): the errors that make code wrong, not its style.
RUFF_CHECK_RULES = "E9,F63,F7,F82"
#: ruff spawns a thread per core; threads count against the sandbox's process limit.
RUFF_ENV = {"RAYON_NUM_THREADS": "1"}
#: The criterion's own tests need no third-party pytest plugin (whose start-up notices
#: would only crowd the output a repair turn shows the model).
PYTEST_ENV = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
#: Seconds a check may run when its criterion gives no ``timeout_s``.
DEFAULT_CHECK_TIMEOUT_S = 60.0
_TAIL_CHARS = 2000


@dataclass(frozen=True)
class CheckContext:
    """What a check may look at.

    ``own_files`` are the files the step wrote (path -> content, after its repairs);
    ``view`` is every file the step may see (its dependencies' files as they were when they
    finished, the project's, its own), which sandboxed checks get as a fresh copy each.
    """

    step_id: str
    answer: str
    own_files: Mapping[str, str]
    view: Mapping[str, str | None]
    sandbox: Sandbox
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    base_dir: Path | None = None
    ro_paths: Sequence[Path] = ()
    scratch: Path | None = None
    #: Builds a check's workspace from the view (``dest``, overlay) when the run has a
    #: project base (a hard-link farm or a copy of it, then the overlay); default:
    #: :func:`materialize` of ``base_dir`` and the view.
    make_workspace: Callable[[Path, Mapping[str, str | None]], Path] | None = None


Checker = Callable[[Any, CheckContext], Verdict]
_CHECKERS: dict[str, Checker] = {}


def register_check(kind: str, checker: Checker) -> None:
    """Make ``checker`` run criteria whose ``check`` is ``kind`` (replaces an existing one)."""
    _CHECKERS[kind] = checker


def check_kinds() -> list[str]:
    """Registered check kinds, sorted."""
    return sorted(_CHECKERS)


def criterion_label(criterion: object) -> str:
    """A human-readable form of a criterion (free text or structured check)."""
    if isinstance(criterion, str):
        return criterion
    check = getattr(criterion, "check", "?")
    for attr in ("text", "run"):
        if value := getattr(criterion, attr, None):
            return f"{check}: {value}"
    if check == "pytest":
        return "pytest: the criterion's tests pass"
    return str(check)


def _timeout(criterion: object, limits: SandboxLimits) -> SandboxLimits:
    """The criterion's own ``timeout_s`` (default :data:`DEFAULT_CHECK_TIMEOUT_S`), never
    beyond what is left of the step's budget (``limits.wall_s``)."""
    seconds = min(getattr(criterion, "timeout_s", None) or DEFAULT_CHECK_TIMEOUT_S,
                  limits.wall_s)
    return SandboxLimits(wall_s=seconds, cpu_s=seconds, memory_bytes=limits.memory_bytes,
                         max_processes=limits.max_processes,
                         max_output_bytes=limits.max_output_bytes,
                         max_file_bytes=limits.max_file_bytes)


def materialize(dest: Path, files: Mapping[str, str | None],
                base_dir: Path | None = None) -> Path:
    """Fill ``dest`` with a copy of ``base_dir`` (if any) overlaid with ``files`` (a
    ``None`` content: the file was deleted)."""
    if base_dir is not None:
        shutil.copytree(base_dir, dest, symlinks=True, dirs_exist_ok=True)
    dest.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        target = dest / name
        if content is None:
            if target.is_file() and not target.is_symlink():
                target.unlink()
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.is_dir():
            continue  # never follow a link out of the copy, never replace a directory
        target.write_text(content, encoding="utf-8")
    return dest


def _verdict(criterion: object, kind: str, started: float, **fields: Any) -> Verdict:
    return Verdict(criterion=criterion_label(criterion), check=kind, method="executed",
                   duration_ms=(time.perf_counter() - started) * 1e3, **fields)


_LIMIT_REASON = {"timeout": "wall-clock limit hit ({s:.0f} s)", "cpu": "CPU-time limit hit",
                 "memory": "memory limit hit", "processes": "process-count limit hit",
                 "output": "output cap hit", "file_size": "file-size limit hit"}


def _sandboxed(criterion: object, kind: str, argv: Sequence[str], ctx: CheckContext,
               extra_files: Mapping[str, str] | None = None,
               judge: Callable[[SandboxResult], tuple[str, str | None]] | None = None,
               env: Mapping[str, str] | None = None) -> Verdict:
    """Run ``argv`` on a fresh copy of the step's view; exit 0 passes unless ``judge`` says
    otherwise. A broken limit fails the check with the limit as the reason."""
    started = time.perf_counter()
    limits = _timeout(criterion, ctx.limits)
    with tempfile.TemporaryDirectory(prefix=f"check-{ctx.step_id}-",
                                     dir=ctx.scratch) as tmp:
        overlay = {**ctx.view, **(extra_files or {})}
        work = (ctx.make_workspace(Path(tmp) / "ws", overlay) if ctx.make_workspace
                else materialize(Path(tmp) / "ws", overlay, ctx.base_dir))
        result = ctx.sandbox.run(argv, work, limits=limits, ro_paths=ctx.ro_paths, env=env)
    tail = result.output_tail[-_TAIL_CHARS:]
    common: dict[str, Any] = {"exit_code": result.exit_code, "output_tail": tail,
                              "sandbox": result.backend}
    reason: str | None
    if result.limit is not None:
        reason = _LIMIT_REASON[result.limit].format(s=limits.wall_s)
        return _verdict(criterion, kind, started, status="failed", reason=reason, **common)
    if judge is not None:
        status, reason = judge(result)
    elif result.exit_code == 0:
        status, reason = "passed", None
    else:
        status, reason = "failed", f"exit code {result.exit_code}"
    return _verdict(criterion, kind, started, status=status, reason=reason, **common)


def _python_files(ctx: CheckContext) -> dict[str, str]:
    return {k: v for k, v in ctx.own_files.items() if k.endswith(".py")}


def _python_syntax(criterion: object, ctx: CheckContext) -> Verdict:
    started = time.perf_counter()
    files = _python_files(ctx)
    where = "in-process parse (nothing executed)"
    if not files:
        return _verdict(criterion, "python_syntax", started, status="failed",
                        reason="the step wrote no Python file", sandbox=where)
    problems = []
    for name, source in sorted(files.items()):
        try:
            compile(source, name, "exec", dont_inherit=True)
        except SyntaxError as exc:
            problems.append(f"{name}:{exc.lineno}: {exc.msg}")
        except (ValueError, RecursionError, MemoryError) as exc:
            problems.append(f"{name}: cannot be parsed ({type(exc).__name__})")
    if problems:
        return _verdict(criterion, "python_syntax", started, status="failed",
                        reason=f"syntax error in {len(problems)} file(s)",
                        output_tail="\n".join(problems)[-_TAIL_CHARS:], sandbox=where)
    return _verdict(criterion, "python_syntax", started, status="passed", sandbox=where,
                    output_tail=f"{len(files)} Python file(s) compile")


def _contains(criterion: Any, ctx: CheckContext) -> Verdict:
    started = time.perf_counter()
    needle: str = criterion.text
    where = "in-process text search"
    hits = [name for name, content in sorted(ctx.own_files.items()) if needle in content]
    if needle in ctx.answer or hits:
        found = ", ".join(hits) or "the answer"
        return _verdict(criterion, "contains", started, status="passed", sandbox=where,
                        output_tail=f"found in {found}")
    return _verdict(criterion, "contains", started, status="failed", sandbox=where,
                    reason=f"{needle!r} not found in the answer or the step's files")


def _ruff(criterion: object, ctx: CheckContext) -> Verdict:
    files = sorted(_python_files(ctx))
    if not files:
        return _verdict(criterion, "ruff", time.perf_counter(), status="failed",
                        reason="the step wrote no Python file")
    argv = [sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache",
            "--select", RUFF_CHECK_RULES, "--output-format", "concise", *files]

    def judge(result: SandboxResult) -> tuple[str, str | None]:
        if result.exit_code == 0:
            return "passed", None
        if result.exit_code == 1:
            return "failed", "ruff findings"
        return "error", f"ruff could not run (exit code {result.exit_code})"

    return _sandboxed(criterion, "ruff", argv, ctx, judge=judge, env=RUFF_ENV)


def _pytest(criterion: Any, ctx: CheckContext) -> Verdict:
    digest = hashlib.sha256(criterion.tests.encode("utf-8")).hexdigest()[:10]
    name = f"test_aetherflow_check_{digest}.py"
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-header",
            name]

    def judge(result: SandboxResult) -> tuple[str, str | None]:
        code = result.exit_code
        if code == 0:
            return "passed", None
        if code == 1:
            return "failed", "tests failed"
        if code == 2:
            return "failed", "test collection or import error"
        if code == 5:
            return "error", "the criterion's tests collected no test"
        return "failed", f"pytest exit code {code}"

    return _sandboxed(criterion, "pytest", argv, ctx, extra_files={name: criterion.tests},
                      judge=judge, env=PYTEST_ENV)


def _command(criterion: Any, ctx: CheckContext) -> Verdict:
    return _sandboxed(criterion, "command", ["/bin/sh", "-c", criterion.run], ctx)


for _kind, _fn in (("python_syntax", _python_syntax), ("contains", _contains),
                   ("ruff", _ruff), ("pytest", _pytest), ("command", _command)):
    register_check(_kind, _fn)


def run_check(criterion: object, ctx: CheckContext) -> Verdict:
    """The verdict on one criterion: executed for a structured one, ``unchecked`` for
    free text. Never raises for a problem of the checked code."""
    if isinstance(criterion, str):
        return Verdict(criterion=criterion, check="text", status="unchecked", method="none",
                       reason="free-text criterion: nothing to execute (use a structured "
                              "check, or --judge-provider for a labelled opinion)")
    kind = str(getattr(criterion, "check", "?"))
    checker = _CHECKERS.get(kind)
    if checker is None:
        return Verdict(criterion=criterion_label(criterion), check=kind, status="error",
                       method="executed", reason=f"no checker registered for {kind!r}")
    try:
        return checker(criterion, ctx)
    except OSError as exc:  # the check's scratch space, not the checked code
        return Verdict(criterion=criterion_label(criterion), check=kind, status="error",
                       method="executed", reason=f"check could not run: {exc}")
