"""AetherFlow's exception tree.

Every error the library raises on purpose derives from :class:`AetherFlowError`.
Third-party errors (aiohttp, pydantic, OS) are translated at the boundary into the
most specific class below and chained with ``from``. The CLI prints ``str(error)``
as one line and exits with :attr:`AetherFlowError.exit_code`; set
``AETHERFLOW_DEBUG=1`` to see the traceback instead.

    AetherFlowError
    ├── InputError                 exit 2: the user's input is wrong; nothing was spent
    │   ├── PlanError              a plan file is malformed (every problem, each with its JSON path)
    │   ├── ConfigError            configuration / CLI options are wrong
    │   │   ├── UnknownProviderError
    │   │   ├── MissingKeyError    a provider needs an API key that is not set
    │   │   ├── SandboxError       the requested check sandbox cannot run here, or a bad call
    │   │   └── HistoryError       the run-history database cannot be opened, read or written
    │   │       └── CorruptRecordError   a stored run record does not parse (names row and file)
    │   ├── RunNotFoundError       no stored run or bench matches a reference
    │   │   └── AmbiguousReferenceError  a reference names several runs/benches (lists them)
    │   ├── WorkspaceError         a generated path would escape the run workspace
    │   ├── OutputError            the output directory cannot be created or written
    │   ├── ResultNotFoundError    a result file (run.json, benchmark_data.json, ...) is missing
    │   └── CorruptResultError     a result file exists but does not parse or validate
    ├── AssignmentError            a model's reply cannot be applied to its step's files (the
    │                              step fails with the reason; nothing is written)
    ├── RunDirectoryError          exit 1: the run directory stopped being writable mid-run
    └── ProviderError              a request to a provider failed (recorded, may be retried)
        ├── ProviderUnavailableError   cannot connect / local server failed to start
        ├── ProviderHTTPError          non-2xx answer (status, retry_after)
        ├── ProviderStreamError        malformed SSE, in-stream error event, truncated stream
        └── ProviderTimeoutError       read timeout / stall / step timeout
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "AetherFlowError",
    "AmbiguousReferenceError",
    "AssignmentError",
    "ConfigError",
    "CorruptRecordError",
    "CorruptResultError",
    "HistoryError",
    "InputError",
    "MissingKeyError",
    "OutputError",
    "PlanError",
    "PlanProblem",
    "ProviderError",
    "ProviderHTTPError",
    "ProviderStreamError",
    "ProviderTimeoutError",
    "ProviderUnavailableError",
    "ResultNotFoundError",
    "RunDirectoryError",
    "RunNotFoundError",
    "SandboxError",
    "UnknownProviderError",
    "WorkspaceError",
    "one_line_error",
]


class AetherFlowError(Exception):
    """Base of every error AetherFlow raises on purpose."""

    exit_code: int = 1


class InputError(AetherFlowError):
    """The user's input (plan, config, options) is wrong. Nothing was run or spent."""

    exit_code = 2


@dataclass(frozen=True)
class PlanProblem:
    """One problem (or warning) found in a plan: where it is and what is wrong.

    ``location`` is a JSON path that names the step it is in, e.g.
    ``$.steps[3] (step_4).type``, or ``file`` / ``line L, column C`` for a file that cannot
    be read or decoded. ``step_id`` is the id of that step when there is one.
    """

    location: str
    message: str
    step_id: str | None = None

    @property
    def json_path(self) -> str:
        """``location`` without the step-id annotation: ``$.steps[3].type``."""
        return _STEP_NOTE.sub("]", self.location)

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


_STEP_NOTE = re.compile(r"\] \([A-Za-z0-9_.\-]+\)")


class PlanError(InputError):
    """A plan file is malformed; carries every problem found, not only the first.

    ``problems`` lists them in plan order; ``location`` and ``message`` are the first one's
    (``location`` is a JSON path such as ``$.steps[2] (build).dependencies[0]`` or a
    ``line L, column C`` position for JSON syntax errors). ``str(error)`` is one line per
    problem, each ``source: location: message``.
    """

    def __init__(self, source: str, location: str = "", message: str = "", *,
                 problems: Sequence[PlanProblem] = ()) -> None:
        self.source = source
        self.problems: list[PlanProblem] = (
            list(problems) if problems else [PlanProblem(location, message)]
        )
        self.location = self.problems[0].location
        self.message = self.problems[0].message
        super().__init__("\n".join(f"{source}: {problem}" for problem in self.problems))


class ConfigError(InputError):
    """Configuration or command-line options are invalid."""


class UnknownProviderError(ConfigError):
    """A provider name that is not registered."""


class MissingKeyError(ConfigError):
    """A provider needs an API key that is not set (checked before anything runs)."""


class SandboxError(ConfigError):
    """The requested check sandbox cannot run on this machine (with the reason), or it was
    called with an unusable workdir, command or limit. Never raised for a failing check."""


#: What a :class:`HistoryError` tells the user to do unless the caller knows better.
_HISTORY_HINT = ("Set AETHERFLOW_HOME to a writable directory, or move the file away to start a "
                "new history")


class HistoryError(ConfigError):
    """The run-history database cannot be opened, read or written (exit 2).

    ``path`` is the database file, ``problem`` what went wrong, ``hint`` what to do.
    """

    def __init__(self, path: Path, problem: BaseException | str,
                 hint: str = _HISTORY_HINT) -> None:
        super().__init__(f"run history {path}: {problem}. {hint}")
        self.path, self.problem, self.hint = path, problem, hint


class CorruptRecordError(HistoryError):
    """A stored run's ``record_json`` does not parse as a run record.

    ``row_id`` and ``run_id`` name the row; the message says "corrupt", never "not found".
    """

    def __init__(self, path: Path, row_id: int, run_id: str, problem: str,
                 run_dir: str | None = None) -> None:
        where = f" (its run directory {run_dir} may still hold run.json)" if run_dir else ""
        super().__init__(
            path, f"stored run {row_id} (run_id {run_id!r}) is corrupt: its record does not "
                  f"parse: {problem}",
            hint=f"`aetherflow history` still lists it{where}")
        self.row_id, self.run_id = row_id, run_id


class RunNotFoundError(InputError):
    """No stored run or bench matches the given reference (id, run_id, label, directory)."""


class AmbiguousReferenceError(RunNotFoundError):
    """A reference names several stored runs or benches; ``candidates`` lists them, and the
    message shows one line per candidate (id, label, plan, started_at, directory)."""

    def __init__(self, message: str, candidates: list[str]) -> None:
        super().__init__(message)
        self.candidates = candidates


class WorkspaceError(InputError):
    """A generated file path would escape the run workspace; the file is refused."""


class OutputError(InputError):
    """The output (run directory, report folder) cannot be created or written; checked
    before anything is spent."""


class ResultNotFoundError(InputError):
    """A result file or directory the user named does not exist."""


class CorruptResultError(InputError):
    """A result file exists but is not valid JSON or not a valid result of its kind."""


def one_line_error(exc: BaseException) -> str:
    """A validation error (pydantic's, or any) as one short line: the first problem with
    its location, and how many more there are."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            items = list(errors())
        except Exception:  # pragma: no cover - a foreign object with an errors() method
            items = []
        if items:
            first = items[0]
            loc = ".".join(str(p) for p in first.get("loc", ())) or "$"
            more = f" (and {len(items) - 1} more)" if len(items) > 1 else ""
            return f"{loc}: {first.get('msg', 'invalid')}{more}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class AssignmentError(AetherFlowError):
    """A reply cannot be applied to the step's files; :attr:`reason` says why (one line).

    The step fails with this reason; nothing is written anywhere. ``path`` names the file
    concerned when there is one.
    """

    def __init__(self, reason: str, *, path: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path


class RunDirectoryError(AetherFlowError):
    """Writing the run directory failed mid-run (disk full, removed, read-only). The run
    stops cleanly as ``interrupted`` with what was completed kept (exit 1)."""


class ProviderError(AetherFlowError):
    """A request to a provider failed. Recorded on the attempt; may be retried.

    ``kind`` is a short stable classification used in reports and statistics
    (``http_429``, ``http_5xx``, ``connect``, ``reset``, ``timeout``, ``malformed``,
    ``truncated``, ``stream_error``, ...). ``transient`` says whether a retry may help.
    """

    kind: str = "provider_error"
    transient: bool = False

    def __init__(self, message: str, *, kind: str | None = None, transient: bool | None = None):
        super().__init__(message)
        if kind is not None:
            self.kind = kind
        if transient is not None:
            self.transient = transient


class ProviderUnavailableError(ProviderError):
    """The provider could not be reached (connection refused, server failed to start)."""

    kind = "connect"
    transient = True


class ProviderHTTPError(ProviderError):
    """The provider answered with a non-2xx status."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        retry_after_s: float | None = None,
        body: str = "",
    ) -> None:
        self.status = status
        self.retry_after_s = retry_after_s
        self.body = body
        transient = status == 429 or status >= 500 or status == 408
        kind = "http_429" if status == 429 else ("http_5xx" if status >= 500 else f"http_{status}")
        super().__init__(message, kind=kind, transient=transient)


class ProviderStreamError(ProviderError):
    """The response stream was malformed, carried an error event, or ended early.

    ``partial_text`` holds the content received before the fault, so nothing is lost.
    """

    def __init__(self, message: str, *, kind: str = "stream_error", transient: bool = True,
                 partial_text: str = "") -> None:
        self.partial_text = partial_text
        super().__init__(message, kind=kind, transient=transient)


class ProviderTimeoutError(ProviderError):
    """No progress within the allowed time (connect, read, or step budget)."""

    kind = "timeout"
    transient = True
