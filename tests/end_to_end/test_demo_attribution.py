"""Attribution on the demo model: parity with captum."""

from __future__ import annotations

import pytest
import torch
from reference import captum_layer_scores

from attributions import NeuronSet, PairPreference, TokenContrast, attribute
from attributions.forward import collate

pytestmark = pytest.mark.slow

PAIRS = [("The nurse said that she would be late.", "The nurse said that he would be late."),
         ("The mechanic said that he was tired.", "The mechanic said that she was tired.")]


def test_demo_grad_x_act_equals_captum(demo_lm):
    objective = PairPreference(PAIRS)
    ours = attribute(demo_lm, objective, "grad_x_act")
    encoded = objective.encode(demo_lm.tokenizer)
    batch = collate(encoded.rows, demo_lm.tokenizer.pad_token_id)
    scale = float(ours.scores.abs().max())
    for site in demo_lm.sites:
        expected = captum_layer_scores(demo_lm.model, site, batch, encoded.n_examples)
        assert (ours.scores[site.layer] - expected).abs().max() <= 1e-4 * scale, site.layer


def test_demo_integrated_gradients_equals_captum_on_one_layer(demo_lm):
    objective = TokenContrast(["The nurse said that", "The carpenter said that"], " he", " she")
    layer, steps = 20, 6
    subset = NeuronSet((layer, n) for n in range(demo_lm.sites[layer].n_neurons))
    ours = attribute(demo_lm, objective, "integrated_gradients", steps=steps, neurons=subset)
    encoded = objective.encode(demo_lm.tokenizer)
    batch = collate(encoded.rows, demo_lm.tokenizer.pad_token_id)
    expected = captum_layer_scores(demo_lm.model, demo_lm.sites[layer], batch, encoded.n_examples, steps=steps)
    scale = float(ours.scores[layer].abs().max())
    assert (ours.scores[layer] - expected).abs().max() <= 1e-4 * scale
    assert torch.isnan(ours.scores[layer - 1]).all()
