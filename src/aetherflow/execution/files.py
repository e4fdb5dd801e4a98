"""The files each finished step wrote, and what a step may see.

A step sees the files of the steps it depends on (transitively) **as they were when those
steps finished**, applied in the order they finished, then its own: never the files of a
sibling running in parallel, never a later step's. Its checks run on exactly that view.

Two steps that write the same path without a dependency ordering them collide: the later
write wins in the run's ``workspace/`` and the collision is recorded (who overwrote whom).
A refactoring chain that rewrites a file along its dependencies is not a collision.

Costs: recording a step is O(files it wrote); a view is built only for a step that needs
one (it has checks, or files to read), by walking its ancestors.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aetherflow.results.run import FileCollision

__all__ = ["StepFiles"]


class StepFiles:
    """Per-step file snapshots of one run."""

    def __init__(self, dependencies: Mapping[str, Iterable[str]]) -> None:
        self._deps = {k: tuple(v) for k, v in dependencies.items()}
        self._files: dict[str, dict[str, str | None]] = {}
        self._finished: list[str] = []  # steps that wrote files, in the order they finished
        self._last_writer: dict[str, str] = {}

    def ancestors(self, step_id: str) -> set[str]:
        """Every step ``step_id`` depends on, directly or transitively."""
        seen: set[str] = set()
        stack = list(self._deps.get(step_id, ()))
        while stack:
            dep = stack.pop()
            if dep not in seen:
                seen.add(dep)
                stack.extend(self._deps.get(dep, ()))
        return seen

    def record(self, step_id: str, files: Mapping[str, str | None]) -> list[FileCollision]:
        """Keep the files ``step_id`` wrote (its final state; ``None``: it deleted the file);
        return its collisions."""
        if not files:
            return []
        collisions: list[FileCollision] = []
        ancestors: set[str] | None = None
        for path in files:
            previous = self._last_writer.get(path)
            if previous is not None and previous != step_id:
                if ancestors is None:
                    ancestors = self.ancestors(step_id)
                if previous not in ancestors:
                    collisions.append(FileCollision(path=path, overwritten_step=previous,
                                                    by_step=step_id))
            self._last_writer[path] = step_id
        self._files[step_id] = dict(files)
        self._finished.append(step_id)
        return collisions

    def files_of(self, step_id: str) -> dict[str, str | None]:
        """The files ``step_id`` wrote (empty if none or not finished)."""
        return dict(self._files.get(step_id, {}))

    def view(self, step_id: str, own: Mapping[str, str | None] | None = None,
             ) -> dict[str, str | None]:
        """What ``step_id`` sees: its ancestors' files in the order they finished, then
        ``own`` (the step's files so far); ``None`` marks a file a step deleted."""
        out: dict[str, str | None] = {}
        ancestors = self.ancestors(step_id)
        if ancestors:
            for sid in self._finished:
                if sid in ancestors:
                    out.update(self._files[sid])
        out.update(own or {})
        return out
