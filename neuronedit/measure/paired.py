"""Item-paired effects: one suite's statistic on two runs over the same items, with a paired bootstrap interval.

:func:`paired_effect` is the one place a before/after (or edit/edit) difference is computed; the
analysis tables (:func:`~neuronedit.analysis.edit_effects`, the method-against-method table of
:func:`~neuronedit.analysis.compare_methods`) and :func:`paired_effects` are built on it.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from attributions.errors import InputError

from .bias_stats import Stat
from .bootstrap import Interval, paired_bootstrap
from .evaluation import Evaluation
from .suites import NEUTRAL, SuiteResult

__all__ = ["Scale", "paired_effect", "paired_effects"]

Scale = Literal["value", "distance", "log"]
"""What is differenced: the statistic itself, its distance from no bias ``|stat - neutral|``
(:data:`~.suites.NEUTRAL`, 50 where a metric has none listed), or its logarithm (a log ratio)."""


def _scaled(stat: Stat, metric: str, scale: Scale) -> Stat:
    if scale == "value":
        return stat
    if scale == "distance":
        neutral = NEUTRAL.get(metric, 50.0)
        return lambda data, idx: abs(stat(data, idx) - neutral)
    if scale == "log":
        return lambda data, idx: float(np.log(stat(data, idx)))
    raise ValueError(f"scale must be 'value', 'distance' or 'log', not {scale!r}")


def paired_effect(before: SuiteResult, after: SuiteResult, metric: str | None = None, *, scale: Scale = "value",
                  n_boot: int = 1000, seed: int = 0) -> Interval:
    """``s(after) - s(before)`` for ``s`` = ``metric`` (default: the suite's primary) on ``scale``, with a
    paired bootstrap 95% interval (the same item resamples on both sides).

    ``before`` and ``after`` are one suite and bias type scored twice (e.g. unedited and edited, or two
    edits); they must hold the same items in the same order (``item_ids``), else ValueError.
    """
    if before.item_ids != after.item_ids:
        raise InputError(f"{before.suite}/{before.bias_type}: before and after were scored on different items")
    metric = metric or before.primary
    stat = _scaled(before.stats[metric], metric, scale)
    return paired_bootstrap(stat, before.data, after.data, before.n, n_boot=n_boot, seed=seed)


def _flips(before: SuiteResult, after: SuiteResult) -> dict[str, int]:
    """How many item decisions changed, and in which direction (nothing when a suite has no decisions)."""
    if before.decision is None or after.decision is None:
        return {}
    changed = before.decision != after.decision
    return {"flipped": int(changed.sum()), "to_less": int((changed & (after.decision < before.decision)).sum()),
            "to_more": int((changed & (after.decision > before.decision)).sum())}


def paired_effects(before: Evaluation, after: Evaluation, *, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The paired effects of a change, one row per suite, bias type and metric: ``before``, ``after``,
    ``diff`` = after - before (:func:`paired_effect`) with ``diff_ci_low``/``diff_ci_high``, ``n``, and
    ``flipped``/``to_less``/``to_more`` item decisions where the suite has them.

    Named for what it returns (the paired effects of every metric), unlike the ``compare`` command,
    which puts debiasing methods side by side.
    """
    rows: list[dict[str, Any]] = []
    for b in before.results:
        a = after.get(b.suite, b.bias_type)
        diffs = {metric: paired_effect(b, a, metric, n_boot=n_boot, seed=seed) for metric in b.stats}
        flips = _flips(b, a)
        for metric, diff in diffs.items():
            rows.append({"suite": b.suite, "bias_type": b.bias_type, "metric": metric,
                         "before": b.intervals[metric].value, "after": a.intervals[metric].value,
                         "diff": diff.value, "diff_ci_low": diff.low, "diff_ci_high": diff.high, "n": b.n, **flips})
    return pd.DataFrame(rows)
