"""Descriptive statistics and comparison intervals for measured metrics.

Every function here works on *measured* values only: ``None`` (not measured) is dropped and
counted, never turned into 0. An empty sample yields ``None`` statistics with a note saying
why. The exact definitions are published in ``docs/statistics.md``:

* **Percentiles** use linear interpolation between order statistics (numpy's default
  ``method="linear"``, Hyndman & Fan type 7): for sorted values ``x[0] <= ... <= x[n-1]``
  and a quantile ``q`` in [0, 1], ``h = (n - 1) * q`` and
  ``P(q) = x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])``.
* **stdev** is the sample standard deviation (divisor ``n - 1``); it needs 2 values.
* **Differences** are always ``b - a`` (``a`` is the baseline); the relative difference
  is ``(b - a) / a`` when ``a != 0``.
* **bootstrap_diff_ci**: percentile bootstrap; each group is resampled independently with
  replacement (same size as the group), the statistic's difference is computed for every
  resample, and the CI is the ``(1-c)/2`` and ``(1+c)/2`` percentiles (definition above)
  of those differences.
* **proportion_diff_ci**: Newcombe's hybrid score interval (Newcombe 1998, method 10):
  Wilson score intervals for each proportion, combined by the square-and-add rule. No
  continuity correction.
* **significant** is True when the CI excludes 0 (``low > 0`` or ``high < 0``); None when
  no CI could be computed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from statistics import NormalDist
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

__all__ = [
    "DiffEstimate",
    "Distribution",
    "Statistic",
    "bootstrap_diff_ci",
    "proportion_diff_ci",
    "rate",
    "summarize",
]

Statistic = Literal["mean", "median"]

#: Upper bound on resampled values held in memory at once by the bootstrap (~16 MB of indices).
_CHUNK_ELEMENTS = 2_000_000

_STAT_FUNCS: dict[str, Callable[..., NDArray[np.float64]]] = {
    "mean": np.mean,
    "median": np.median,
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Distribution(_Model):
    """Summary of a sample of measured values.

    ``n`` counts the measured values; ``missing`` counts the ``None`` (not measured) ones
    that were left out. With ``n == 0`` every statistic is None and ``note`` says why;
    ``stdev`` is None (with a note) when ``n == 1``.
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


class DiffEstimate(_Model):
    """Difference ``b - a`` of a statistic between two groups, with a confidence interval.

    ``a_value`` / ``b_value`` are the statistic of each group. ``ci_low`` / ``ci_high`` and
    ``significant`` are None when the interval cannot be computed; ``note`` says why.
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


def rate(successes: int, total: int) -> float | None:
    """``successes / total``; None when ``total`` is 0 (a rate of nothing is undefined)."""
    _check_count(successes, total)
    return None if total == 0 else successes / total


def summarize(
    values: Iterable[float | None], empty_note: str = "no measured values"
) -> Distribution:
    """Summarise measured values (``None`` entries are dropped and counted as ``missing``).

    Percentiles use linear interpolation (numpy's default; see the module docstring).
    ``empty_note`` is the reason reported when nothing was measured.
    """
    measured, missing = _measured(values)
    if measured.size == 0:
        return Distribution(n=0, missing=missing, note=empty_note)
    p50, p90, p95, p99 = (float(v) for v in np.percentile(measured, [50, 90, 95, 99]))
    single = measured.size == 1
    return Distribution(
        n=int(measured.size),
        missing=missing,
        mean=float(np.mean(measured)),
        p50=p50,
        p90=p90,
        p95=p95,
        p99=p99,
        min=float(measured.min()),
        max=float(measured.max()),
        stdev=None if single else float(np.std(measured, ddof=1)),
        note="stdev needs at least 2 values" if single else None,
    )


def bootstrap_diff_ci(
    a: Iterable[float | None],
    b: Iterable[float | None],
    stat: Statistic = "mean",
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> DiffEstimate:
    """Percentile-bootstrap CI for ``stat(b) - stat(a)`` (``a`` is the baseline).

    Each group is resampled independently with replacement; ``None`` values are dropped.
    With fewer than 2 values in a group the point difference (if any) is returned with no
    CI and ``significant=None``. Deterministic for a given ``seed``.
    """
    _check_confidence(confidence)
    if stat not in _STAT_FUNCS:
        raise ValueError(f"stat must be 'mean' or 'median', got {stat!r}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    xa, _ = _measured(a)
    xb, _ = _measured(b)
    func = _STAT_FUNCS[stat]
    a_value = float(func(xa)) if xa.size else None
    b_value = float(func(xb)) if xb.size else None
    method = f"percentile bootstrap of {stat} difference, {n_resamples} resamples, seed {seed}"
    ci: tuple[float, float] | None = None
    note: str | None = None
    if min(xa.size, xb.size) < 2:
        note = f"a bootstrap CI needs at least 2 values per group (n_a={xa.size}, n_b={xb.size})"
    else:
        rng = np.random.default_rng(seed)
        diffs = _resample(xb, func, n_resamples, rng) - _resample(xa, func, n_resamples, rng)
        alpha = 1.0 - confidence
        low, high = np.percentile(diffs, [100 * alpha / 2, 100 * (1 - alpha / 2)])
        ci = (float(low), float(high))
    return _estimate(stat, a_value, b_value, ci, confidence, xa.size, xb.size, method, note)


def proportion_diff_ci(
    successes_a: int,
    n_a: int,
    successes_b: int,
    n_b: int,
    confidence: float = 0.95,
) -> DiffEstimate:
    """CI for the difference of success rates ``p_b - p_a`` (``a`` is the baseline).

    Newcombe's hybrid score interval (1998, method 10, no continuity correction): with
    Wilson intervals ``(l_a, u_a)`` and ``(l_b, u_b)`` and ``d = p_b - p_a``,
    ``low = d - sqrt((p_b - l_b)^2 + (u_a - p_a)^2)`` and
    ``high = d + sqrt((u_b - p_b)^2 + (p_a - l_a)^2)``.
    """
    _check_confidence(confidence)
    p_a, p_b = rate(successes_a, n_a), rate(successes_b, n_b)
    method = "Newcombe hybrid score interval (Wilson, no continuity correction)"
    if p_a is None or p_b is None:
        note = f"a success rate needs at least 1 trial per group (n_a={n_a}, n_b={n_b})"
        return _estimate("proportion", p_a, p_b, None, confidence, n_a, n_b, method, note)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    l_a, u_a = _wilson(successes_a, n_a, z)
    l_b, u_b = _wilson(successes_b, n_b, z)
    d = p_b - p_a
    low = d - math.sqrt((p_b - l_b) ** 2 + (u_a - p_a) ** 2)
    high = d + math.sqrt((u_b - p_b) ** 2 + (p_a - l_a) ** 2)
    return _estimate("proportion", p_a, p_b, (low, high), confidence, n_a, n_b, method, None)


# --- helpers ------------------------------------------------------------------------------


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


def _resample(
    x: NDArray[np.float64],
    func: Callable[..., NDArray[np.float64]],
    n_resamples: int,
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    """``func`` of ``n_resamples`` with-replacement resamples of ``x``, in bounded chunks."""
    n = x.size
    rows = max(1, _CHUNK_ELEMENTS // n)
    out = np.empty(n_resamples, dtype=np.float64)
    for start in range(0, n_resamples, rows):
        stop = min(start + rows, n_resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = func(x[idx], axis=1)
    return out


def _wilson(successes: int, n: int, z: float) -> tuple[float, float]:
    """Wilson score interval for ``successes / n``."""
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _estimate(
    stat: str,
    a_value: float | None,
    b_value: float | None,
    ci: tuple[float, float] | None,
    confidence: float,
    n_a: int,
    n_b: int,
    method: str,
    note: str | None,
) -> DiffEstimate:
    """Assemble a :class:`DiffEstimate` (difference, relative difference, significance)."""
    diff = None if a_value is None or b_value is None else b_value - a_value
    relative = None
    if diff is not None and a_value:
        relative = diff / a_value
    if diff is not None and a_value == 0:
        note = "; ".join(filter(None, [note, "relative difference undefined: baseline is 0"]))
    if diff is None and note is None:
        note = "a group has no measured values"
    return DiffEstimate(
        stat=stat,
        a_value=a_value,
        b_value=b_value,
        difference=diff,
        relative_difference=relative,
        ci_low=None if ci is None else ci[0],
        ci_high=None if ci is None else ci[1],
        confidence=confidence,
        significant=None if ci is None else (ci[0] > 0 or ci[1] < 0),
        n_a=n_a,
        n_b=n_b,
        method=method,
        note=note,
    )


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def _check_count(successes: int, total: int) -> None:
    if total < 0 or not 0 <= successes <= total:
        raise ValueError(f"need 0 <= successes <= total, got {successes}/{total}")
