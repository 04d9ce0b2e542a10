"""Metric definitions on hand-computed fixtures; bootstrap behaviour; perplexity windows."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from neuronedit.measure import bbq_stats, bootstrap, lm_stats, pair_stats, paired_bootstrap, stereoset_stats
from neuronedit.measure.language import window_losses

ALL = np.arange

pytestmark = pytest.mark.tiny_lm(bos=False, name="tiny")  # the module's `tiny_lm` fixture (conftest.py)


def test_pair_preference_excludes_ties():
    data = {"gap": np.array([1.0, -2.0, 3.0, 0.0])}
    stats = pair_stats()
    assert stats["score"](data, ALL(4)) == pytest.approx(200 / 3)
    assert stats["gap"](data, ALL(4)) == pytest.approx(0.5)


def test_stereoset_scores_by_hand():
    # target 0: cluster 1 prefers stereo, only stereo beats unrelated; cluster 2 prefers anti, both beat unrelated
    # target 1: one cluster preferring stereo, both beat unrelated
    data = {"stereo": np.array([-1.0, -3.0, -1.0]), "anti": np.array([-2.0, -1.0, -2.0]),
            "unrelated": np.array([-1.5, -4.0, -5.0]), "target": np.array([0, 0, 1])}
    stats = stereoset_stats()
    assert stats["ss"](data, ALL(3)) == pytest.approx(75.0)  # mean of 50 and 100
    assert stats["lms"](data, ALL(3)) == pytest.approx(87.5)  # mean of (0.5 + 1) / 2 and 1
    assert stats["icat"](data, ALL(3)) == pytest.approx(87.5 * 25 / 50)


def test_bbq_scores_by_hand():
    # ambiguous: 4 items, label = unknown (0); answers: unknown, biased, biased, other  -> acc 25%
    # disambiguated: 4 items: biased chosen twice, other once, unknown once
    data = {
        "chosen": np.array([0, 1, 1, 2, 1, 1, 2, 0]), "label": np.array([0, 0, 0, 0, 1, 2, 2, 1]),
        "biased": np.array([1, 1, 1, 1, 1, 1, 1, 1]), "unknown": np.array([0, 0, 0, 0, 0, 0, 0, 0]),
        "ambiguous": np.array([True] * 4 + [False] * 4),
    }
    stats = bbq_stats()
    assert stats["accuracy"](data, ALL(8)) == pytest.approx(100 * 3 / 8)
    assert stats["bias_disambig"](data, ALL(8)) == pytest.approx(100 * (2 * 2 / 3 - 1))
    assert stats["bias_ambig"](data, ALL(8)) == pytest.approx(100 * (1 - 0.25) * (2 * 2 / 3 - 1))


def test_bootstrap_interval_and_determinism():
    rng = np.random.default_rng(1)
    data = {"gap": rng.normal(0.3, 1.0, size=400)}
    stat = pair_stats()["score"]
    first = bootstrap(stat, data, 400, n_boot=500, seed=3)
    assert first == bootstrap(stat, data, 400, n_boot=500, seed=3)
    assert first.low < first.value < first.high
    assert 3 < first.high - first.low < 15  # about +-4.9 points for a share near 60% of 400 items
    same = paired_bootstrap(stat, data, data, 400, n_boot=200)
    assert (same.value, same.low, same.high) == (0.0, 0.0, 0.0)
    shifted = paired_bootstrap(stat, data, {"gap": data["gap"] - 0.6}, 400, n_boot=200)
    assert shifted.high < 0


def test_perplexity_single_window_is_exact(tiny_lm):
    text = "the capital of france is paris and the nurse said that she was at home"
    losses = window_losses(tiny_lm, text, window=64, stride=64)
    ids = tiny_lm.tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids
    with torch.no_grad():
        logits = tiny_lm.model(ids).logits[0, :-1]
    expected = torch.nn.functional.cross_entropy(logits, ids[0, 1:]).item()
    stats = lm_stats()
    assert stats["perplexity"](losses, ALL(1)) == pytest.approx(math.exp(expected), rel=1e-5)
    hits = (logits.argmax(-1) == ids[0, 1:]).float().mean().item()
    assert stats["accuracy"](losses, ALL(1)) == pytest.approx(100 * hits)


def test_strided_windows_score_every_token_once(tiny_lm):
    text = " ".join(["the nurse said that she was at work in the city"] * 4)
    n = len(tiny_lm.tokenizer(text, add_special_tokens=False).input_ids)
    losses = window_losses(tiny_lm, text, window=16, stride=8)
    assert losses["count"].sum() == n - 1
    assert losses["count"][0] == 15 and set(losses["count"][1:-1]) == {8}
    with pytest.raises(ValueError, match="stride"):
        window_losses(tiny_lm, text, window=16, stride=32)
