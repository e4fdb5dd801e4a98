"""Statistics against known truths: hand-computed percentiles, seeded samples, Newcombe 1998."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aetherflow.metrics.stats import (
    Distribution,
    bootstrap_diff_ci,
    proportion_diff_ci,
    rate,
    summarize,
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
    assert d.note is None


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
    assert d.mean == d.p50 == d.p99 == d.min == d.max == 7.5
    assert d.stdev is None
    assert d.note is not None and "2 values" in d.note


def test_none_is_ignored_not_zero() -> None:
    assert summarize([10.0, None, 20.0]).mean == pytest.approx(15.0)


def test_non_finite_values_are_rejected() -> None:
    with pytest.raises(ValueError, match="finite"):
        summarize([1.0, float("nan")])


def test_distribution_forbids_extra_fields() -> None:
    with pytest.raises(ValueError):
        Distribution(n=0, bogus=1)  # type: ignore[call-arg]


finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False)


@given(st.lists(finite, min_size=1, max_size=200))
def test_percentiles_are_ordered_and_mean_in_range(values: list[float]) -> None:
    d = summarize(values)
    assert d.min is not None and d.max is not None and d.mean is not None
    assert d.p50 is not None and d.p90 is not None and d.p95 is not None and d.p99 is not None
    tol = 1e-9 * max(1.0, abs(d.min), abs(d.max))
    assert d.min <= d.p50 <= d.p90 <= d.p95 <= d.p99 <= d.max
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


# --- bootstrap --------------------------------------------------------------------------------


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
    assert (est.n_a, est.n_b, est.stat) == (200, 200, "mean")
    assert "percentile bootstrap" in est.method


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


def test_identical_distributions_seeded_case_is_not_significant() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(10.0, 2.0, (2, 100))
    est = bootstrap_diff_ci(a.tolist(), b.tolist(), seed=0)
    assert est.significant is False
    assert est.ci_low is not None and est.ci_high is not None
    assert est.ci_low < 0 < est.ci_high


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
    assert est.note is not None and "at least 2" in est.note


def test_bootstrap_with_empty_group_has_no_difference() -> None:
    est = bootstrap_diff_ci([None, None], [1.0, 2.0])
    assert est.difference is None and est.a_value is None
    assert est.significant is None
    assert est.n_a == 0 and est.note


def test_bootstrap_zero_baseline_has_no_relative_difference() -> None:
    est = bootstrap_diff_ci([0.0, 0.0, 0.0], [1.0, 1.0, 1.0])
    assert est.relative_difference is None
    assert est.note is not None and "baseline is 0" in est.note
    assert est.significant is True  # every resample differs by exactly 1


@pytest.mark.parametrize(
    "kwargs", [{"confidence": 1.0}, {"confidence": 0.0}, {"n_resamples": 0}, {"stat": "mode"}]
)
def test_bootstrap_rejects_bad_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        bootstrap_diff_ci([1.0, 2.0], [3.0, 4.0], **kwargs)  # type: ignore[arg-type]


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
    assert "Newcombe" in est.method
    wald_half = 1.959964 * math.sqrt(0.8 * 0.2 / 70 + 0.6 * 0.4 / 80)
    assert (0.2 - wald_half, 0.2 + wald_half) == pytest.approx((0.0575, 0.3425), abs=5e-5)


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
