"""The evaluation runner on fixtures: independent of batching, equal to the naive scorer, JSON shape."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from locations import FIXTURES
from reference import naive_logprob
from tiny_models import tiny_model, tiny_tokenizer

from attributions.errors import InputError
from neuronedit.data import load
from neuronedit.measure.evaluation import evaluate
from neuronedit.measure.paired import paired_effects
from neuronedit.measure.suites import association_scores

FIX = FIXTURES
SUITES = [f"crows:{FIX / 'crows_small.csv'}", f"stereoset:{FIX / 'stereoset_flat.jsonl'}",
          f"winobias:{FIX / 'winobias'}", f"bbq:{FIX / 'bbq_small.jsonl'}", "probes:religion",
          f"text:{FIX / 'text_small.txt'}"]

pytestmark = pytest.mark.tiny_lm("gpt2")  # the module's `tiny_lm` fixture (conftest.py)


@pytest.fixture(scope="module")
def result(tiny_lm):
    return evaluate(tiny_lm, SUITES, batch_size=32, n_boot=200, progress=False)


def test_independent_of_batch_size(tiny_lm, result):
    other = evaluate(tiny_lm, SUITES, batch_size=3, n_boot=200, progress=False)
    a, b = result.frame(), other.frame()
    assert a[["suite", "bias_type", "metric", "n"]].equals(b[["suite", "bias_type", "metric", "n"]])
    np.testing.assert_allclose(a.value, b.value, atol=1e-5)  # float32 rounding of padded batches (~1e-5 relative)


def test_pair_decisions_equal_the_naive_scorer(tiny_lm, result):
    items = load(SUITES[0])
    for bias_type in ("gender", "race", "religion"):
        r = result.get("crows", bias_type)
        chosen = [i for i in items if i.bias_type == bias_type]
        naive = np.array([naive_logprob(tiny_lm.model, tiny_lm.tokenizer, "", i.more)
                          - naive_logprob(tiny_lm.model, tiny_lm.tokenizer, "", i.less) for i in chosen])
        np.testing.assert_allclose(r.data["gap"], naive, atol=1e-4)
        assert (np.sign(r.data["gap"]) == np.sign(naive)).all()


def test_json_shape(result):
    out = json.loads(json.dumps(result.to_dict()))
    assert set(out) == {"crows", "stereoset", "winobias", "bbq", "probes-religion", "perplexity", "settings"}
    gender = out["crows"]["gender"]
    assert gender["n"] == 2 and gender["metric"] == "assoc" and len(gender["ci"]) == 2
    assert gender["ci"][0] <= gender["value"] <= gender["ci"][1] and "score" in gender  # standard beside it
    assert set(out["stereoset"]) == {"gender", "profession", "religion"}
    assert {"lms", "icat"} <= set(out["stereoset"]["gender"])
    assert out["bbq"]["religion"]["metric"] == "bias_ambig" and "accuracy" in out["bbq"]["religion"]
    assert out["perplexity"]["value"] > 1 and out["perplexity"]["tokens"] > 10
    assert out["probes-religion"]["religion"]["n"] == 216


def test_paired_effects_count_flips(tiny_lm, result):
    same = paired_effects(result, result, n_boot=50)
    defined = same.dropna(subset=["before"])
    assert (defined["diff"] == 0).all() and (same.dropna(subset=["flipped"])["flipped"] == 0).all()
    after = evaluate(tiny_lm, SUITES[:1], n_boot=50, progress=False)
    flipped = after.get("crows", "gender")
    flipped.data = {**flipped.data, "gap": -flipped.data["gap"]}
    flipped.decision = -flipped.decision
    before = evaluate(tiny_lm, SUITES[:1], n_boot=50, progress=False)
    table = paired_effects(before, after, n_boot=50)
    row = table[(table.bias_type == "gender") & (table.metric == "score")].iloc[0]
    assert row.flipped == 2 and row.to_less + row.to_more == 2
    assert row["diff"] == pytest.approx(100 - 2 * row.before)


def test_cli_evaluate_writes_json(tmp_path):
    model_dir = tmp_path / "m"
    tiny_model("gpt2").save_pretrained(model_dir)
    tiny_tokenizer().save_pretrained(model_dir)
    out = tmp_path / "r.json"
    done = subprocess.run([sys.executable, "-m", "neuronedit", "evaluate", "--model", str(model_dir), "--data",
                           SUITES[0], "--data", "probes:gender", "--split", "test", "--n-boot", "100", "--quiet",
                           "--json", str(out)], capture_output=True, text=True, env=dict(os.environ), check=False)
    assert done.returncode == 0, done.stderr
    assert "probes-gender" in done.stdout and "[" in done.stdout
    data = json.loads(out.read_text())
    assert data["probes-gender"]["gender"]["n"] == 140


def test_identical_pairs_are_ties_not_decisions(tiny_lm):
    from neuronedit.data import Dataset, PairItem

    items = [PairItem(more="the man was lazy", less="the man was lazy", bias_type="gender", id="t0", source="x"),
             PairItem(more="the nurse said she", less="the nurse said he", bias_type="gender", id="t1", source="x")]
    out = evaluate(tiny_lm, [Dataset(items, kind="pairs", spec="x", bias_type=None, split=None)], n_boot=20,
                   progress=False).to_dict()["pairs"]["gender"]
    assert out["ties"] == 1 and out["n"] == 2 and out["score"]["value"] in (0.0, 100.0)
    # the association measure lists both: t0 tokenizes identically, t1 has nothing after its pronoun
    assert {s["id"]: s["reason"] for s in out["skipped"]} == {
        "t0": "the two sides tokenize identically", "t1": "the two sides share no tokens after the difference"}


def test_association_scores_equal_the_primary_values_of_evaluate(tiny_lm, result):
    """The association-only scorer (the planting calibration's) reports what ``evaluate`` reports, per bias type."""
    frame = result.frame()
    checked = 0
    for spec in SUITES[1:3] + ["probes:religion"]:
        data = load(spec)
        scores = association_scores(tiny_lm, data.name, list(data), {"batch_size": 4, "progress": False})
        for r in result.results:
            if r.suite == data.name and r.bias_type in scores:
                row = frame[(frame.suite == r.suite) & (frame.bias_type == r.bias_type) & (frame.metric == r.primary)]
                assert scores[r.bias_type] == pytest.approx(float(row.value.iloc[0]), nan_ok=True), (spec, r.bias_type)
                checked += bool(np.isfinite(scores[r.bias_type]))
    assert checked >= 2  # one suite is all ties or skipped on the tiny tokenizer
    with pytest.raises(InputError, match="accuracy"):
        association_scores(tiny_lm, "probes-knowledge-gender", list(load("probes:knowledge-gender")), {"batch_size": 4,
                                                                                                     "progress": False})
