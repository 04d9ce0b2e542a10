"""One paired effect: ``paired_effects``, ``edit_effects`` and the method-against-method table give exactly
the numbers of ``paired_effect`` on the same inputs, and it refuses runs on different items."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from neuronedit.analysis import edit_effects
from neuronedit.analysis.comparison import _pairwise
from neuronedit.measure import lm_stats, pair_stats
from neuronedit.measure.bootstrap import Interval, bootstrap
from neuronedit.measure.evaluation import Evaluation, SuiteResult
from neuronedit.measure.paired import paired_effect, paired_effects

BOOT = {"n_boot": 150, "seed": 4}


def _result(suite: str, data: dict[str, np.ndarray], stats: dict[str, Any], primary: str,
            role: str = "bias") -> SuiteResult:
    n = len(next(iter(data.values())))
    r = SuiteResult(suite, "none" if role == "cost" else "gender", data, stats, primary, [str(i) for i in range(n)],
                    role=role)
    r.intervals = {m: bootstrap(s, r.data, r.n, n_boot=50) for m, s in stats.items()}
    return r


def _evaluation(seed: int) -> Evaluation:
    rng = np.random.default_rng(seed)
    gaps = rng.normal(0.3, 1.0, 60)
    text = {"nll": rng.uniform(1, 3, 30), "count": np.full(30, 7.0), "correct": rng.integers(0, 7, 30) * 1.0}
    return Evaluation([_result("probes-gender", {"gap": gaps}, pair_stats(), "score"),
                       _result("crows", {"gap": gaps - 0.2}, pair_stats(), "gap"),
                       _result("probes-knowledge-gender", {"gap": gaps + 0.4}, pair_stats(), "score", "knowledge"),
                       _result("perplexity", text, lm_stats(), "perplexity", "cost")], {})


def _same(row: Any, prefix: str, interval: Interval) -> None:
    assert (row[prefix], row[f"{prefix}_ci_low"], row[f"{prefix}_ci_high"]) == (
        interval.value, interval.low, interval.high)


def test_every_path_gives_the_numbers_of_paired_effect():
    before, after, random = _evaluation(1), _evaluation(2), _evaluation(3)
    table = paired_effects(before, after, **BOOT)
    for _, row in table.iterrows():
        b, a = before.get(row["suite"], row["bias_type"]), after.get(row["suite"], row["bias_type"])
        _same(row, "diff", paired_effect(b, a, row["metric"], **BOOT))
    for row, b, a, r in zip(edit_effects(before, after, random, **BOOT), before.results, after.results,
                            random.results, strict=True):
        if b.role == "cost":
            change = paired_effect(b, a, scale="log", **BOOT)
            assert row["delta"] == 100 * np.expm1(change.value)
            continue
        _same(row, "delta", paired_effect(b, a, **BOOT))
        if b.role == "knowledge":
            _same(row, "vs_random", paired_effect(r, a, **BOOT))
            continue
        _same(row, "abs_delta", paired_effect(b, a, scale="distance", **BOOT))
        _same(row, "vs_random", paired_effect(r, a, scale="distance", **BOOT))
        if b.primary != "score":
            _same(row, "score_delta", paired_effect(b, a, "score", **BOOT))
    main = {"x": before.results[0], "y": after.results[0], "z": random.results[0]}
    pairs = _pairwise("gender", main, BOOT["n_boot"], BOOT["seed"])
    assert len(pairs) == 6
    for p in pairs:
        _same(p, "diff", paired_effect(main[p["a"]], main[p["b"]], scale="distance", **BOOT))


def test_paired_effect_refuses_different_items():
    before, after = _evaluation(1).results[0], _evaluation(2).results[0]
    after.item_ids = after.item_ids[::-1]
    with pytest.raises(ValueError, match="different items"):
        paired_effect(before, after)
    with pytest.raises(ValueError, match="scale"):
        paired_effect(before, before, scale="ratio")  # type: ignore[arg-type]
