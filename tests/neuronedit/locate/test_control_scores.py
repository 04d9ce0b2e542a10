"""Control scores: cached per model fingerprint and data, the knowledge-aware control, selection with it."""

from __future__ import annotations

import pytest
import torch
from tiny_models import tiny_lm

from attributions import LanguageModeling, NeuronScores, attribute
from attributions.selection import combine_controls, select
from neuronedit.data import PairItem
from neuronedit.data.neutral import NEUTRAL_TEXTS
from neuronedit.locate import control_scores as controls


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURONEDIT_CACHE", str(tmp_path))
    calls = []
    real = controls.attribute

    def counting(*args, **kwargs):
        calls.append(args[1].describe())
        return real(*args, **kwargs)

    monkeypatch.setattr(controls, "attribute", counting)
    return tmp_path, calls


def test_control_scores_are_cached_per_fingerprint_and_data(cache):
    root, calls = cache
    lm = tiny_lm()
    first = controls.control_scores(lm, "lm")
    assert len(calls) == 1 and len(list((root / "controls").glob("*.safetensors"))) == 1
    again = controls.control_scores(lm, "lm")
    assert len(calls) == 1, "the second call must read the cache"
    torch.testing.assert_close(again.scores, first.scores)
    direct = attribute(lm, LanguageModeling(list(NEUTRAL_TEXTS)), "grad_x_act")
    torch.testing.assert_close(first.scores, direct.scores)
    controls.control_scores(lm, "lm", texts=list(NEUTRAL_TEXTS)[:10])  # other data: computed anew
    controls.control_scores(tiny_lm(seed=1), "lm")  # other weights: computed anew
    assert len(calls) == 3
    for path in (root / "controls").glob("*.safetensors"):  # a damaged entry is recomputed, not trusted
        path.write_bytes(b"garbage")
    controls.control_scores(lm, "lm")
    assert len(calls) == 4
    controls.control_scores(lm, "lm", use_cache=False)
    assert len(calls) == 5


def test_knowledge_control_excludes_neurons_that_carry_knowledge(cache):
    _, calls = cache
    lm = tiny_lm()
    # definitional facts in the tiny vocabulary (the built-in probes' nouns are unknown words to it)
    facts = [PairItem(more=f"the {noun} said that {right} was {tail}", less=f"the {noun} said that {wrong} was {tail}",
                      bias_type="gender", id=f"k{i}", source="test")
             for i, (noun, right, wrong, tail) in enumerate(
                 (n, r, w, t) for n, r, w in (("woman", "she", "he"), ("man", "he", "she"))
                 for t in ("home", "loud", "poor", "angry"))]
    combined = controls.control_scores(lm, "lm+knowledge", domain="gender", knowledge=facts)
    assert [c["objective"] for c in calls] == ["lm", "pair"] and calls[1]["span"] == "diff"
    lm_only = controls.control_scores(lm, "lm")
    # an objective whose strongest neurons are the ones that matter more for the knowledge probes than for lm
    lm_part = lm_only.scores.abs() / torch.quantile(lm_only.scores.abs().flatten(), 0.9)
    scores = NeuronScores(torch.where(combined.scores > lm_part, combined.scores, torch.zeros_like(lm_part)))
    plain = select(scores, 20, "exclude_control", control=lm_only)
    aware = select(scores, 20, "exclude_control", control=combined)
    cutoff = torch.quantile(combined.scores.flatten(), 0.9)
    assert all(float(combined.scores[layer, n]) < cutoff for layer, n in aware)
    assert any(float(combined.scores[layer, n]) >= cutoff for layer, n in plain)  # lm alone lets them through
    with pytest.raises(ValueError, match="needs the domain"):
        controls.control_scores(lm, "lm+knowledge")
    with pytest.raises(ValueError, match="unknown control"):
        controls.control_scores(lm, "knowledge")


def test_combine_controls_by_hand():
    a = NeuronScores(torch.tensor([[1.0, -2.0, 3.0, 4.0, 0.0]]))
    b = NeuronScores(torch.tensor([[10.0, 0.0, 0.0, -40.0, 20.0]]))
    combined = combine_controls(a, b, quantile=1.0)  # scale each by its largest |value|
    torch.testing.assert_close(combined.scores, torch.tensor([[0.25, 0.5, 0.75, 1.0, 0.5]]))
    with pytest.raises(ValueError, match="different shapes"):
        combine_controls(a, NeuronScores(torch.zeros(2, 5)))


def test_consistent_rule_prefers_neurons_that_push_on_every_example():
    scores = NeuronScores(torch.tensor([[1.0, 0.9, 0.5]]), std=torch.tensor([[10.0, 0.1, 0.1]]))
    control = NeuronScores(torch.zeros(1, 3))
    assert list(select(scores, 2, "exclude_control", control=control, quantile=1.0)) == [(0, 0), (0, 1)]
    assert list(select(scores, 2, "consistent", control=control, quantile=1.0)) == [(0, 1), (0, 2)]
    with pytest.raises(ValueError, match="standard deviations"):
        select(NeuronScores(torch.ones(1, 3)), 1, "consistent", control=control)


def test_unscorable_knowledge_probes_fall_back_to_lm_with_a_warning(cache):
    lm = tiny_lm()
    with pytest.warns(UserWarning, match="cannot be scored with this tokenizer"):
        scores = controls.control_scores(lm, "lm+knowledge", domain="race")  # every group word is [UNK] here
    torch.testing.assert_close(scores.scores, controls.control_scores(lm, "lm").scores)
    assert scores.meta["knowledge"].startswith("unscorable")
