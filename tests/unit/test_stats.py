"""Statistics against known truths: hand-computed percentiles, Student's t tables, Welch's
interval, synthetic designs whose answer is known, Newcombe 1998."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aetherflow.metrics.stats import (
    PERCENTILE_MIN_N,
    Distribution,
    Observation,
    bootstrap_diff_ci,
    cluster_bootstrap_diff_ci,
    proportion_diff_ci,
    rate,
    student_t_quantile,
    summarize,
    wilson_interval,
)

# --- summarize --------------------------------------------------------------------------------


def test_percentiles_of_1_to_100_match_hand_values() -> None:
    # Linear interpolation: h = (n - 1) q; 1..100 sorted, x[i] = i + 1.
    d = summarize(range(1, 101))
    assert d.n == 100
    assert d.mean == pytest.approx(50.5)
    assert d.p50 == pytest.approx(50.5)  # h = 49.5  -> 50 + 0.5
    assert d.p90 == pytest.approx(90.1)  # h = 89.1  -> 90 + 0.1
    assert d.p95 == pytest.approx(95.05)  # h = 94.05 -> 95 + 0.05
    assert d.p99 == pytest.approx(99.01)  # h = 98.01 -> 99 + 0.01
    assert (d.min, d.max) == (1.0, 100.0)
    # sample stdev of 1..n = sqrt(n (n + 1) / 12)
    assert d.stdev == pytest.approx(math.sqrt(100 * 101 / 12))
    assert d.note is None and d.percentile_notes == {}


def test_minimum_n_per_percentile_is_one_over_the_tail() -> None:
    # n >= 1 / (1 - q): the sample is expected to hold one observation above the percentile.
    assert PERCENTILE_MIN_N == {"p50": 2, "p90": 10, "p95": 20, "p99": 100}
    for name, need in PERCENTILE_MIN_N.items():
        q = float(name[1:]) / 100
        assert need == math.ceil(round(1 / (1 - q), 9))


@pytest.mark.parametrize(("n", "shown"), [
    (1, set()), (2, {"p50"}), (9, {"p50"}), (10, {"p50", "p90"}), (19, {"p50", "p90"}),
    (20, {"p50", "p90", "p95"}), (99, {"p50", "p90", "p95"}),
    (100, {"p50", "p90", "p95", "p99"}),
])
def test_percentile_below_its_minimum_n_is_none_with_the_reason(n: int, shown: set[str]) -> None:
    d = summarize([float(i) for i in range(n)])
    for name, need in PERCENTILE_MIN_N.items():
        value = getattr(d, name)
        if name in shown:
            assert value is not None and name not in d.percentile_notes
        else:
            assert value is None
            assert d.percentile_notes[name] == f"{name} needs n >= {need} (n = {n})"
    assert d.mean is not None and d.max is not None  # the rest is still reported


def test_two_values_no_longer_pretend_to_have_a_p99() -> None:
    d = summarize([100.0, 300.0])
    assert d.p50 == 200.0
    assert (d.p90, d.p95, d.p99) == (None, None, None)
    assert set(d.percentile_notes) == {"p90", "p95", "p99"}


def test_empty_sample_is_none_with_reason_never_zero() -> None:
    d = summarize([], empty_note="provider streams no usage")
    assert d.n == 0
    stats = [d.mean, d.p50, d.p90, d.p95, d.p99, d.min, d.max, d.stdev]
    assert all(v is None for v in stats)
    assert d.note == "provider streams no usage"


def test_only_none_values_count_as_missing() -> None:
    d = summarize([None, None])
    assert (d.n, d.missing, d.mean) == (0, 2, None)
    assert d.note == "no measured values"


def test_single_value() -> None:
    d = summarize([None, 7.5])
    assert (d.n, d.missing) == (1, 1)
    assert d.mean == d.min == d.max == 7.5
    assert d.p50 is None and d.percentile_notes["p50"] == "p50 needs n >= 2 (n = 1)"
    assert d.stdev is None
    assert d.note is not None and "2 values" in d.note


def test_none_is_ignored_not_zero() -> None:
    assert summarize([10.0, None, 20.0]).mean == pytest.approx(15.0)


def test_non_finite_values_are_rejected() -> None:
    with pytest.raises(ValueError, match="finite"):
        summarize([1.0, float("nan")])


def test_distribution_forbids_extra_fields_and_reads_old_json() -> None:
    with pytest.raises(ValueError):
        Distribution(n=0, bogus=1)  # type: ignore[call-arg]
    old = Distribution.model_validate({"n": 1, "mean": 2.0, "p99": 2.0})  # before the notes
    assert old.percentile_notes == {}


finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False)


@given(st.lists(finite, min_size=1, max_size=200))
def test_percentiles_are_ordered_and_mean_in_range(values: list[float]) -> None:
    d = summarize(values)
    assert d.min is not None and d.max is not None and d.mean is not None
    shown = [v for v in (d.p50, d.p90, d.p95, d.p99) if v is not None]
    assert len(shown) == sum(len(values) >= n for n in PERCENTILE_MIN_N.values())
    tol = 1e-9 * max(1.0, abs(d.min), abs(d.max))
    assert [d.min, *shown, d.max] == sorted([d.min, *shown, d.max])
    assert d.min - tol <= d.mean <= d.max + tol
    assert d.n == len(values)


# --- rate -------------------------------------------------------------------------------------


def test_rate() -> None:
    assert rate(3, 4) == 0.75
    assert rate(0, 5) == 0.0
    assert rate(0, 0) is None


@pytest.mark.parametrize(("s", "n"), [(5, 4), (-1, 3), (0, -1)])
def test_rate_rejects_impossible_counts(s: int, n: int) -> None:
    with pytest.raises(ValueError):
        rate(s, n)


# --- Student's t ------------------------------------------------------------------------------


@pytest.mark.parametrize(("df", "expected"), [
    (1, 12.7062), (2, 4.3027), (3, 3.1824), (4, 2.7764), (10, 2.2281), (30, 2.0423),
    (math.inf, 1.9600),
])
def test_t_quantiles_match_the_printed_table(df: float, expected: float) -> None:
    assert student_t_quantile(0.975, df) == pytest.approx(expected, abs=5e-5)
    assert student_t_quantile(0.025, df) == pytest.approx(-expected, abs=5e-5)


def test_t_quantile_other_levels_and_fractional_df() -> None:
    assert student_t_quantile(0.95, 5) == pytest.approx(2.0150, abs=5e-5)
    assert student_t_quantile(0.995, 2) == pytest.approx(9.9248, abs=5e-4)
    # a fractional df lies between its neighbours
    assert 2.7764 < student_t_quantile(0.975, 3.5) < 3.1824
    with pytest.raises(ValueError):
        student_t_quantile(1.0, 3)
    with pytest.raises(ValueError):
        student_t_quantile(0.9, 0)


# --- bootstrap of independent observations ----------------------------------------------------


def test_bootstrap_finds_a_true_mean_difference_of_5() -> None:
    rng = np.random.default_rng(42)
    a = rng.normal(100.0, 1.0, 200).tolist()
    b = rng.normal(105.0, 1.0, 200).tolist()
    est = bootstrap_diff_ci(a, b, seed=1)
    assert est.ci_low is not None and est.ci_high is not None
    assert est.ci_low < 5.0 < est.ci_high
    assert est.ci_low > 0
    assert est.significant is True
    assert est.difference == pytest.approx(np.mean(b) - np.mean(a))
    assert est.relative_difference == pytest.approx(est.difference / np.mean(a))
    assert (est.n_a, est.n_b, est.stat, est.method) == (200, 200, "mean", "bootstrap")


def test_bootstrap_of_the_mean_is_welchs_interval() -> None:
    # Known truth: with k/(k-1)-corrected bootstrap variance of the mean = s^2/n, the
    # interval is Welch's t interval (Satterthwaite df), up to Monte Carlo error.
    a = [12.1, 9.8, 11.4, 10.2, 13.0, 10.9, 9.5, 11.8]
    b = [13.9, 12.2, 15.1, 12.8, 14.4, 13.3]
    va = float(np.var(a, ddof=1)) / len(a)
    vb = float(np.var(b, ddof=1)) / len(b)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = student_t_quantile(0.975, df) * math.sqrt(va + vb)
    d = np.mean(b) - np.mean(a)
    est = bootstrap_diff_ci(a, b, n_resamples=40_000, seed=3)
    assert est.ci_low is not None and est.ci_high is not None and est.df is not None
    assert est.difference == pytest.approx(d)
    assert est.ci_high - est.ci_low == pytest.approx(2 * half, rel=0.03)
    assert est.df == pytest.approx(df, rel=0.05)


def test_bootstrap_median() -> None:
    rng = np.random.default_rng(7)
    a = rng.normal(0.0, 1.0, 300).tolist()
    b = rng.normal(5.0, 1.0, 300).tolist()
    est = bootstrap_diff_ci(a, b, stat="median", n_resamples=1000)
    assert est.difference == pytest.approx(np.median(b) - np.median(a))
    assert est.ci_low is not None and est.ci_high is not None
    assert est.ci_low < 5.0 < est.ci_high
    assert est.significant is True


def test_identical_distributions_are_rarely_significant() -> None:
    hits = 0
    for seed in range(60):
        rng = np.random.default_rng(seed)
        a, b = rng.normal(10.0, 2.0, (2, 50))
        hits += bool(
            bootstrap_diff_ci(a.tolist(), b.tolist(), n_resamples=500, seed=seed).significant
        )
    assert hits / 60 <= 0.15  # nominally 5 %


def test_bootstrap_coverage_is_near_nominal() -> None:
    true_diff = 2.0
    covered = 0
    trials = 200
    for seed in range(trials):
        rng = np.random.default_rng(1000 + seed)
        a = rng.normal(0.0, 3.0, 40)
        b = rng.normal(true_diff, 3.0, 40)
        est = bootstrap_diff_ci(a.tolist(), b.tolist(), n_resamples=500, seed=seed)
        assert est.ci_low is not None and est.ci_high is not None
        covered += est.ci_low <= true_diff <= est.ci_high
    assert 0.90 <= covered / trials <= 0.99


def test_bootstrap_is_deterministic_for_a_seed() -> None:
    a, b = [1.0, 2.0, 3.0, 4.0, 9.0], [2.0, 3.0, 5.0, 8.0, 13.0]
    assert bootstrap_diff_ci(a, b, seed=3) == bootstrap_diff_ci(a, b, seed=3)
    assert bootstrap_diff_ci(a, b, seed=3).ci_low != bootstrap_diff_ci(a, b, seed=4).ci_low


def test_bootstrap_handles_10k_values() -> None:
    rng = np.random.default_rng(5)
    est = bootstrap_diff_ci(rng.normal(0, 1, 10_000), rng.normal(0.1, 1, 10_000), seed=5)
    assert est.ci_low is not None and est.ci_high is not None
    assert est.ci_low < 0.1 < est.ci_high


def test_bootstrap_with_one_value_gives_point_only() -> None:
    est = bootstrap_diff_ci([1.0, 2.0, 3.0], [5.0])
    assert est.difference == pytest.approx(3.0)
    assert (est.ci_low, est.ci_high, est.significant) == (None, None, None)
    assert est.note is not None and "at least 2 values" in est.note


def test_bootstrap_with_empty_group_has_no_difference() -> None:
    est = bootstrap_diff_ci([None, None], [1.0, 2.0])
    assert est.difference is None and est.a_value is None
    assert est.significant is None
    assert est.n_a == 0 and est.missing_a == 2 and est.note


def test_bootstrap_zero_baseline_has_no_relative_difference() -> None:
    est = bootstrap_diff_ci([0.0, 0.0, 0.0], [1.0, 1.0, 1.0])
    assert est.relative_difference is None and est.relative_ci_low is None
    assert est.note is not None and "baseline is 0" in est.note
    assert (est.ci_low, est.ci_high) == (1.0, 1.0)  # no variation: every resample differs by 1
    assert est.significant is True


@pytest.mark.parametrize(
    "kwargs", [{"confidence": 1.0}, {"confidence": 0.0}, {"n_resamples": 1}, {"stat": "mode"}]
)
def test_bootstrap_rejects_bad_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        bootstrap_diff_ci([1.0, 2.0], [3.0, 4.0], **kwargs)  # type: ignore[arg-type]


# --- cluster bootstrap: designs with a known answer -------------------------------------------


def _runs(values: Sequence[Sequence[float | None]], steps: list[str] | None = None
          ) -> list[list[Observation]]:
    """Runs of observations; observation ``j`` of a run belongs to ``steps[j]``."""
    return [[Observation(v, steps[j] if steps else f"s{j}") for j, v in enumerate(run)]
            for run in values]


def test_paired_identical_sides_give_exactly_zero() -> None:
    # "input tokens 737 vs 737 with an interval of [-344, +368]": steps of very different
    # sizes, each identical in every run of both benches. A paired design must say [0, 0].
    tokens = [120.0, 2900.0, 737.0, 45.0, 1800.0]
    a = _runs([tokens] * 3)
    b = _runs([tokens] * 4)
    est = cluster_bootstrap_diff_ci(a, b, paired=True)
    assert est.method == "cluster-bootstrap-paired" and est.paired_steps == 5
    assert (est.difference, est.ci_low, est.ci_high) == (0.0, 0.0, 0.0)
    assert (est.relative_ci_low, est.relative_ci_high) == (0.0, 0.0)
    assert est.significant is False
    assert (est.runs_a, est.runs_b) == (3, 4)


def test_paired_identical_steps_with_uneven_attempts_still_give_zero() -> None:
    # Attempts (retries) vary between runs, so the pooled mix of steps varies: an unpaired
    # estimate moves, the paired one compares each step with itself and stays at 0.
    def run(extra: list[str]) -> list[Observation]:
        return [Observation({"big": 3000.0, "small": 50.0}[s], s) for s in ["big", "small",
                                                                            *extra]]
    a = [run([]), run(["small", "small"]), run(["big"])]
    b = [run(["big", "big"]), run([]), run(["small"])]
    paired = cluster_bootstrap_diff_ci(a, b, paired=True)
    unpaired = cluster_bootstrap_diff_ci(a, b)
    assert (paired.ci_low, paired.ci_high) == (0.0, 0.0)
    assert unpaired.ci_low is not None and unpaired.ci_high is not None
    assert unpaired.ci_high - unpaired.ci_low > 1000


def test_paired_estimator_is_the_mean_of_per_step_differences() -> None:
    a = _runs([[100.0, 1000.0], [110.0, 1010.0]])
    b = _runs([[90.0, 900.0], [96.0, 910.0], [93.0, 905.0]])
    est = cluster_bootstrap_diff_ci(a, b, paired=True)
    per_step_a = [105.0, 1005.0]
    per_step_b = [93.0, 905.0]
    assert est.a_value == pytest.approx(np.mean(per_step_a))
    assert est.b_value == pytest.approx(np.mean(per_step_b))
    assert est.difference == pytest.approx(np.mean(np.subtract(per_step_b, per_step_a)))
    assert est.relative_difference == pytest.approx(np.sum(per_step_b) / np.sum(per_step_a)
                                                     - 1)


def test_paired_uses_only_the_steps_both_sides_measured() -> None:
    a = [[Observation(10.0, "x"), Observation(99.0, "only_a")]] * 2
    b = [[Observation(12.0, "x"), Observation(None, "only_a")]] * 2
    est = cluster_bootstrap_diff_ci(a, b, paired=True)
    assert est.paired_steps == 1 and est.difference == pytest.approx(2.0)
    assert est.missing_b == 2
    none = cluster_bootstrap_diff_ci([[Observation(1.0, "p")]] * 2,
                                     [[Observation(1.0, "q")]] * 2, paired=True)
    assert none.difference is None and none.note is not None and "no step" in none.note


def test_cluster_ci_is_wider_than_the_naive_one_under_within_run_correlation() -> None:
    # Every run has its own offset (a slow server that day) shared by its 50 attempts: the
    # attempts are far from independent. Resampling attempts ignores that; runs do not.
    rng = np.random.default_rng(11)

    def side() -> list[list[Observation]]:
        return [[Observation(float(v)) for v in rng.normal(500 + rng.normal(0, 80), 10, 50)]
                for _ in range(4)]

    a, b = side(), side()
    cluster = cluster_bootstrap_diff_ci(a, b)
    naive = bootstrap_diff_ci([o.value for r in a for o in r], [o.value for r in b for o in r])
    assert cluster.ci_low is not None and cluster.ci_high is not None
    assert naive.ci_low is not None and naive.ci_high is not None
    assert cluster.ci_high - cluster.ci_low > 5 * (naive.ci_high - naive.ci_low)
    assert cluster.method == "cluster-bootstrap" and cluster.runs_a == 4


def test_cluster_false_positive_rate_near_nominal_with_three_runs() -> None:
    # Same distribution on both sides (run offsets included), 3 runs each: "significant"
    # must stay rare -- the k/(k-1) correction and t(df) quantiles keep it near 5 %.
    hits = 0
    trials = 150
    for seed in range(trials):
        rng = np.random.default_rng(seed)

        def side(rng: np.random.Generator = rng) -> list[list[Observation]]:
            return [[Observation(float(v)) for v in rng.normal(rng.normal(1.0, 0.01), 0.001, 5)]
                    for _ in range(3)]

        hits += bool(cluster_bootstrap_diff_ci(side(), side(), n_resamples=500,
                                               seed=seed).significant)
    assert hits / trials <= 0.10


def test_cluster_coverage_is_near_nominal() -> None:
    true_diff = 30.0
    covered = 0
    trials = 120
    for seed in range(trials):
        rng = np.random.default_rng(500 + seed)

        def side(mu: float, rng: np.random.Generator = rng) -> list[list[Observation]]:
            return [[Observation(float(v)) for v in rng.normal(mu + rng.normal(0, 20), 5, 8)]
                    for _ in range(5)]

        est = cluster_bootstrap_diff_ci(side(100.0), side(100.0 + true_diff),
                                        n_resamples=500, seed=seed)
        assert est.ci_low is not None and est.ci_high is not None
        covered += est.ci_low <= true_diff <= est.ci_high
    assert 0.88 <= covered / trials <= 0.995


def test_relative_ci_of_a_positive_metric_stays_above_minus_100_percent() -> None:
    # A latency that varies a lot between runs: the absolute CI reaches far below -A (a
    # relative change under -100 % if divided by A), the log-ratio CI cannot.
    a = _runs([[100.0], [900.0], [150.0]])
    b = _runs([[40.0], [60.0], [700.0]])
    est = cluster_bootstrap_diff_ci(a, b)
    assert est.a_value is not None and est.ci_low is not None
    assert est.ci_low / est.a_value < -1.0  # the old "relative CI" would be impossible
    assert est.relative_ci_low is not None and est.relative_ci_high is not None
    assert -1.0 < est.relative_ci_low < est.relative_difference < est.relative_ci_high  # type: ignore[operator]


@given(st.lists(st.floats(min_value=0.01, max_value=1e6), min_size=2, max_size=6),
       st.lists(st.floats(min_value=0.01, max_value=1e6), min_size=2, max_size=6))
def test_relative_ci_of_positive_values_is_always_above_minus_100_percent(
        a: list[float], b: list[float]) -> None:
    est = cluster_bootstrap_diff_ci(_runs([[v] for v in a]), _runs([[v] for v in b]),
                                    n_resamples=200)
    if est.relative_ci_low is not None:
        # exp(log bound) - 1 > -1; only float rounding of exp(< -36) can print -1.0 exactly
        assert est.relative_ci_low >= -1.0


def test_no_relative_ci_for_metrics_that_can_be_negative() -> None:
    est = cluster_bootstrap_diff_ci(_runs([[-5.0], [3.0]]), _runs([[1.0], [2.0]]))
    assert est.relative_ci_low is None
    assert est.note is not None and "positive" in est.note


def test_median_per_cluster_resample_is_the_pooled_median() -> None:
    # One run per value pair: resampling [[1, 2], [3, 100]] twice gives pooled samples whose
    # medians are 1.5, 2.5 or 51.5; with no variation in B the CI is driven by A alone.
    a = _runs([[1.0, 2.0], [3.0, 100.0]], steps=["s", "s"])
    b = _runs([[5.0, 5.0], [5.0, 5.0]], steps=["s", "s"])
    est = cluster_bootstrap_diff_ci(a, b, stat="median", n_resamples=4000)
    assert est.a_value == pytest.approx(2.5)  # median of 1, 2, 3, 100
    # replicate medians: 1.5 (p=1/4), 2.5 (1/2), 51.5 (1/4) -> var = 0.25 * 25^2 * 2 - ...
    values = np.array([1.5, 2.5, 51.5])
    probs = np.array([0.25, 0.5, 0.25])
    var = float(np.sum(probs * (values - np.sum(probs * values)) ** 2)) * 2  # k/(k-1) = 2
    half = student_t_quantile(0.975, 1) * math.sqrt(var)
    assert est.ci_high is not None and est.ci_low is not None
    assert (est.ci_high - est.ci_low) / 2 == pytest.approx(half, rel=0.05)


def test_ratio_of_sums_with_counts() -> None:
    # cost per passed step: value = cost, count = 1 if passed
    def run(costs: list[float], passed: list[int]) -> list[Observation]:
        return [Observation(c, f"s{i}", float(p)) for i, (c, p) in enumerate(zip(costs, passed,
                                                                                 strict=True))]
    a = [run([1.0, 1.0], [1, 1]), run([1.0, 3.0], [1, 0])]
    b = [run([2.0, 2.0], [1, 1]), run([2.0, 2.0], [1, 1])]
    est = cluster_bootstrap_diff_ci(a, b)
    assert est.a_value == pytest.approx(6.0 / 3) and est.b_value == pytest.approx(8.0 / 4)


def test_ratio_with_a_resample_of_zero_denominator_has_no_ci() -> None:
    a = [[Observation(1.0, "s", 1.0)], [Observation(1.0, "s", 0.0)]]
    b = [[Observation(1.0, "s", 1.0)], [Observation(1.0, "s", 1.0)]]
    est = cluster_bootstrap_diff_ci(a, b, n_resamples=200)
    assert est.a_value == pytest.approx(2.0) and est.ci_low is None
    assert est.note is not None and "zero denominator" in est.note


def test_one_run_per_side_has_no_cluster_ci() -> None:
    est = cluster_bootstrap_diff_ci(_runs([[1.0, 2.0, 3.0]]), _runs([[2.0, 3.0, 4.0],
                                                                     [2.5, 3.5, 4.5]]))
    assert est.difference == pytest.approx(3.25 - 2.0)
    assert (est.ci_low, est.significant) == (None, None)
    assert est.note is not None and "at least 2 runs" in est.note and "(A 1, B 2)" in est.note


def test_rate_ci_never_narrower_than_newcombe() -> None:
    # Step "x" passes in every run of A and fails in every run of B: the bootstrap sees no
    # variation ([-0.1, -0.1]); 3 vs 3 runs is not strong evidence (Fisher's exact p = 0.1).
    passed_a = [[Observation(1.0, f"s{i}") for i in range(10)] for _ in range(3)]
    passed_b = [[Observation(0.0 if i == 0 else 1.0, f"s{i}") for i in range(10)]
                for _ in range(3)]
    est = cluster_bootstrap_diff_ci(passed_a, passed_b, paired=True, rate=True,
                                    relative_ci=False)
    newcombe = proportion_diff_ci(30, 30, 27, 30)
    assert est.difference == pytest.approx(-0.1)
    assert est.ci_low is not None and est.ci_high is not None
    assert newcombe.ci_low is not None and newcombe.ci_high is not None
    assert est.ci_low <= newcombe.ci_low and est.ci_high >= newcombe.ci_high
    assert est.significant is False
    with pytest.raises(ValueError, match="0 or 1"):
        cluster_bootstrap_diff_ci(_runs([[0.5]]), _runs([[1.0]]), rate=True)


def test_cluster_bootstrap_is_deterministic_and_seeded() -> None:
    rng = np.random.default_rng(2)
    a = _runs(rng.normal(10, 3, (4, 6)).tolist())
    b = _runs(rng.normal(11, 3, (5, 6)).tolist())
    assert cluster_bootstrap_diff_ci(a, b, paired=True, seed=1) == \
        cluster_bootstrap_diff_ci(a, b, paired=True, seed=1)
    assert cluster_bootstrap_diff_ci(a, b, seed=1).ci_low != \
        cluster_bootstrap_diff_ci(a, b, seed=2).ci_low


def test_median_rejects_counts() -> None:
    with pytest.raises(ValueError, match="count 1"):
        cluster_bootstrap_diff_ci([[Observation(1.0, count=0.0)]], [[Observation(1.0)]],
                                  stat="median")


# --- proportions ------------------------------------------------------------------------------


def test_newcombe_1998_example() -> None:
    # Newcombe (1998), Stat. Med. 17:873-890, Table II, 56/70 - 48/80, method 10:
    # 0.0524 to 0.3339. (0.0575 to 0.3425 is the Wald interval, method 1, checked below.)
    est = proportion_diff_ci(48, 80, 56, 70)
    assert est.difference == pytest.approx(0.2)
    assert est.ci_low == pytest.approx(0.0524, abs=5e-5)
    assert est.ci_high == pytest.approx(0.3339, abs=5e-5)
    assert est.significant is True
    assert est.relative_difference == pytest.approx(0.2 / 0.6)
    assert est.method == "newcombe" and est.method_detail is not None
    assert "Newcombe" in est.method_detail
    wald_half = 1.959964 * math.sqrt(0.8 * 0.2 / 70 + 0.6 * 0.4 / 80)
    assert (0.2 - wald_half, 0.2 + wald_half) == pytest.approx((0.0575, 0.3425), abs=5e-5)


def test_wilson_interval_published_value() -> None:
    # Newcombe (1998) Table I / Wilson (1927): 81/263 -> 0.2553 to 0.3662.
    low, high = wilson_interval(81, 263)
    assert (low, high) == pytest.approx((0.2553, 0.3662), abs=5e-5)


def test_newcombe_at_the_boundaries_has_a_closed_form() -> None:
    # 10/10 vs 0/20: Wilson lower of 10/10 is n/(n+z^2), Wilson upper of 0/20 is z^2/(n+z^2),
    # so low = 1 - sqrt((1 - 10/(10+z^2))^2 + (z^2/(20+z^2))^2) ~ 0.6791 and high = 1.
    z2 = 1.959964**2
    expected_low = 1 - math.hypot(1 - 10 / (10 + z2), z2 / (20 + z2))
    est = proportion_diff_ci(0, 20, 10, 10)
    assert est.ci_low == pytest.approx(expected_low, abs=1e-6)
    assert est.ci_low == pytest.approx(0.6791, abs=5e-5)
    assert est.ci_high == pytest.approx(1.0)
    assert est.relative_difference is None  # baseline rate is 0


def test_equal_proportions_not_significant() -> None:
    est = proportion_diff_ci(9, 10, 9, 10)
    assert est.difference == 0.0
    assert est.significant is False


def test_proportion_with_no_trials() -> None:
    est = proportion_diff_ci(0, 0, 3, 4)
    assert est.a_value is None and est.b_value == 0.75
    assert est.difference is None and est.significant is None
    assert est.note is not None and "n_a=0" in est.note


def test_weighted_group_medians_match_the_expanded_samples() -> None:
    # The vectorised resample median against numpy on the explicitly expanded sample.
    from aetherflow.metrics.stats import _weighted_quantiles

    rng = np.random.default_rng(9)
    groups = np.sort(rng.integers(0, 5, 40)).astype(np.intp)
    groups[groups == 3] = 4  # group 3 has no observation at all
    values = rng.normal(0, 10, 40).round(1)
    order = np.lexsort((values, groups))
    xs, gs = values[order], groups[order]
    weights = rng.integers(0, 3, (50, 40)).astype(np.int32)
    weights[0, gs == 1] = 0  # group 1 not drawn in row 0
    got = _weighted_quantiles(xs, gs, weights, 6, 0.5)
    for r in range(50):
        for g in range(6):
            sample = np.repeat(xs[gs == g], weights[r, gs == g])
            if sample.size == 0:
                assert math.isnan(got[r, g])
            else:
                assert got[r, g] == pytest.approx(float(np.median(sample)))
