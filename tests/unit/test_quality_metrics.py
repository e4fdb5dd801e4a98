"""Quality, throughput and load metrics against hand-computed truths (docs/metrics.md)."""

from __future__ import annotations

import math

import pytest
from test_report_model import make_attempt, make_run, make_step

from aetherflow.bench.aggregate import _pass_at_k, compute_aggregates, latency_table, pass_at_k
from aetherflow.bench.runner import machine_load
from aetherflow.metrics.environment import LoadSample
from aetherflow.results.run import CodeQuality, ServerTiming
from aetherflow.validation.quality import radon_figures


@pytest.mark.parametrize(("n", "c", "k", "expected"), [
    (5, 2, 1, 0.4),
    (5, 2, 2, 1 - math.comb(3, 2) / math.comb(5, 2)),  # 0.7
    (5, 0, 3, 0.0),
    (5, 4, 2, 1.0),  # n - c < k: every draw of 2 holds a pass
    (10, 3, 10, 1.0),
])
def test_pass_at_k_is_the_unbiased_estimator(n: int, c: int, k: int, expected: float) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(expected)


def test_pass_at_k_over_repeats_and_na_when_repeats_cannot_differ() -> None:
    runs = [make_run(f"r{i}", [make_step("a", [1.0], status="passed" if i < 2 else "failed"),
                               make_step("b", [1.0], status="passed")]) for i in range(4)]
    for r in runs:
        r.config.temperature = 0.7
    by_k = {p.k: p.value for p in _pass_at_k(runs)}
    # step a: n=4, c=2 -> pass@1 0.5, pass@2 1 - C(2,2)/C(4,2) = 5/6; step b: 1.0
    assert by_k[1] == pytest.approx((0.5 + 1.0) / 2)
    assert by_k[2] == pytest.approx((5 / 6 + 1.0) / 2)
    assert 5 not in by_k  # k > n
    for r in runs:
        r.config.temperature = 0.0
    greedy = _pass_at_k(runs)
    assert greedy[0].value is None and "temperature 0" in (greedy[0].note or "")


def test_radon_figures_of_known_code() -> None:
    simple = "def f(x):\n    return x + 1\n"
    branchy = ("def g(x):\n    if x > 0:\n        return 1\n    elif x < 0:\n        return -1\n"
               "    return 0\n")
    mi, cc_mean, cc_max, broken = radon_figures({"a.py": simple, "b.py": branchy,
                                                 "c.py": "def (:\n"})
    assert broken == ["c.py"]
    assert (cc_mean, cc_max) == (2.0, 3)  # f: 1, g: 1 + if + elif = 3
    assert mi is not None and 0 < mi <= 100


def test_code_quality_summary_weights_by_lines() -> None:
    a, b = make_step("a", [1.0]), make_step("b", [1.0])
    a.quality = CodeQuality(python_files=1, lines=100, ruff_findings=2,
                            maintainability_index=80.0, cyclomatic_complexity_mean=2.0,
                            cyclomatic_complexity_max=4)
    b.quality = CodeQuality(python_files=1, lines=300, ruff_findings=10,
                            maintainability_index=40.0, cyclomatic_complexity_mean=4.0,
                            cyclomatic_complexity_max=9)
    code = compute_aggregates([make_run("r", [a, b])]).quality.code
    assert code.ruff_findings_per_100_lines == pytest.approx(12 * 100 / 400)
    assert code.maintainability_index_mean == pytest.approx((80 * 100 + 40 * 300) / 400)
    assert (code.cyclomatic_complexity_mean, code.cyclomatic_complexity_max) == (3.0, 9)


def test_itl_is_pooled_over_attempts_and_tpot_names_its_tokens() -> None:
    one, two = make_attempt(10.0), make_attempt(20.0)
    one.timing.itl_ms = [1.0, 2.0, 3.0]
    two.timing.itl_ms = [10.0]
    table = latency_table([one, two], "all")
    assert table.itl_ms.n == 4 and table.itl_ms.mean == 4.0 and table.itl_ms.max == 10.0
    assert table.tpot_provenance == ["server"]


def test_throughput_per_run_from_tokens_and_makespan() -> None:
    run = make_run("r", [make_step("a", [1.0], out_tokens=30),
                         make_step("b", [1.0, 1.0], out_tokens=10)], makespan=2000.0)
    tp = compute_aggregates([run]).throughput
    assert tp is not None
    assert tp.output_tokens_per_s.mean == pytest.approx((30 + 10 + 10) / 2.0)
    assert tp.requests_per_s.mean == pytest.approx(3 / 2.0)


def test_compute_critical_path_flags_runs_that_waited_inside_the_server() -> None:
    run = make_run("r", [make_step("a", [1.0])], makespan=1000.0)
    run.critical_path_ms = 900.0
    run.compute_critical_path_ms = 300.0
    structure = compute_aggregates([run]).plan_structure
    assert structure.compute_critical_path_ms.mean == 300.0
    assert structure.compute_parallel_efficiency.mean == pytest.approx(0.3)
    assert structure.compute_gap_runs == 1
    unreported = compute_aggregates([make_run("q", [make_step("a", [1.0])])]).plan_structure
    assert unreported.compute_critical_path_ms.n == 0
    assert "reported no compute time" in (unreported.compute_critical_path_ms.note or "")
    assert ServerTiming().compute_ms is None


def test_machine_load_is_busy_on_load_or_steal() -> None:
    quiet = machine_load([LoadSample(0.2, 1000, 0), LoadSample(0.4, 2000, 10)], 2)
    assert not quiet.busy and quiet.cpu_steal_share == pytest.approx(0.01)
    loaded = machine_load([LoadSample(0.5, 1000, 0), LoadSample(3.1, 2000, 0)], 2)
    assert loaded.busy and "3.10 on 2 CPUs" in (loaded.warning or "")
    stolen = machine_load([LoadSample(0.1, 1000, 0), LoadSample(0.1, 2000, 200)], 2)
    assert stolen.busy and "20%" in (stolen.warning or "")
    unknown = machine_load([LoadSample(None, None, None)], None)
    assert not unknown.busy and unknown.note
