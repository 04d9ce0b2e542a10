"""``evaluate(lm, suites)``: score benchmarks and probes, with bootstrap intervals; ``compare`` for paired before/after.

Scoring rules: pair suites (CrowS, WinoBias, probes) compare summed log-probabilities of the two
sentences (for masked LMs, the CrowS pseudo-log-likelihood of the shared tokens); StereoSet and BBQ answers use the per-token mean (options differ in length); BBQ
answers are scored as ``" " + answer`` after ``"{context} {question}\\nAnswer:"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from attributions import LanguageModel

from .data import BBQItem, Dataset, StereoSetItem, TextCorpus, load
from .metrics import Interval, bbq_stats, bootstrap, lm_stats, pair_stats, paired_bootstrap, stereoset_stats
from .metrics.bias import TIE
from .metrics.language import line_losses, window_losses
from .scoring import is_masked_lm, pll_shared_tokens, score_texts

__all__ = ["Evaluation", "SuiteResult", "compare", "evaluate"]

Stat = Callable[[dict[str, np.ndarray], np.ndarray], float]


@dataclass
class SuiteResult:
    """Per-item data of one suite and bias type, and the statistics computed from it.

    ``decision`` (``[n]``, optional) is the per-item outcome whose changes count as flips.
    """

    suite: str
    bias_type: str
    data: dict[str, np.ndarray]
    stats: dict[str, Stat]
    primary: str
    item_ids: list[str]
    decision: np.ndarray | None = None
    intervals: dict[str, Interval] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.item_ids)


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
        out: dict[str, Any] = {}
        for r in self.results:
            entry = r.intervals[r.primary].as_dict()
            entry["metric"] = r.primary
            for metric, interval in r.intervals.items():
                if metric != r.primary:
                    entry[metric] = {"value": round(interval.value, 3), "ci": [round(interval.low, 3),
                                                                               round(interval.high, 3)]}
            entry.update(r.extra)
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


def _by_bias_type(items: Sequence[Any]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        groups.setdefault(item.bias_type, []).append(index)
    return groups


def _pair_results(lm: LanguageModel, name: str, items: Sequence[Any], opts: dict[str, Any]) -> list[SuiteResult]:
    if is_masked_lm(lm.model):
        if any(i.prefix for i in items):
            raise ValueError(f"{name}: masked LMs score whole sentences; items with a prefix are not supported")
        more, less = pll_shared_tokens(lm, [(i.more, i.less) for i in items], batch_size=opts["batch_size"],
                                       progress=opts["progress"])
        gap = more - less
    else:
        requests = [(i.prefix, i.more) for i in items] + [(i.prefix, i.less) for i in items]
        scores = score_texts(lm, requests, desc=name, **opts)
        gap = scores.logprob[: len(items)] - scores.logprob[len(items):]
    out = []
    for bias, idx in sorted(_by_bias_type(items).items()):
        g = gap[idx]
        out.append(SuiteResult(
            suite=name, bias_type=bias, data={"gap": g}, stats=pair_stats(), primary="score",
            item_ids=[items[i].id for i in idx], decision=np.sign(np.where(np.abs(g) > TIE, g, 0.0)),
            extra={"ties": int((np.abs(g) <= TIE).sum())},
        ))
    return out


def _stereoset_results(lm: LanguageModel, name: str, items: Sequence[StereoSetItem],
                       opts: dict[str, Any]) -> list[SuiteResult]:
    requests = [(i.prefix, text) for i in items for text in (i.stereotype, i.anti_stereotype, i.unrelated)]
    mean = score_texts(lm, requests, desc=name, **opts).mean_logprob.reshape(len(items), 3)
    out = []
    for bias, idx in sorted(_by_bias_type(items).items()):
        targets = sorted({items[i].target.lower() for i in idx})
        code = {t: k for k, t in enumerate(targets)}
        data = {"stereo": mean[idx, 0], "anti": mean[idx, 1], "unrelated": mean[idx, 2],
                "target": np.array([code[items[i].target.lower()] for i in idx])}
        out.append(SuiteResult(
            suite=name, bias_type=bias, data=data, stats=stereoset_stats(), primary="ss",
            item_ids=[items[i].id for i in idx], decision=np.where(data["stereo"] > data["anti"], 1.0, -1.0),
            extra={"targets": len(targets)},
        ))
    return out


def _bbq_results(lm: LanguageModel, name: str, items: Sequence[BBQItem], opts: dict[str, Any]) -> list[SuiteResult]:
    requests = [(f"{i.context} {i.question}\nAnswer:", answer) for i in items for answer in i.answers]
    mean = score_texts(lm, requests, desc=name, **opts).mean_logprob.reshape(len(items), 3)
    chosen = mean.argmax(axis=1)
    out = []
    for bias, idx in sorted(_by_bias_type(items).items()):
        data = {"chosen": chosen[idx], "label": np.array([items[i].label for i in idx]),
                "biased": np.array([items[i].biased for i in idx]),
                "unknown": np.array([items[i].unknown for i in idx]),
                "ambiguous": np.array([items[i].ambiguous for i in idx])}
        out.append(SuiteResult(suite=name, bias_type=bias, data=data, stats=bbq_stats(), primary="bias_ambig",
                               item_ids=[items[i].id for i in idx], decision=chosen[idx].astype(float)))
    return out


def _text_results(lm: LanguageModel, corpus: TextCorpus, opts: dict[str, Any]) -> list[SuiteResult]:
    if corpus.unit == "line":
        lines = [line for line in corpus.text.splitlines() if line.strip()]
        data = line_losses(lm, lines)
    else:
        data = window_losses(lm, corpus.text, **opts)
    return [SuiteResult(suite="perplexity", bias_type="none", data=data, stats=lm_stats(), primary="perplexity",
                        item_ids=[f"{corpus.id}-w{k}" for k in range(len(data["nll"]))],
                        extra={"tokens": int(data["count"].sum()), "source": corpus.source})]


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
    results: list[SuiteResult] = []
    opts = {"batch_size": batch_size, "progress": progress}
    for suite in suites:
        loaded = load(suite) if isinstance(suite, str) else suite
        if isinstance(loaded, TextCorpus):
            results += _text_results(lm, loaded, {"window": text_window, "stride": text_stride,
                                                  "max_tokens": text_max_tokens, "progress": progress})
            continue
        if not len(loaded):
            raise ValueError(f"suite {getattr(loaded, 'spec', suite)!r} has no items")
        name = _suite_name(loaded)
        first = loaded[0]
        if isinstance(first, StereoSetItem):
            results += _stereoset_results(lm, name, loaded, opts)
        elif isinstance(first, BBQItem):
            results += _bbq_results(lm, name, loaded, opts)
        else:
            results += _pair_results(lm, name, loaded, opts)
    for r in results:
        r.intervals = {m: bootstrap(s, r.data, r.n, n_boot=n_boot, seed=seed) for m, s in r.stats.items()}
    settings = {"model": lm.name, "batch_size": batch_size, "n_boot": n_boot, "seed": seed, "tie": TIE,
                "suites": [s if isinstance(s, str) else getattr(s, "spec", str(type(s))) for s in suites]}
    return Evaluation(results=results, settings=settings)


def compare(before: Evaluation, after: Evaluation, *, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Paired before/after differences on the same items: ``after - before`` with a paired
    bootstrap 95% interval, and how many item decisions flipped each way."""
    rows = []
    for b in before.results:
        a = after.get(b.suite, b.bias_type)
        if a.item_ids != b.item_ids:
            raise ValueError(f"{b.suite}/{b.bias_type}: before and after were scored on different items")
        flips: dict[str, int] = {}
        if b.decision is not None and a.decision is not None:
            changed = b.decision != a.decision
            flips = {"flipped": int(changed.sum()), "to_less": int((changed & (a.decision < b.decision)).sum()),
                     "to_more": int((changed & (a.decision > b.decision)).sum())}
        for metric, stat in b.stats.items():
            diff = paired_bootstrap(stat, b.data, a.data, b.n, n_boot=n_boot, seed=seed)
            rows.append({"suite": b.suite, "bias_type": b.bias_type, "metric": metric,
                         "before": b.intervals[metric].value, "after": a.intervals[metric].value,
                         "diff": diff.value, "diff_ci_low": diff.low, "diff_ci_high": diff.high, "n": b.n, **flips})
    return pd.DataFrame(rows)
