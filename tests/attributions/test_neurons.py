"""Neuron sets and neuron scores (attributions.scores): set operations, files, top-k and thresholds."""

from __future__ import annotations

import pytest
import torch
from tiny_models import tiny_lm

from attributions import LanguageModeling, NeuronScores, NeuronSet, TokenContrast, attribute

PROMPTS = ["the nurse said that", "the engineer said", "the doctor said that she was at work and"]


def test_neuron_set_operations_and_files(tmp_path):
    a, b = NeuronSet([(1, 2), (0, 5), (1, 2)]), NeuronSet([(0, 5), (2, 1)])
    assert list(a) == [(1, 2), (0, 5)] and len(a) == 2 and hash(a) == hash(NeuronSet([(0, 5), (1, 2)]))
    assert a | b == NeuronSet([(1, 2), (0, 5), (2, 1)]) and a & b == NeuronSet([(0, 5)])
    assert a.jaccard(b) == pytest.approx(1 / 3)
    assert {k: v.tolist() for k, v in a.by_layer().items()} == {0: [5], 1: [2]}
    a.save(tmp_path / "set.json", meta={"k": 2})
    assert list(NeuronSet.load(tmp_path / "set.json")) == list(a)
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    with pytest.raises(ValueError, match="expected a JSON object with format"):
        NeuronSet.load(tmp_path / "bad.json")


def test_scores_top_threshold_and_round_trip(tmp_path):
    lm = tiny_lm("llama")
    scores = attribute(lm, TokenContrast(PROMPTS, " he", " she"), "grad_x_act")
    scores.control = attribute(lm, LanguageModeling(["the man was at work in the city"]), "grad_x_act")
    top = scores.top(5)
    flat = scores.scores.flatten()
    assert [layer * 48 + n for layer, n in top] == torch.topk(flat, 5).indices.tolist()
    assert all(float(scores.scores[layer, n]) >= 0.2 * float(flat.max()) for layer, n in scores.threshold(0.2))
    scores.save(tmp_path / "s.safetensors")
    loaded = NeuronScores.load(tmp_path / "s.safetensors")
    assert torch.equal(loaded.scores, scores.scores) and torch.equal(loaded.consistency, scores.consistency)
    kept = {k: v for k, v in scores.meta.items() if k != "seconds"}  # timings stay out of the file
    assert loaded.meta == kept and torch.equal(loaded.control.scores, scores.control.scores)
    assert len(loaded.to_frame()) == 96 and list(loaded.per_layer().layer) == [0, 1]
    (tmp_path / "x.safetensors").write_bytes(b"not a file")
    with pytest.raises(ValueError, match="not a safetensors scores file"):
        NeuronScores.load(tmp_path / "x.safetensors")
