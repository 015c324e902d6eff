"""Confidence intervals for evaluation curves (no scipy: the t table is small and exact enough)."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

# Two-sided 95% Student-t critical values for 1..30 degrees of freedom.
_T95 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
_Z95 = 1.959964


class Interval(NamedTuple):
    """A mean with its 95% confidence interval and the sample size behind it."""

    mean: float
    low: float
    high: float
    n: int

    def as_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "ci95_low": self.low, "ci95_high": self.high, "n": self.n}


def t_critical(dof: int) -> float:
    """Two-sided 95% critical value of Student's t (normal beyond 30 degrees of freedom)."""
    if dof < 1:
        return math.inf
    return _T95[dof - 1] if dof <= len(_T95) else _Z95


def mean_interval(values: np.ndarray) -> Interval:
    """Mean and t-based 95% interval of a 1-D sample."""
    values = np.asarray(values, dtype=np.float64).ravel()
    n = len(values)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(values.mean())
    if n == 1:
        return Interval(mean, -math.inf, math.inf, 1)
    half = t_critical(n - 1) * float(values.std(ddof=1)) / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def rate_interval(successes: np.ndarray) -> Interval:
    """A proportion and its Wilson 95% interval (well-behaved at 0% and 100%)."""
    successes = np.asarray(successes, dtype=np.float64).ravel()
    n = len(successes)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    p = float(successes.mean())
    z2 = _Z95**2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = _Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), n)


def gap_closed(reward: float, nonadaptive: float, ceiling: float) -> float | None:
    """(R - R_nonadaptive) / (R_ceiling - R_nonadaptive); None when the ceiling is no higher."""
    span = ceiling - nonadaptive
    if not math.isfinite(span) or span <= 1e-9:
        return None
    return (reward - nonadaptive) / span
