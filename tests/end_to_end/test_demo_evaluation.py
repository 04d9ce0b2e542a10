"""Evaluation end to end on the demo model."""

from __future__ import annotations

import numpy as np
import pytest
from reference import naive_logprob

from neuronedit.data import load
from neuronedit.measure.evaluation import evaluate

pytestmark = pytest.mark.slow


def test_demo_gender_probe_bias_and_naive_agreement(demo_lm):
    probes = load("probes:gender", split="test")
    result = evaluate(demo_lm, [probes], n_boot=300, progress=False)
    entry = result.to_dict()["probes-gender"]["gender"]
    assert entry["n"] == 140
    assert entry["metric"] == "assoc_gap" and entry["ci"][0] > 0, "stereotyped pronoun, beyond its frequency"
    assert entry["score"]["ci"][0] > 50, "and by the standard share"
    gaps = result.get("probes-gender", "gender").data["gap"]
    for k in range(0, 140, 35):  # spot-check against the one-at-a-time scorer
        item = probes[k]
        naive = naive_logprob(demo_lm.model, demo_lm.tokenizer, "", item.more) - naive_logprob(
            demo_lm.model, demo_lm.tokenizer, "", item.less)
        assert gaps[k] == pytest.approx(naive, abs=1e-4)
        assert np.sign(gaps[k]) == np.sign(naive)


def test_demo_stereoset_dev_gender_when_shared_data_present(demo_lm, shared_data):
    items = load(f"stereoset:{shared_data / 'stereoset' / 'stereoset_dev_flat.jsonl'}", bias_type="gender",
                 split="test")
    out = evaluate(demo_lm, [items[:60]], n_boot=200, progress=False).to_dict()["stereoset"]["gender"]
    assert out["n"] == 60 and out["metric"] == "assoc" and 0 <= out["value"] <= 100 and out["lms"]["value"] > 60

