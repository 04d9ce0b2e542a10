"""Percentile bootstrap intervals for any statistic of per-item data, and paired differences.

A statistic is ``stat(data, idx) -> float`` where ``data`` holds per-item arrays and ``idx`` is
a resample of item indices; the same ``idx`` applied to before/after data gives a paired test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Interval", "bootstrap", "paired_bootstrap"]

Stat = Callable[[Any, np.ndarray], float]


@dataclass(frozen=True)
class Interval:
    """A point estimate with its percentile bootstrap interval."""

    value: float
    low: float
    high: float
    n: int


def _resamples(n: int, n_boot: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def bootstrap(stat: Stat, data: Any, n: int, *, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> Interval:
    """Point estimate on all ``n`` items and the ``level`` percentile interval over ``n_boot`` resamples."""
    value = stat(data, np.arange(n))
    draws = np.array([stat(data, idx) for idx in _resamples(n, n_boot, seed)])
    draws = draws[np.isfinite(draws)]
    tail = (1 - level) / 2 * 100
    low, high = (np.percentile(draws, [tail, 100 - tail]) if draws.size else (np.nan, np.nan))
    return Interval(float(value), float(low), float(high), n)


def paired_bootstrap(stat: Stat, before: Any, after: Any, n: int, *, n_boot: int = 1000, seed: int = 0,
                     level: float = 0.95) -> Interval:
    """Interval of ``stat(after) - stat(before)``, resampling the same items on both sides."""

    def diff(data: tuple[Any, Any], idx: np.ndarray) -> float:
        return stat(data[1], idx) - stat(data[0], idx)

    return bootstrap(diff, (before, after), n, n_boot=n_boot, seed=seed, level=level)
