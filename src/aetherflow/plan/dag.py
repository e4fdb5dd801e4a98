"""Dependency graph of a plan: cycle detection, topological batches, critical path."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["critical_path", "find_cycle", "topological_batches"]


def find_cycle(deps: Mapping[str, Sequence[str]]) -> list[str] | None:
    """Return one dependency cycle as ``[a, b, ..., a]`` or ``None`` if the graph is acyclic.

    ``deps`` maps each node to the nodes it depends on; unknown names are ignored.
    """
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(deps, white)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = grey
        stack.append(node)
        for dep in deps[node]:
            if dep not in colour:
                continue
            if colour[dep] == grey:
                return [*stack[stack.index(dep):], dep]
            if colour[dep] == white and (found := visit(dep)):
                return found
        stack.pop()
        colour[node] = black
        return None

    for node in deps:
        if colour[node] == white and (found := visit(node)):
            return found
    return None


def topological_batches(deps: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Group nodes into batches: every node's dependencies are in earlier batches.

    Batch order within a batch follows the mapping's order. Raises ``ValueError`` on a cycle.
    """
    remaining = {n: set(d) & deps.keys() for n, d in deps.items()}
    batches: list[list[str]] = []
    done: set[str] = set()
    while remaining:
        ready = [n for n, d in remaining.items() if d <= done]
        if not ready:
            raise ValueError("dependency cycle")
        batches.append(ready)
        done.update(ready)
        for n in ready:
            del remaining[n]
    return batches


def critical_path(
    deps: Mapping[str, Sequence[str]], durations: Mapping[str, float]
) -> tuple[float, list[str]]:
    """Longest chain of ``durations`` through the dependency graph.

    Returns ``(length, [first, ..., last])``. Nodes missing from ``durations`` count as 0.
    This is the lower bound on any schedule's makespan.
    """
    finish: dict[str, float] = {}
    via: dict[str, str | None] = {}
    for batch in topological_batches(deps):
        for node in batch:
            best_dep = max(
                (d for d in deps[node] if d in finish), key=lambda d: finish[d], default=None
            )
            start = finish[best_dep] if best_dep is not None else 0.0
            finish[node] = start + durations.get(node, 0.0)
            via[node] = best_dep
    if not finish:
        return 0.0, []
    end = max(finish, key=lambda n: finish[n])
    path: list[str] = []
    cur: str | None = end
    while cur is not None:
        path.append(cur)
        cur = via[cur]
    return finish[end], path[::-1]
