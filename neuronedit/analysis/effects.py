"""What an edit did, item-paired against the unedited model (and against a control edit).

For a bias suite's primary measure ``b`` (the association score; ``neutral`` = 50 for shares in
percent, 0 for gaps in nats): ``delta`` = b_after - b_before and ``abs_delta`` =
|b_after - neutral| - |b_before - neutral| (negative = closer to no bias), each with a paired
bootstrap 95% interval. The standard score (``score``/``ss``) and StereoSet's ``lms`` stand beside
it as ``{metric}_before``, ``{metric}_after``, ``{metric}_delta`` (with intervals). Knowledge suites
report ``delta`` (points of accuracy kept or lost); perplexity ``delta`` in percent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..evaluation import Evaluation, SuiteResult
from ..metrics import paired_bootstrap
from ..suites import NEUTRAL

__all__ = ["edit_effects"]

Stat = Callable[[Any, np.ndarray], float]


SECONDARY = ("score", "ss", "lms")
"""Metrics reported beside the primary one when a suite has them: the standard scores and LMS."""


def benchmark_of(suite: str) -> str:
    """The benchmark a suite belongs to: ``probes-race`` -> ``probes``, ``probes-knowledge-gender`` ->
    ``knowledge``, others unchanged."""
    if suite.startswith("probes-knowledge"):
        return "knowledge"
    return "probes" if suite.startswith("probes-") else suite


def _centered(stat: Stat, neutral: float) -> Stat:
    return lambda data, idx: abs(stat(data, idx) - neutral)


def _log(stat: Stat) -> Stat:
    return lambda data, idx: float(np.log(stat(data, idx)))


def _interval(prefix: str, value: Any) -> dict[str, float]:
    return {prefix: value.value, f"{prefix}_ci_low": value.low, f"{prefix}_ci_high": value.high}


def _suite_effect(before: SuiteResult, after: SuiteResult, control: SuiteResult | None, n_boot: int,
                  seed: int) -> dict[str, Any]:
    if before.item_ids != after.item_ids:
        raise ValueError(f"{before.suite}/{before.bias_type}: before and after were scored on different items")
    stat = before.stats[before.primary]
    value_before, value_after = before.intervals[before.primary], after.intervals[before.primary]
    row: dict[str, Any] = {"suite": before.suite, "benchmark": benchmark_of(before.suite), "role": before.role,
                           "bias_type": before.bias_type, "metric": before.primary, "n": before.n,
                           "skipped": len(before.extra.get("skipped", [])), "before": value_before.value,
                           "before_ci_low": value_before.low, "before_ci_high": value_before.high,
                           "after": value_after.value, "after_ci_low": value_after.low,
                           "after_ci_high": value_after.high}
    boot = {"n_boot": n_boot, "seed": seed}
    if before.role == "cost":
        change = paired_bootstrap(_log(stat), before.data, after.data, before.n, **boot)
        row.update(delta=100 * np.expm1(change.value), delta_ci_low=100 * np.expm1(change.low),
                   delta_ci_high=100 * np.expm1(change.high))
        return row
    row.update(_interval("delta", paired_bootstrap(stat, before.data, after.data, before.n, **boot)))
    for metric in SECONDARY:
        if metric in before.stats and metric != before.primary:
            row[f"{metric}_before"] = before.intervals[metric].value
            row[f"{metric}_after"] = after.intervals[metric].value
            row.update(_interval(f"{metric}_delta", paired_bootstrap(before.stats[metric], before.data, after.data,
                                                                      before.n, **boot)))
    if before.role == "knowledge":
        if control is not None:
            row.update(_interval("vs_control", paired_bootstrap(stat, control.data, after.data, before.n, **boot)))
        return row
    centered = _centered(stat, NEUTRAL.get(before.primary, 50.0))
    row["neutral"] = NEUTRAL.get(before.primary, 50.0)
    row.update(_interval("abs_delta", paired_bootstrap(centered, before.data, after.data, before.n, **boot)))
    if control is not None:
        row.update(_interval("vs_control", paired_bootstrap(centered, control.data, after.data, before.n, **boot)))
    return row


def edit_effects(before: Evaluation, after: Evaluation, control: Evaluation | None = None, *, n_boot: int = 1000,
                 seed: int = 0) -> list[dict[str, Any]]:
    """One row per suite: primary metric before and after with intervals, ``delta``, ``abs_delta``
    and, given a ``control`` edit's evaluation, ``vs_control`` = |after - neutral| - |control - neutral|
    (knowledge: after - control)."""
    rows = []
    for b in before.results:
        a = after.get(b.suite, b.bias_type)
        c = control.get(b.suite, b.bias_type) if control is not None else None
        rows.append(_suite_effect(b, a, c, n_boot, seed))
    return rows
