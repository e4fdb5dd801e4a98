"""Descriptive statistics and comparison intervals for measured metrics.

Every function here works on *measured* values only: ``None`` (not measured) is dropped and
counted, never turned into 0. An empty sample yields ``None`` statistics with a note saying
why. The exact definitions, with worked examples, are published in ``docs/statistics.md``:

* **Percentiles** use linear interpolation between order statistics (numpy's default,
  Hyndman & Fan type 7). A percentile ``q`` is reported only when ``n >= 1 / (1 - q)``
  (:data:`PERCENTILE_MIN_N`: p50 2, p90 10, p95 20, p99 100): below that the sample is not
  expected to hold a single observation above it, so the number says nothing about the tail.
* **stdev** is the sample standard deviation (divisor ``n - 1``); it needs 2 values.
* **Differences** are always ``b - a`` (``a`` is the baseline); the relative difference
  is ``(b - a) / a`` when ``a != 0``.
* **cluster_bootstrap_diff_ci**: the runs (clusters) of each side are resampled with
  replacement; the statistic is computed on the pooled observations of the resampled runs
  (or, *paired*, per group -- a step id -- then averaged over the groups both sides share).
  The bootstrap gives each side's standard error, corrected for few clusters by ``k/(k-1)``;
  the interval is ``d ± t(ν) · se`` with Welch-Satterthwaite degrees of freedom ``ν``. The
  relative change gets its own interval on the log-ratio scale, so it stays above -100 %.
* **proportion_diff_ci**: Newcombe's hybrid score interval (Newcombe 1998, method 10).
* **significant** is True when the CI of the difference excludes 0; None (with the reason
  in ``note``) when no trustworthy CI could be computed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "MIN_RUNS_PER_SIDE",
    "PERCENTILE_MIN_N",
    "DiffEstimate",
    "Distribution",
    "Observation",
    "Statistic",
    "bootstrap_diff_ci",
    "cluster_bootstrap_diff_ci",
    "proportion_diff_ci",
    "rate",
    "student_t_quantile",
    "summarize",
    "wilson_interval",
]

Statistic = Literal["mean", "median"]

#: Smallest sample for which each percentile is reported: ``n >= 1 / (1 - q)``, i.e. the
#: sample is expected to hold at least one observation above the percentile.
PERCENTILE_MIN_N: dict[str, int] = {"p50": 2, "p90": 10, "p95": 20, "p99": 100}
_PERCENTILES: dict[str, float] = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0}

#: A cluster bootstrap needs at least this many runs with a measured value on each side.
MIN_RUNS_PER_SIDE = 2

#: Upper bound on resampled entries held in memory at once by the bootstrap (~16 MB).
_CHUNK_ELEMENTS = 2_000_000


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Distribution(_Model):
    """Summary of a sample of measured values.

    ``n`` counts the measured values; ``missing`` counts the ``None`` (not measured) ones
    that were left out. With ``n == 0`` every statistic is None and ``note`` says why;
    ``stdev`` is None (with a note) when ``n == 1``. A percentile below its minimum ``n``
    (:data:`PERCENTILE_MIN_N`) is None and ``percentile_notes[name]`` says why.
    """

    n: int
    missing: int = 0
    mean: float | None = None
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    min: float | None = None
    max: float | None = None
    stdev: float | None = None
    note: str | None = None
    #: Why a percentile is None although values were measured, e.g.
    #: ``{"p95": "p95 needs n >= 20 (n = 3)"}``.
    percentile_notes: dict[str, str] = Field(default_factory=dict)


class DiffEstimate(_Model):
    """Difference ``b - a`` of a statistic between two groups, with confidence intervals.

    ``a_value`` / ``b_value`` are the statistic of each side (step-balanced in a paired
    design). ``ci_low`` / ``ci_high`` bound the difference ``b - a``;
    ``relative_ci_low`` / ``relative_ci_high`` bound the relative change ``b / a - 1``
    (computed on the log-ratio scale for positive quantities, so never below -1). Any
    interval, and ``significant``, is None when it cannot be computed or trusted; ``note``
    says why. ``method`` is a key: ``cluster-bootstrap-paired``, ``cluster-bootstrap``,
    ``bootstrap`` (independent observations) or ``newcombe``; ``method_detail`` spells it out.
    """

    stat: str
    a_value: float | None
    b_value: float | None
    difference: float | None
    relative_difference: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float
    significant: bool | None
    n_a: int
    n_b: int
    method: str
    note: str | None = None
    relative_ci_low: float | None = None
    relative_ci_high: float | None = None
    method_detail: str | None = None
    #: Runs (clusters) with a measured value on each side; None for Newcombe on steps.
    runs_a: int | None = None
    runs_b: int | None = None
    missing_a: int = 0
    missing_b: int = 0
    #: Steps both sides measured (a paired estimate averages over these).
    paired_steps: int | None = None
    #: Welch-Satterthwaite degrees of freedom of the t interval (None: not a t interval,
    #: or no variation at all).
    df: float | None = None


@dataclass(frozen=True, slots=True)
class Observation:
    """One measured value inside a cluster (a run).

    ``group`` is the step id a paired comparison pairs on. ``count`` is what the value adds
    to the statistic's denominator: the mean is ``sum(value) / sum(count)``, so a count of
    1 gives the plain mean and, e.g., ``count = 1 if passed else 0`` with ``value = cost``
    gives cost per passed step. ``value`` None means not measured.
    """

    value: float | None
    group: str = ""
    count: float = 1.0


def rate(successes: int, total: int) -> float | None:
    """``successes / total``; None when ``total`` is 0 (a rate of nothing is undefined)."""
    _check_count(successes, total)
    return None if total == 0 else successes / total


def summarize(
    values: Iterable[float | None], empty_note: str = "no measured values"
) -> Distribution:
    """Summarise measured values (``None`` entries are dropped and counted as ``missing``).

    Percentiles use linear interpolation (numpy's default) and are reported only from their
    minimum ``n`` on (:data:`PERCENTILE_MIN_N`). ``empty_note`` is the reason reported when
    nothing was measured.
    """
    measured, missing = _measured(values)
    n = int(measured.size)
    if n == 0:
        return Distribution(n=0, missing=missing, note=empty_note)
    pct: dict[str, float | None] = {}
    notes: dict[str, str] = {}
    for name, q in _PERCENTILES.items():
        need = PERCENTILE_MIN_N[name]
        if n >= need:
            pct[name] = float(np.percentile(measured, q))
        else:
            pct[name] = None
            notes[name] = f"{name} needs n >= {need} (n = {n})"
    single = n == 1
    return Distribution(
        n=n,
        missing=missing,
        mean=float(np.mean(measured)),
        min=float(measured.min()),
        max=float(measured.max()),
        stdev=None if single else float(np.std(measured, ddof=1)),
        note="stdev needs at least 2 values" if single else None,
        percentile_notes=notes,
        **pct,
    )


# --- Student's t ----------------------------------------------------------------------------


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        for num in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                    -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _betai(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta function ``I_x(a, b)``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def _t_cdf(t: float, df: float) -> float:
    tail = 0.5 * _betai(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def student_t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` (> 0, not necessarily whole) degrees of
    freedom; e.g. ``student_t_quantile(0.975, 4) = 2.776``. Infinite ``df`` is the normal."""
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if not df > 0:
        raise ValueError(f"df must be > 0, got {df}")
    if math.isinf(df) or df > 1e7:
        return NormalDist().inv_cdf(p)
    if p < 0.5:
        return -student_t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while _t_cdf(high, df) < p:
        high *= 2.0
    for _ in range(200):
        mid = 0.5 * (low + high)
        if _t_cdf(mid, df) < p:
            low = mid
        else:
            high = mid
        if high - low <= 1e-12 * max(1.0, high):
            break
    return 0.5 * (low + high)


# --- cluster bootstrap ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Side:
    """One side's measured observations, packed as arrays (clusters and groups re-indexed)."""

    values: NDArray[np.float64]
    counts: NDArray[np.float64]
    cluster: NDArray[np.intp]
    group: NDArray[np.intp]
    k: int
    missing: int


def _pack(clusters: Sequence[Sequence[Observation]], groups: dict[str, int] | None
          ) -> _Side:
    """Drop unmeasured values (and, when ``groups`` is given, values of other groups)."""
    values: list[float] = []
    counts: list[float] = []
    cluster: list[int] = []
    group: list[int] = []
    missing = 0
    k = 0
    for obs in clusters:
        kept = 0
        for o in obs:
            if o.value is None:
                missing += 1
                continue
            if groups is not None and o.group not in groups:
                continue
            values.append(float(o.value))
            counts.append(float(o.count))
            cluster.append(k)
            group.append(0 if groups is None else groups[o.group])
            kept += 1
        k += kept > 0
    arr = np.asarray(values, dtype=np.float64)
    cnt = np.asarray(counts, dtype=np.float64)
    if not (np.all(np.isfinite(arr)) and np.all(np.isfinite(cnt))):
        raise ValueError("values must be finite numbers or None (use None for 'not measured')")
    if np.any(cnt < 0):
        raise ValueError("observation counts must be >= 0")
    return _Side(arr, cnt, np.asarray(cluster, dtype=np.intp),
                 np.asarray(group, dtype=np.intp), k, missing)


def _measured_groups(clusters: Sequence[Sequence[Observation]]) -> set[str]:
    return {o.group for obs in clusters for o in obs if o.value is not None}


def _draws(k: int, rows: int, rng: np.random.Generator) -> NDArray[np.int32]:
    """``rows`` resamples of ``k`` cluster indices drawn with replacement."""
    return rng.integers(0, k, size=(rows, k), dtype=np.int32)


def _multiplicities(idx: NDArray[np.int32], k: int) -> NDArray[np.int32]:
    """How often each of the ``k`` clusters appears in each row of ``idx``."""
    rows = idx.shape[0]
    flat = (idx + (np.arange(rows) * k)[:, None]).ravel()
    return np.bincount(flat, minlength=rows * k).reshape(rows, k).astype(np.int32)


def _weighted_quantiles(xs: NDArray[np.float64], gs: NDArray[np.intp],
                        weights: NDArray[np.int32], n_groups: int, q: float
                        ) -> NDArray[np.float64]:
    """``(rows, n_groups)`` type-7 quantiles of each group of each row's sample.

    ``xs`` is sorted by group ``gs``, then by value; value ``xs[i]`` appears
    ``weights[r, i]`` times in row ``r``'s sample. With ``cw`` the running total of a row's
    weights, the element at position ``j`` of group ``g``'s expanded, sorted sample is
    ``xs[i]`` for the first ``i`` with ``cw[i] > cw_before_g + j``: one ``searchsorted``
    over all rows at once (each row offset above the previous one).
    """
    rows, n = weights.shape
    out = np.full((rows, n_groups), np.nan)
    sizes = np.bincount(gs, minlength=n_groups)
    present = np.flatnonzero(sizes)
    if present.size == 0:
        return out
    starts = np.searchsorted(gs, present)
    ends = starts + sizes[present]
    cw = np.cumsum(weights, axis=1, dtype=np.int64)
    before = np.where(starts > 0, cw[:, np.maximum(starts - 1, 0)], 0)
    total = cw[:, ends - 1] - before
    h = (np.maximum(total, 1) - 1) * q
    lo = np.floor(h)
    hi = np.minimum(lo + 1, np.maximum(total - 1, 0))
    offset = (int(cw[:, -1].max()) + 1) * np.arange(rows, dtype=np.int64)[:, None]
    flat = (cw + offset).ravel()
    base = n * np.arange(rows)[:, None]

    def element(j: NDArray[np.float64]) -> NDArray[np.intp]:
        target = (before + j.astype(np.int64) + offset).ravel()
        found = np.searchsorted(flat, target, side="right").reshape(rows, -1) - base
        index: NDArray[np.intp] = np.minimum(found, n - 1)
        return index

    i_lo, i_hi = element(lo), element(hi)
    value = xs[i_lo] + (h - lo) * (xs[i_hi] - xs[i_lo])
    out[:, present] = np.where(total > 0, value, np.nan)
    return out


def _cluster_sums(side: _Side, n_groups: int
                  ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``(k, n_groups)`` sums of values and of counts per cluster and group."""
    cell = side.cluster * n_groups + side.group
    size = side.k * n_groups
    sums = np.bincount(cell, side.values, minlength=size).astype(np.float64)
    cnts = np.bincount(cell, side.counts, minlength=size).astype(np.float64)
    return sums.reshape(side.k, n_groups), cnts.reshape(side.k, n_groups)


def _ratio(num: NDArray[np.float64], den: NDArray[np.float64]) -> NDArray[np.float64]:
    """``num / den`` where ``den > 0``, NaN elsewhere."""
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _group_stats(side: _Side, n_groups: int, stat: Statistic,
                 idx: NDArray[np.int32]) -> NDArray[np.float64]:
    """``(rows, n_groups)``: the statistic of every group in every resample ``idx``."""
    if stat == "mean":
        sums, cnts = _cluster_sums(side, n_groups)
        return _ratio(sums[idx].sum(axis=1), cnts[idx].sum(axis=1))
    order = np.lexsort((side.values, side.group))
    weights = _multiplicities(idx, side.k)[:, side.cluster[order]]
    return _weighted_quantiles(side.values[order], side.group[order], weights, n_groups, 0.5)


def _point(side: _Side, n_groups: int, stat: Statistic) -> NDArray[np.float64]:
    """The statistic of every group on the original sample."""
    idx = np.arange(side.k, dtype=np.int32)[None, :]
    point: NDArray[np.float64] = _group_stats(side, n_groups, stat, idx)[0]
    return point


def _combine(sa: NDArray[np.float64], sb: NDArray[np.float64]
             ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Each side's step-balanced statistic over the groups both sides have in each row."""
    valid = np.isfinite(sa) & np.isfinite(sb)
    n = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ta = np.where(valid, sa, 0.0).sum(axis=1) / n
        tb = np.where(valid, sb, 0.0).sum(axis=1) / n
    return ta, tb


def _replicates(a: _Side, b: _Side, n_groups: int, stat: Statistic, n_resamples: int,
                seed: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Each side's statistic in ``n_resamples`` cluster resamples (A's draws first)."""
    rng = np.random.default_rng(seed)
    stats: list[NDArray[np.float64]] = []
    for side in (a, b):
        width = side.k * n_groups if stat == "mean" else side.k + 3 * side.values.size
        rows = max(1, _CHUNK_ELEMENTS // max(1, width))
        parts = [_group_stats(side, n_groups, stat,
                              _draws(side.k, min(rows, n_resamples - start), rng))
                 for start in range(0, n_resamples, rows)]
        stats.append(np.concatenate(parts, axis=0))
    return _combine(stats[0], stats[1])


@dataclass(frozen=True)
class _TInterval:
    low: float
    high: float
    df: float | None


def _replicate_var(r: NDArray[np.float64]) -> float:
    """Variance of the replicates; 0 when they differ only by floating-point rounding."""
    if r.size < 2:
        return 0.0
    scale = max(1.0, float(np.max(np.abs(r))))
    if float(np.ptp(r)) <= 1e-9 * scale:
        return 0.0
    return float(np.var(r, ddof=1))


def _t_interval(centre: float, ra: NDArray[np.float64], rb: NDArray[np.float64], ka: int,
                kb: int, confidence: float) -> _TInterval:
    """``centre ± t(ν) · se`` from each side's replicate variance, inflated by ``k/(k-1)``."""
    va = ka / (ka - 1) * _replicate_var(ra)
    vb = kb / (kb - 1) * _replicate_var(rb)
    v = va + vb
    if v <= 0.0:
        return _TInterval(centre, centre, None)
    df = v * v / (va * va / (ka - 1) + vb * vb / (kb - 1))
    half = student_t_quantile(0.5 + confidence / 2, df) * math.sqrt(v)
    return _TInterval(centre - half, centre + half, df)


def _side_value(side: _Side, n_groups: int, stat: Statistic) -> float | None:
    """One side's statistic on its own, or None when it has no observation."""
    if side.values.size == 0:
        return None
    point = _point(side, n_groups, stat)
    one, _ = _combine(point[None, :], point[None, :])
    return _finite(one[0])


def cluster_bootstrap_diff_ci(
    a: Sequence[Sequence[Observation]],
    b: Sequence[Sequence[Observation]],
    stat: Statistic = "mean",
    *,
    paired: bool = False,
    rate: bool = False,
    relative_ci: bool = True,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> DiffEstimate:
    """CI for ``stat(b) - stat(a)`` where ``a`` and ``b`` are lists of runs (clusters).

    Unpaired: the statistic is ``stat`` of the pooled observations (for the mean,
    ``sum(value) / sum(count)``). Paired (``paired=True``): the statistic of each group (step
    id) both sides measured, averaged over those groups, so the difference is the mean
    over shared steps of ``B_step - A_step``. Each side's runs are resampled with replacement
    (``n_resamples`` times, A's draws first, from ``numpy.random.default_rng(seed)``); each
    side's standard error is the replicates' standard deviation times ``sqrt(k/(k-1))``
    (``k`` runs with a measured value); the CI is ``d ± t(ν) · sqrt(se_a² + se_b²)`` with
    Welch-Satterthwaite ``ν``. The relative change's CI is the same construction on
    ``log(stat_b) - log(stat_a)`` when every replicate is positive (and ``relative_ci``).
    ``rate=True`` (0/1 values): the CI is widened to contain Newcombe's interval on the
    pooled counts and no relative CI is given. Fewer than :data:`MIN_RUNS_PER_SIDE` runs on
    a side: the point difference only, with the reason in ``note``.
    """
    _check_args(confidence, stat, n_resamples)
    if stat == "median" and any(o.count != 1 for obs in (*a, *b) for o in obs):
        raise ValueError("the median needs observations with count 1")
    groups: dict[str, int] | None = None
    measured_a, measured_b = _measured_groups(a), _measured_groups(b)
    if paired:
        groups = {g: i for i, g in enumerate(sorted(measured_a & measured_b))}
    sa, sb = _pack(a, groups), _pack(b, groups)
    if rate and not _binary(sa, sb):
        raise ValueError("a rate needs observations with value 0 or 1 and count 1")
    n_groups = max(1, len(groups or {}))
    kind = "cluster-bootstrap-paired" if paired else "cluster-bootstrap"
    detail = _cluster_detail(paired, stat, rate, n_resamples, seed)
    base = _Base(stat, confidence, sa.values.size, sb.values.size, kind, detail, sa, sb,
                 len(groups) if groups is not None else None)
    if sa.values.size == 0 or sb.values.size == 0:
        unmeasured = [n for n, m in (("A", measured_a), ("B", measured_b)) if not m]
        why = ("not measured on " + " or ".join(unmeasured) if unmeasured
               else "no step measured on both sides")
        # The side that was measured still reports its own value (no difference, no CI).
        one_a = _side_value(sa, n_groups, stat) if not paired else None
        one_b = _side_value(sb, n_groups, stat) if not paired else None
        return base.estimate(one_a, one_b, None, why)
    pa, pb = _point(sa, n_groups, stat), _point(sb, n_groups, stat)
    ta, tb = _combine(pa[None, :], pb[None, :])
    a_val, b_val = _finite(ta[0]), _finite(tb[0])
    if a_val is None or b_val is None:
        return base.estimate(None, None, None, "the statistic is undefined (a zero "
                                               "denominator, e.g. no passed step)")
    if min(sa.k, sb.k) < MIN_RUNS_PER_SIDE:
        why = (f"no CI: a cluster bootstrap needs at least {MIN_RUNS_PER_SIDE} runs with a "
               f"measured value per side (A {sa.k}, B {sb.k})")
        return base.estimate(a_val, b_val, None, why)
    ra, rb = _replicates(sa, sb, n_groups, stat, n_resamples, seed)
    bad = int(np.count_nonzero(~(np.isfinite(ra) & np.isfinite(rb))))
    if bad:
        why = (f"no CI: {bad} of {n_resamples} resamples had an undefined statistic (a zero "
               "denominator, e.g. no passed step)")
        return base.estimate(a_val, b_val, None, why)
    ci = _t_interval(b_val - a_val, ra, rb, sa.k, sb.k, confidence)
    rel: _TInterval | None = None
    rel_note: str | None = None
    if rate:
        ci = _hull_with_newcombe(ci, sa, sb, confidence)
    elif relative_ci:
        rel, rel_note = _log_ratio_interval(a_val, b_val, ra, rb, sa.k, sb.k, confidence)
    return base.estimate(a_val, b_val, ci, rel_note, rel)


def bootstrap_diff_ci(
    a: Iterable[float | None],
    b: Iterable[float | None],
    stat: Statistic = "mean",
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> DiffEstimate:
    """The same interval as :func:`cluster_bootstrap_diff_ci` for *independent* observations
    (each value its own cluster): for the mean it is Welch's t interval with a bootstrap
    standard error. Only right when the values really are independent; runs of attempts
    are not (use the cluster version). ``method`` is ``bootstrap``."""
    est = cluster_bootstrap_diff_ci(
        [[Observation(v)] for v in a], [[Observation(v)] for v in b], stat,
        confidence=confidence, n_resamples=n_resamples, seed=seed)
    detail = (f"bootstrap of independent observations ({stat}), {n_resamples} resamples, "
              f"seed {seed}; t interval, Welch-Satterthwaite df")
    note = est.note
    if est.runs_a is not None and est.runs_b is not None and est.ci_low is None \
            and min(est.runs_a, est.runs_b) < MIN_RUNS_PER_SIDE:
        note = (f"no CI: a bootstrap needs at least {MIN_RUNS_PER_SIDE} values per group "
                f"(n_a={est.n_a}, n_b={est.n_b})")
    return est.model_copy(update={"method": "bootstrap", "method_detail": detail,
                                  "runs_a": None, "runs_b": None, "note": note})


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for ``successes / n`` (no continuity correction)."""
    _check_count(successes, n)
    if n == 0:
        raise ValueError("a Wilson interval needs at least 1 trial")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    return _wilson(successes, n, z)


def proportion_diff_ci(
    successes_a: int,
    n_a: int,
    successes_b: int,
    n_b: int,
    confidence: float = 0.95,
) -> DiffEstimate:
    """CI for the difference of rates ``p_b - p_a`` (``a`` is the baseline), for
    independent trials.

    Newcombe's hybrid score interval (1998, method 10, no continuity correction): with
    Wilson intervals ``(l_a, u_a)`` and ``(l_b, u_b)`` and ``d = p_b - p_a``,
    ``low = d - sqrt((p_b - l_b)^2 + (u_a - p_a)^2)`` and
    ``high = d + sqrt((u_b - p_b)^2 + (p_a - l_a)^2)``. No relative CI is given.
    """
    _check_confidence(confidence)
    p_a, p_b = rate(successes_a, n_a), rate(successes_b, n_b)
    detail = "Newcombe hybrid score interval (Wilson, no continuity correction)"
    base = _Base("proportion", confidence, n_a, n_b, "newcombe", detail, None, None, None)
    if p_a is None or p_b is None:
        note = f"a rate needs at least 1 trial per group (n_a={n_a}, n_b={n_b})"
        return base.estimate(p_a, p_b, None, note)
    low, high = _newcombe(successes_a, n_a, successes_b, n_b, confidence)
    return base.estimate(p_a, p_b, _TInterval(low, high, None), None)


# --- helpers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Base:
    """What every estimate of one comparison shares; :meth:`estimate` assembles it."""

    stat: str
    confidence: float
    n_a: int
    n_b: int
    method: str
    detail: str
    sa: _Side | None
    sb: _Side | None
    paired_steps: int | None

    def estimate(self, a_value: float | None, b_value: float | None, ci: _TInterval | None,
                 note: str | None, rel: _TInterval | None = None) -> DiffEstimate:
        """A :class:`DiffEstimate` (difference, relative difference, significance)."""
        diff = None if a_value is None or b_value is None else b_value - a_value
        relative = diff / a_value if diff is not None and a_value else None
        notes = [note]
        if diff is not None and a_value == 0:
            notes.append("relative difference undefined: baseline is 0")
        if diff is None and note is None:
            notes.append("a side has no measured values")
        return DiffEstimate(
            stat=self.stat, a_value=a_value, b_value=b_value, difference=diff,
            relative_difference=relative,
            ci_low=None if ci is None else ci.low, ci_high=None if ci is None else ci.high,
            relative_ci_low=None if rel is None else rel.low,
            relative_ci_high=None if rel is None else rel.high,
            confidence=self.confidence,
            significant=None if ci is None else (ci.low > 0 or ci.high < 0),
            n_a=self.n_a, n_b=self.n_b, method=self.method, method_detail=self.detail,
            runs_a=None if self.sa is None else self.sa.k,
            runs_b=None if self.sb is None else self.sb.k,
            missing_a=0 if self.sa is None else self.sa.missing,
            missing_b=0 if self.sb is None else self.sb.missing,
            paired_steps=self.paired_steps, df=None if ci is None else ci.df,
            note="; ".join(n for n in notes if n) or None,
        )


def _cluster_detail(paired: bool, stat: str, rate: bool, n_resamples: int, seed: int) -> str:
    what = (f"{stat} per step, averaged over the steps both sides measured" if paired
            else f"{stat} of the pooled observations")
    extra = "; widened to contain Newcombe's interval on the pooled counts" if rate else ""
    return (f"runs resampled as clusters ({what}), {n_resamples} resamples, seed {seed}; "
            f"t interval with k/(k-1)-corrected bootstrap SE, Welch-Satterthwaite df{extra}")


def _log_ratio_interval(a_val: float, b_val: float, ra: NDArray[np.float64],
                        rb: NDArray[np.float64], ka: int, kb: int, confidence: float
                        ) -> tuple[_TInterval | None, str | None]:
    """The relative change's CI from the log-ratio interval, or the reason there is none."""
    if a_val == 0:
        return None, None  # the relative difference itself is undefined (noted already)
    if a_val < 0 or b_val <= 0 or np.any(ra <= 0) or np.any(rb <= 0):
        return None, ("no relative CI: needs a positive statistic on both sides in every "
                      "resample")
    log_ci = _t_interval(math.log(b_val / a_val), np.log(ra), np.log(rb), ka, kb, confidence)
    return _TInterval(math.expm1(log_ci.low), math.expm1(log_ci.high), log_ci.df), None


def _binary(a: _Side, b: _Side) -> bool:
    return all(bool(np.all((s.values == 0) | (s.values == 1)) and np.all(s.counts == 1))
               for s in (a, b))


def _hull_with_newcombe(ci: _TInterval, a: _Side, b: _Side, confidence: float) -> _TInterval:
    """The smallest interval containing both ``ci`` and Newcombe's, clipped to [-1, 1]."""
    low, high = _newcombe(int(a.values.sum()), a.values.size, int(b.values.sum()),
                          b.values.size, confidence)
    return _TInterval(max(-1.0, min(ci.low, low)), min(1.0, max(ci.high, high)), ci.df)


def _newcombe(sa: int, na: int, sb: int, nb: int, confidence: float) -> tuple[float, float]:
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p_a, p_b = sa / na, sb / nb
    l_a, u_a = _wilson(sa, na, z)
    l_b, u_b = _wilson(sb, nb, z)
    d = p_b - p_a
    return (d - math.sqrt((p_b - l_b) ** 2 + (u_a - p_a) ** 2),
            d + math.sqrt((u_b - p_b) ** 2 + (p_a - l_a) ** 2))


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _measured(values: Iterable[float | None]) -> tuple[NDArray[np.float64], int]:
    """The measured values as a float array, and how many were None."""
    kept: list[float] = []
    missing = 0
    for v in values:
        if v is None:
            missing += 1
        else:
            kept.append(float(v))
    arr = np.asarray(kept, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("values must be finite numbers or None (use None for 'not measured')")
    return arr, missing


def _wilson(successes: int, n: int, z: float) -> tuple[float, float]:
    """Wilson score interval for ``successes / n``."""
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _check_args(confidence: float, stat: str, n_resamples: int) -> None:
    _check_confidence(confidence)
    if stat not in ("mean", "median"):
        raise ValueError(f"stat must be 'mean' or 'median', got {stat!r}")
    if n_resamples < 2:
        raise ValueError(f"n_resamples must be >= 2, got {n_resamples}")


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def _check_count(successes: int, total: int) -> None:
    if total < 0 or not 0 <= successes <= total:
        raise ValueError(f"need 0 <= successes <= total, got {successes}/{total}")
