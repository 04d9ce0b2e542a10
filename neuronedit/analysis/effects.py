"""What an edit did, item-paired against the unedited model (and against a reference edit, e.g. the random one).

For a bias suite's primary measure ``b`` (the association score; ``neutral`` = 50 for shares in
percent, 0 for gaps in nats): ``delta`` = b_after - b_before and ``abs_delta`` =
|b_after - neutral| - |b_before - neutral| (negative = closer to no bias), each with a paired
bootstrap 95% interval (:func:`~neuronedit.measure.paired.paired_effect`). The standard score
(``score``/``ss``) and StereoSet's ``lms`` stand beside it as ``{metric}_before``, ``{metric}_after``,
``{metric}_delta`` (with intervals). Knowledge suites report ``delta`` (points of accuracy kept or
lost); perplexity ``delta`` in percent.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..measure.bootstrap import Interval
from ..measure.evaluation import Evaluation
from ..measure.paired import Scale, paired_effect
from ..measure.suites import NEUTRAL, SuiteResult

__all__ = ["edit_effects"]


_SECONDARY = ("score", "ss", "lms")
"""Metrics reported beside the primary one when a suite has them: the standard scores and LMS."""


def benchmark_of(suite: str) -> str:
    """The benchmark a suite belongs to: ``probes-race`` -> ``probes``, ``probes-knowledge-gender`` ->
    ``knowledge``, others unchanged."""
    if suite.startswith("probes-knowledge"):
        return "knowledge"
    return "probes" if suite.startswith("probes-") else suite


def _interval(prefix: str, value: Interval) -> dict[str, float]:
    return {prefix: value.value, f"{prefix}_ci_low": value.low, f"{prefix}_ci_high": value.high}


def _suite_effect(before: SuiteResult, after: SuiteResult, reference: SuiteResult | None, vs: str, n_boot: int,
                  seed: int) -> dict[str, Any]:
    value_before, value_after = before.intervals[before.primary], after.intervals[before.primary]
    row: dict[str, Any] = {"suite": before.suite, "benchmark": benchmark_of(before.suite), "role": before.role,
                           "bias_type": before.bias_type, "metric": before.primary, "n": before.n,
                           "skipped": len(before.extra.get("skipped", [])), "before": value_before.value,
                           "before_ci_low": value_before.low, "before_ci_high": value_before.high,
                           "after": value_after.value, "after_ci_low": value_after.low,
                           "after_ci_high": value_after.high}

    def effect(first: SuiteResult, second: SuiteResult, metric: str | None = None, scale: Scale = "value") -> Interval:
        return paired_effect(first, second, metric, scale=scale, n_boot=n_boot, seed=seed)

    if before.role == "cost":
        change = effect(before, after, scale="log")
        row.update(delta=100 * np.expm1(change.value), delta_ci_low=100 * np.expm1(change.low),
                   delta_ci_high=100 * np.expm1(change.high))
        return row
    row.update(_interval("delta", effect(before, after)))
    for metric in _SECONDARY:
        if metric in before.stats and metric != before.primary:
            row[f"{metric}_before"] = before.intervals[metric].value
            row[f"{metric}_after"] = after.intervals[metric].value
            row.update(_interval(f"{metric}_delta", effect(before, after, metric)))
    if before.role == "knowledge":
        if reference is not None:
            row.update(_interval(f"vs_{vs}", effect(reference, after)))
        return row
    row["neutral"] = NEUTRAL.get(before.primary, 50.0)
    row.update(_interval("abs_delta", effect(before, after, scale="distance")))
    if reference is not None:
        row.update(_interval(f"vs_{vs}", effect(reference, after, scale="distance")))
    return row


def edit_effects(before: Evaluation, after: Evaluation, reference: Evaluation | None = None, *, vs: str = "random",
                 n_boot: int = 1000, seed: int = 0) -> list[dict[str, Any]]:
    """One row per suite: primary metric before and after with intervals, ``delta``, ``abs_delta``
    and, given a ``reference`` edit's evaluation (by default the layer-matched random edit), ``vs_{vs}``
    = |after - neutral| - |reference - neutral| (knowledge: after - reference)."""
    rows = []
    for b in before.results:
        a = after.get(b.suite, b.bias_type)
        r = reference.get(b.suite, b.bias_type) if reference is not None else None
        rows.append(_suite_effect(b, a, r, vs, n_boot, seed))
    return rows
