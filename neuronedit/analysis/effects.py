"""What an edit did, item-paired against the unedited model (and against a control edit).

For a bias measure ``b`` in percent (50 = no preference): ``delta`` = b_after - b_before (points)
and ``abs_delta`` = |b_after - 50| - |b_before - 50| (negative = closer to no preference), each with
a paired bootstrap 95% interval. For perplexity: ``delta`` in percent of the unedited value.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..evaluation import Evaluation, SuiteResult
from ..metrics import paired_bootstrap

__all__ = ["edit_effects"]

Stat = Callable[[Any, np.ndarray], float]


def _centered(stat: Stat) -> Stat:
    return lambda data, idx: abs(stat(data, idx) - 50.0)


def _log(stat: Stat) -> Stat:
    return lambda data, idx: float(np.log(stat(data, idx)))


def _suite_effect(before: SuiteResult, after: SuiteResult, control: SuiteResult | None, n_boot: int,
                  seed: int) -> dict[str, Any]:
    if before.item_ids != after.item_ids:
        raise ValueError(f"{before.suite}/{before.bias_type}: before and after were scored on different items")
    stat = before.stats[before.primary]
    value_before, value_after = before.intervals[before.primary], after.intervals[before.primary]
    row: dict[str, Any] = {"suite": before.suite, "bias_type": before.bias_type, "metric": before.primary,
                           "n": before.n, "before": value_before.value, "before_ci_low": value_before.low,
                           "before_ci_high": value_before.high, "after": value_after.value,
                           "after_ci_low": value_after.low, "after_ci_high": value_after.high}
    if before.suite == "perplexity":
        change = paired_bootstrap(_log(stat), before.data, after.data, before.n, n_boot=n_boot, seed=seed)
        row.update(delta=100 * np.expm1(change.value), delta_ci_low=100 * np.expm1(change.low),
                   delta_ci_high=100 * np.expm1(change.high))
        return row
    delta = paired_bootstrap(stat, before.data, after.data, before.n, n_boot=n_boot, seed=seed)
    centered = paired_bootstrap(_centered(stat), before.data, after.data, before.n, n_boot=n_boot, seed=seed)
    row.update(delta=delta.value, delta_ci_low=delta.low, delta_ci_high=delta.high, abs_delta=centered.value,
               abs_delta_ci_low=centered.low, abs_delta_ci_high=centered.high)
    if control is not None:
        versus = paired_bootstrap(_centered(stat), control.data, after.data, before.n, n_boot=n_boot, seed=seed)
        row.update(vs_control=versus.value, vs_control_ci_low=versus.low, vs_control_ci_high=versus.high)
    return row


def edit_effects(before: Evaluation, after: Evaluation, control: Evaluation | None = None, *, n_boot: int = 1000,
                 seed: int = 0) -> list[dict[str, Any]]:
    """One row per suite: primary metric before and after with intervals, ``delta``, ``abs_delta``
    and, given a ``control`` edit's evaluation, ``vs_control`` = |after - 50| - |control - 50|."""
    rows = []
    for b in before.results:
        a = after.get(b.suite, b.bias_type)
        c = control.get(b.suite, b.bias_type) if control is not None else None
        rows.append(_suite_effect(b, a, c, n_boot, seed))
    return rows
