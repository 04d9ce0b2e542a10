"""A learned mask's gate values as an edit: the hook edit, the weight edit and the manifest agree with the gates."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tiny_models import tiny_lm

from attributions import NeuronScores, NeuronSet, PairPreference, attribute
from attributions.masking import learned_factors
from attributions.masking.gates import gated
from neuronedit.edits import Edit, ManifestError, learned_scale, masked, scale_

PAIRS = [("the nurse said that she was home", "the nurse said that he was home"),
         ("he is at work", "she is at work"), ("the man was lazy", "the woman was lazy")]
IDS = torch.tensor([[2, 3, 9, 10, 11, 12, 13, 4]])


def _logits(lm) -> torch.Tensor:
    with torch.no_grad():
        return lm.model(input_ids=IDS).logits


def _learned(lm) -> NeuronScores:
    return attribute(lm, PairPreference(PAIRS), "learned_mask", steps=40, retain=["the people lived in the city"],
                     knowledge_weight=0.0, budget=6, lr=0.3)


def test_learned_scale_is_the_gates_as_a_hook_edit_and_a_weight_edit(tmp_path: Path) -> None:
    lm = tiny_lm("llama", dtype=torch.float64)
    scores = _learned(lm)
    neurons, factors = learned_scale(scores)
    gates = learned_factors(scores)
    assert len(neurons) == int((gates < 1).sum()) > 0 and all(0 <= f < 1 for f in factors)
    assert list(factors) == sorted(factors)  # most closed first
    with torch.no_grad(), gated(lm.sites, gates.double()):
        expected = _logits(lm)
    before = _logits(lm)
    assert not torch.allclose(expected, before)
    with masked(lm, neurons, "scale", factors=factors) as record:
        torch.testing.assert_close(_logits(lm), expected, rtol=1e-10, atol=1e-12)
    assert torch.equal(_logits(lm), before)
    assert record.mode == "scale" and record.factor is None and record.values == factors
    edit = scale_(lm, neurons, factors)
    torch.testing.assert_close(_logits(lm), expected, rtol=1e-10, atol=1e-12)
    again = Edit.from_dict(edit.to_dict())  # the manifest round-trips the per-neuron factors, in order
    assert again.id == edit.id and list(again.neurons) == list(neurons) and again.values == factors


def test_per_neuron_factors_are_checked() -> None:
    neurons = NeuronSet([(0, 1), (1, 2)])
    with pytest.raises(ManifestError, match="not both"):
        Edit(neurons, "scale", factor=0.5, values=(0.1, 0.2))
    with pytest.raises(ManifestError, match="not neither"):
        Edit(neurons, "scale")
    with pytest.raises(ManifestError, match="one factor per neuron"):
        Edit(neurons, "scale", values=(0.1,))
    with pytest.raises(ManifestError, match="finite"):
        Edit(neurons, "scale", values=(0.1, float("inf")))
    with pytest.raises(ManifestError, match="takes no values"):
        Edit(neurons, "zero", values=(0.1, 0.2))
    from attributions.selection import select

    with pytest.raises(ValueError, match="rule 'ratio' divides"):
        select(NeuronScores(torch.zeros(2, 48), meta={"method": "learned_mask"},
                            control=NeuronScores(torch.ones(2, 48))), 3, "ratio")
    with pytest.raises(ValueError, match="learned_mask scores"):
        learned_scale(NeuronScores(torch.zeros(2, 48), meta={"method": "grad_x_act"}))
