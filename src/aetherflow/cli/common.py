"""What every result-writing command shares: where human and machine output go, how
SIGINT and SIGTERM stop it, and the interrupted message.

* Human output (tables, progress, "written to ...") goes to stderr; ``--json`` prints one
  machine-readable document on stdout, so ``aetherflow bench ... --json | jq`` works.
* SIGINT (Ctrl-C) and SIGTERM stop a command the same way: the work in flight is
  cancelled, what finished is kept, the run or bench is marked interrupted, the message
  says where it is and how to resume it, and the exit code is 130.

Light at import (the CLI registers every command at start-up): asyncio and rich are
imported when a command runs.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from collections.abc import Coroutine, Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

import typer

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["INTERRUPTED_EXIT", "exit_interrupted", "human_console", "print_json",
           "print_where", "run_until_signal", "terminate_as_interrupt"]

T = TypeVar("T")
#: Exit code of a command stopped by SIGINT or SIGTERM (128 + SIGINT, as shells report it).
INTERRUPTED_EXIT = 130
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def human_console() -> Console:
    """The console for people: stderr (stdout is kept for ``--json``)."""
    from rich.console import Console

    return Console(stderr=True)


def print_json(data: Any) -> None:
    """``data`` as indented JSON on stdout (the machine-readable result of ``--json``)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt like SIGINT does, so both end a
    command through the same ``except KeyboardInterrupt`` path."""
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_until_signal(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro``; SIGINT and SIGTERM cancel it the same way (what finished is kept, the
    run is marked interrupted and can be resumed) and raise KeyboardInterrupt. The signal
    handlers in place before are restored afterwards."""
    import asyncio

    async def main() -> T:
        task = asyncio.ensure_future(coro)
        loop = asyncio.get_running_loop()
        stopped: list[int] = []

        def stop(signum: int) -> None:
            stopped.append(signum)
            task.cancel()

        for signum in _STOP_SIGNALS:
            loop.add_signal_handler(signum, stop, signum)
        try:
            return await task
        except asyncio.CancelledError:
            if stopped:
                raise KeyboardInterrupt from None
            raise
        finally:
            for signum in _STOP_SIGNALS:
                loop.remove_signal_handler(signum)

    before = {signum: signal.getsignal(signum) for signum in _STOP_SIGNALS}
    try:
        return asyncio.run(main())
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


def print_where(console: Console, label: str, value: object) -> None:
    """``label value`` on one line when it fits the console, else ``label`` and the value
    indented on the next line. The value (a path, a command) is never broken or shortened,
    so it can be copied as it is."""
    text = str(value)
    if len(label) + 1 + len(text) <= console.width:
        console.print(f"{label} {text}", markup=False, highlight=False, soft_wrap=True)
    else:
        console.print(label, markup=False, highlight=False)
        console.print(f"  {text}", markup=False, highlight=False, soft_wrap=True)


def exit_interrupted(console: Console, what: str, where: Path | None, resume: str | None,
                     ) -> typer.Exit:
    """Say that ``what`` (``run``, ``bench``, ``suite``) was interrupted, where what finished
    is kept and the command that continues it; return the exit (130) to raise."""
    console.print(f"[yellow]interrupted[/]: the {what} stopped; what finished is kept",
                  highlight=False)
    if where is not None:
        print_where(console, "kept in:", where)
    if resume:
        print_where(console, "continue with:", resume)
    return typer.Exit(INTERRUPTED_EXIT)
