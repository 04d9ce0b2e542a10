"""``evaluate(lm, suites)``: score benchmarks and probes, with bootstrap intervals (paired before/after:
:mod:`.paired`).

Each suite is scored by :mod:`.suites`: pair suites and StereoSet report a primary association
score that a change in a group term's frequency cannot move (:mod:`.association`) beside
the standard score; BBQ its bias scores; text its perplexity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from attributions import LanguageModel
from attributions.errors import InputError

from ..data import BBQItem, Dataset, StereoSetItem, TextCorpus, load
from .bias_stats import TIE
from .bootstrap import bootstrap
from .language import check_max_tokens
from .suites import SuiteResult, bbq_results, pair_results, stereoset_results, text_results

__all__ = ["Evaluation", "SuiteResult", "evaluate"]


@dataclass
class Evaluation:
    """The results of :func:`evaluate`: ``frame()`` (tidy DataFrame) and ``to_dict()`` (JSON-ready)."""

    results: list[SuiteResult]
    settings: dict[str, Any]

    def frame(self) -> pd.DataFrame:
        rows = []
        for r in self.results:
            for metric, interval in r.intervals.items():
                rows.append({"suite": r.suite, "bias_type": r.bias_type, "metric": metric, "value": interval.value,
                             "ci_low": interval.low, "ci_high": interval.high, "n": interval.n})
        return pd.DataFrame(rows, columns=["suite", "bias_type", "metric", "value", "ci_low", "ci_high", "n"])

    def to_dict(self) -> dict[str, Any]:
        """``{suite: {bias_type: {"metric": primary, "value", "ci", "n", other metrics: {"value", "ci"},
        extras}}, "perplexity": {...}, "settings": {...}}``."""
        out: dict[str, Any] = {}
        for r in self.results:
            primary = r.intervals[r.primary]
            entry: dict[str, Any] = {"metric": r.primary, "value": round(primary.value, 3),
                                     "ci": [round(primary.low, 3), round(primary.high, 3)], "n": primary.n}
            for metric, interval in r.intervals.items():
                if metric != r.primary:
                    entry[metric] = {"value": round(interval.value, 3), "ci": [round(interval.low, 3),
                                                                               round(interval.high, 3)]}
            entry.update(r.extra)
            if r.role == "knowledge":
                entry["role"] = "knowledge"
            if r.suite == "perplexity":
                out["perplexity"] = entry
            else:
                out.setdefault(r.suite, {})[r.bias_type] = entry
        out["settings"] = self.settings
        return out

    def get(self, suite: str, bias_type: str) -> SuiteResult:
        for r in self.results:
            if r.suite == suite and r.bias_type == bias_type:
                return r
        raise KeyError(f"no result for suite {suite!r}, bias type {bias_type!r}")


def _suite_name(suite: Any) -> str:
    return suite.name if isinstance(suite, Dataset) else type(suite).__name__


def evaluate(
    lm: LanguageModel,
    suites: Sequence[str | Dataset | TextCorpus],
    *,
    batch_size: int = 32,
    n_boot: int = 1000,
    seed: int = 0,
    progress: bool = True,
    text_window: int = 1024,
    text_stride: int = 512,
    text_max_tokens: int | None = None,
) -> Evaluation:
    """Score every suite, per bias type, with bootstrap 95% intervals.

    Args:
        lm: the model.
        suites: data specs (``"crows:PATH"``, ``"probes:gender"``, ...) or loaded datasets.
        batch_size: sentences per forward pass (results do not depend on it).
        n_boot: bootstrap resamples; ``seed`` makes them reproducible.
        text_window, text_stride, text_max_tokens: perplexity settings for ``text:`` suites.
    """
    check_max_tokens(text_max_tokens)  # refuse 0 or -5 before any suite is scored
    results: list[SuiteResult] = []
    opts = {"batch_size": batch_size, "progress": progress}
    for suite in suites:
        loaded = load(suite) if isinstance(suite, str) else suite
        if isinstance(loaded, TextCorpus):
            results += text_results(lm, loaded, {"window": text_window, "stride": text_stride,
                                                  "max_tokens": text_max_tokens, "progress": progress})
            continue
        if not len(loaded):
            raise InputError(f"suite {getattr(loaded, 'spec', suite)!r} has no items")
        name = _suite_name(loaded)
        first = loaded[0]
        if isinstance(first, StereoSetItem):
            results += stereoset_results(lm, name, loaded, opts)
        elif isinstance(first, BBQItem):
            results += bbq_results(lm, name, loaded, opts)
        else:
            results += pair_results(lm, name, loaded, opts)
    for r in results:
        r.intervals = {m: bootstrap(s, r.data, r.n, n_boot=n_boot, seed=seed) for m, s in r.stats.items()}
    settings = {"model": lm.name, "batch_size": batch_size, "n_boot": n_boot, "seed": seed, "tie": TIE,
                "suites": [s if isinstance(s, str) else getattr(s, "spec", str(type(s))) for s in suites]}
    return Evaluation(results=results, settings=settings)

