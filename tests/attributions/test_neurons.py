"""Neuron sets and neuron scores (attributions.scores): set operations, files, top-k and thresholds."""

from __future__ import annotations

import json

import pytest
import torch
from tiny_models import tiny_lm

from attributions import LanguageModeling, NeuronScores, NeuronSet, TokenContrast, attribute
from attributions.errors import InputError

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


@pytest.mark.parametrize("header, message", [
    ('{"format": "neuronedit.scores/1", "meta": {"n_examples": NaN}}', "NaN is not a JSON number"),
    ('{"format": "neuronedit.scores/1", "meta": {"n_examples": -3}}', "'n_examples' must be a non-negative integer"),
    ('{"format": "neuronedit.scores/1", "meta": {"fingerprint": ["x"]}}', "'fingerprint' must be a string"),
    ('{"format": "neuronedit.scores/1", "meta": {"seed": true}}', "'seed' must be a non-negative integer"),
    ('{"format": "neuronedit.scores/1", "meta": ' + "[" * 50000 + "]" * 50000 + "}", "not valid JSON"),
])
def test_scores_metadata_is_untrusted(tmp_path, header, message):
    from safetensors.torch import save_file

    from attributions.scores import _SCORES_FORMAT

    path = tmp_path / "s.safetensors"
    save_file({"scores": torch.zeros(2, 3)}, str(path),
              metadata={"neuronedit": header.replace("neuronedit.scores/1", _SCORES_FORMAT)})
    with pytest.raises(InputError, match=message):
        NeuronScores.load(path)


@pytest.mark.parametrize("tensors, message", [
    ({"scores": torch.zeros(2, 3), "std": torch.zeros(3, 2)}, "std has shape"),
    ({"scores": torch.zeros(2, 3), "control.scores": torch.zeros(3, 3)}, "control scores have shape"),
])
def test_scores_tensors_are_untrusted(tmp_path, tensors, message):
    from safetensors.torch import save_file

    from attributions.scores import _SCORES_FORMAT

    path = tmp_path / "s.safetensors"
    save_file(tensors, str(path), metadata={"neuronedit": json.dumps({"format": _SCORES_FORMAT})})
    with pytest.raises(InputError, match=f"s.safetensors: .*{message}"):
        NeuronScores.load(path)
