"""DAG properties: topological batches, cycle detection and the critical path.

Graphs are ``{node: [nodes it depends on]}``. Random DAGs are built by drawing a hidden
topological order and only letting a node depend on nodes earlier in it; cyclic graphs add one
back edge from a node to something it (transitively) depends on.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aetherflow.plan import critical_path, find_cycle, topological_batches

Deps = dict[str, list[str]]


@st.composite
def dags(draw: st.DrawFn, min_nodes: int = 0, max_nodes: int = 10) -> Deps:
    n = draw(st.integers(min_nodes, max_nodes))
    order = draw(st.permutations([f"n{i}" for i in range(n)]))
    deps: Deps = {}
    for i, node in enumerate(order):
        deps[node] = draw(st.lists(st.sampled_from(order[:i]), unique=True)) if i else []
    # Present the mapping in an unrelated order so nothing relies on insertion order.
    keys = draw(st.permutations(list(deps)))
    return {k: deps[k] for k in keys}


def _ancestors(deps: Mapping[str, Sequence[str]], node: str) -> set[str]:
    """Everything ``node`` depends on, directly or transitively."""
    seen: set[str] = set()
    todo = list(deps[node])
    while todo:
        cur = todo.pop()
        if cur not in seen:
            seen.add(cur)
            todo.extend(deps[cur])
    return seen


@st.composite
def cyclic_graphs(draw: st.DrawFn) -> Deps:
    deps = draw(dags(min_nodes=1))
    candidates = sorted((v, u) for v in deps for u in _ancestors(deps, v))
    back_edge: bool = draw(st.booleans())
    if candidates and back_edge:
        v, u = draw(st.sampled_from(candidates))  # v depends (transitively) on u ...
        deps[u] = [*deps[u], v]  # ... and now u depends on v: a cycle through both.
    else:
        node = draw(st.sampled_from(sorted(deps)))
        deps[node] = [*deps[node], node]  # a self-loop
    return deps


def durations_for(deps: Deps) -> st.SearchStrategy[dict[str, float]]:
    """A duration per node; whole numbers so that sums compare exactly."""
    return st.fixed_dictionaries({n: st.integers(0, 100).map(float) for n in deps})


def dags_with_durations(min_nodes: int = 0) -> st.SearchStrategy[tuple[Deps, dict[str, float]]]:
    return dags(min_nodes=min_nodes).flatmap(lambda d: st.tuples(st.just(d), durations_for(d)))


def _all_chains(deps: Mapping[str, Sequence[str]]) -> Iterator[list[str]]:
    """Every dependency chain ``[first, ..., last]`` (brute force: each path of every length)."""

    def extend(path: list[str]) -> Iterator[list[str]]:
        yield path
        for dep in deps[path[0]]:
            yield from extend([dep, *path])

    for node in deps:
        yield from extend([node])


def _is_chain(deps: Mapping[str, Sequence[str]], path: Sequence[str]) -> bool:
    return all(earlier in deps[later] for earlier, later in pairwise(path))


# --- topological_batches -----------------------------------------------------------------------


@given(dags())
def test_batches_contain_every_node_once(deps: Deps) -> None:
    flat = [n for batch in topological_batches(deps) for n in batch]
    assert sorted(flat) == sorted(deps)
    assert all(topological_batches(deps))  # no empty batch


@given(dags())
def test_dependencies_are_in_earlier_batches(deps: Deps) -> None:
    level = {n: k for k, batch in enumerate(topological_batches(deps)) for n in batch}
    for node, node_deps in deps.items():
        for dep in node_deps:
            assert level[dep] < level[node]


@given(dags())
def test_batches_are_minimal(deps: Deps) -> None:
    batches = topological_batches(deps)
    level = {n: k for k, batch in enumerate(batches) for n in batch}
    for node, k in level.items():
        if k == 0:
            assert deps[node] == []
        else:
            assert any(level[d] == k - 1 for d in deps[node]), f"{node} could run earlier"


@given(dags())
def test_batch_order_follows_mapping_order(deps: Deps) -> None:
    position = {n: i for i, n in enumerate(deps)}
    for batch in topological_batches(deps):
        assert batch == sorted(batch, key=position.__getitem__)


@given(cyclic_graphs())
def test_batches_refuse_a_cycle(deps: Deps) -> None:
    with pytest.raises(ValueError, match="cycle"):
        topological_batches(deps)


# --- find_cycle --------------------------------------------------------------------------------


@given(dags())
def test_no_cycle_in_a_dag(deps: Deps) -> None:
    assert find_cycle(deps) is None


@given(cyclic_graphs())
def test_cycle_found_is_real(deps: Deps) -> None:
    cycle = find_cycle(deps)
    assert cycle is not None
    assert len(cycle) >= 2 and cycle[0] == cycle[-1]
    assert len(set(cycle[:-1])) == len(cycle) - 1, "a simple cycle: no node twice"
    for node, dep in pairwise(cycle):
        assert dep in deps[node], f"{node} -> {dep} is not a dependency edge"


# --- critical_path -----------------------------------------------------------------------------


@given(dags_with_durations())
def test_critical_path_matches_brute_force(case: tuple[Deps, dict[str, float]]) -> None:
    deps, durations = case
    length, path = critical_path(deps, durations)
    # Brute force: the longest of every chain ending at every node.
    best = max((sum(durations[n] for n in chain) for chain in _all_chains(deps)), default=0.0)
    assert length == best
    if deps:
        assert path and _is_chain(deps, path)
        assert sum(durations[n] for n in path) == length
        assert deps[path[0]] == [], "the path starts at a step with no dependencies"
    else:
        assert path == []


@given(dags_with_durations(min_nodes=1), st.data())
def test_critical_path_bounds(case: tuple[Deps, dict[str, float]], data: st.DataObject) -> None:
    deps, durations = case
    length, _ = critical_path(deps, durations)
    assert all(length >= d for d in durations.values())
    # Walk one random chain downwards through dependencies; its sum is a lower bound.
    node = data.draw(st.sampled_from(sorted(deps)))
    chain = [node]
    while deps[chain[0]]:
        chain.insert(0, data.draw(st.sampled_from(deps[chain[0]])))
    assert _is_chain(deps, chain)
    assert length >= sum(durations[n] for n in chain)
    assert length <= sum(durations.values())


@given(dags())
def test_critical_path_with_unit_durations_is_the_batch_count(deps: Deps) -> None:
    length, path = critical_path(deps, dict.fromkeys(deps, 1.0))
    assert length == len(topological_batches(deps)) == len(path)


@given(dags(min_nodes=1))
def test_missing_durations_count_as_zero(deps: Deps) -> None:
    assert critical_path(deps, {})[0] == 0.0


# --- hand examples -----------------------------------------------------------------------------

DIAMOND: Deps = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}


def test_diamond_batches() -> None:
    assert topological_batches(DIAMOND) == [["a"], ["b", "c"], ["d"]]


def test_diamond_critical_path_takes_the_slow_branch() -> None:
    assert critical_path(DIAMOND, {"a": 1, "b": 5, "c": 2, "d": 1}) == (7.0, ["a", "b", "d"])
    assert critical_path(DIAMOND, {"a": 1, "b": 2, "c": 5, "d": 1}) == (7.0, ["a", "c", "d"])


def test_fan_in_without_a_root() -> None:
    deps: Deps = {"x": [], "y": [], "z": [], "join": ["x", "y", "z"]}
    assert topological_batches(deps) == [["x", "y", "z"], ["join"]]
    assert critical_path(deps, {"x": 3, "y": 9, "z": 4, "join": 2}) == (11.0, ["y", "join"])


def test_diamond_with_back_edge() -> None:
    deps = {**DIAMOND, "a": ["d"]}
    cycle = find_cycle(deps)
    assert cycle in (["a", "d", "b", "a"], ["a", "d", "c", "a"])


def test_self_loop_and_two_cycle() -> None:
    assert find_cycle({"a": ["a"]}) == ["a", "a"]
    assert find_cycle({"a": ["b"], "b": ["a"]}) == ["a", "b", "a"]


def test_unknown_dependency_names_are_ignored() -> None:
    deps = {"a": ["ghost"], "b": ["a"]}
    assert find_cycle(deps) is None
    assert topological_batches(deps) == [["a"], ["b"]]
    assert critical_path(deps, {"a": 1, "b": 2}) == (3.0, ["a", "b"])


def test_empty_graph() -> None:
    assert topological_batches({}) == []
    assert find_cycle({}) is None
    assert critical_path({}, {}) == (0.0, [])
