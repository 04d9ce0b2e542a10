"""Attribution on tiny models: captum parity, a planted neuron, exact ablation, subsets, determinism.
(Objectives: test_objectives.py; neuron sets and scores: test_neurons.py.)"""

from __future__ import annotations

import pytest
import torch
from reference import captum_layer_scores
from tiny_models import tiny_lm

from attributions import (
    LanguageModel,
    LanguageModeling,
    NeuronSet,
    PairPreference,
    TokenContrast,
    attribute,
)
from attributions.forward import collate, row_values
from attributions.hooks import edit_activations

PROMPTS = ["the nurse said that", "the engineer said", "the doctor said that she was at work and"]
PAIRS = [("the nurse said that she was home", "the nurse said that he was home"),
         ("he is at work", "she is at work"), ("the man was lazy", "the woman was lazy")]


def _per_row_batch(lm, objective):
    encoded = objective.encode(lm.tokenizer)
    return encoded, collate(encoded.rows, lm.tokenizer.pad_token_id)


@pytest.mark.parametrize("arch", ["llama", "gpt2", "opt", "gpt_neox"])
@pytest.mark.parametrize("objective", ["contrast", "pair"])
def test_grad_x_act_equals_captum(arch, objective):
    lm = tiny_lm(arch)
    obj = TokenContrast(PROMPTS, " he", " she") if objective == "contrast" else PairPreference(PAIRS)
    ours = attribute(lm, obj, "grad_x_act", batch_size=64)
    encoded, batch = _per_row_batch(lm, obj)
    scale = float(ours.scores.abs().max())
    for site in lm.sites:
        expected = captum_layer_scores(lm.model, site, batch, encoded.n_examples)
        assert (ours.scores[site.layer] - expected).abs().max() <= 1e-4 * scale


@pytest.mark.parametrize("objective", ["contrast", "pair"])
def test_integrated_gradients_equals_captum(objective):
    lm = tiny_lm("llama")
    obj = TokenContrast(PROMPTS, " he", " she") if objective == "contrast" else PairPreference(PAIRS)
    steps = 8
    ours = attribute(lm, obj, "integrated_gradients", steps=steps, batch_size=64, internal_batch_size=16)
    encoded, batch = _per_row_batch(lm, obj)
    scale = float(ours.scores.abs().max())
    for site in lm.sites:
        expected = captum_layer_scores(lm.model, site, batch, encoded.n_examples, steps=steps)
        assert (ours.scores[site.layer] - expected).abs().max() <= 1e-4 * scale


def _planted(layer: int = 1, neuron: int = 7) -> LanguageModel:
    """A tiny Llama in which one neuron writes ' he' minus ' she' into the residual stream and fires strongly."""
    lm = tiny_lm("llama", seed=3)
    model, tok = lm.model, lm.tokenizer
    he, she = tok.convert_tokens_to_ids(["he", "she"])
    mlp = model.model.layers[layer].mlp
    captured = {}
    handle = model.model.layers[layer].post_attention_layernorm.register_forward_hook(
        lambda m, i, out: captured.__setitem__("x", out.detach()))
    ids = collate(TokenContrast(PROMPTS, " he", " she").encode(tok).rows, tok.pad_token_id)
    with torch.no_grad():
        model(input_ids=ids.ids, attention_mask=ids.mask)
    handle.remove()
    last = ids.mask.sum(1) - 1
    direction = captured["x"][torch.arange(len(PROMPTS)), last].mean(0)
    direction = direction / direction.norm()
    torch.manual_seed(11)
    write = torch.randn(model.config.hidden_size)
    write = write / write.norm()
    with torch.no_grad():
        mlp.gate_proj.weight[neuron] = 3.0 * direction
        mlp.up_proj.weight[neuron] = 3.0 * direction
        mlp.down_proj.weight[:, neuron] = 0.05 * write
        model.lm_head.weight[he] = 2.0 * write  # ' he' and ' she' read the written direction with opposite signs
        model.lm_head.weight[she] = -2.0 * write
    return lm


@pytest.mark.parametrize("method", ["activation", "grad_x_act", "integrated_gradients", "ig2", "ablation"])
def test_every_method_ranks_the_planted_neuron_first(method):
    lm = _planted()
    scores = attribute(lm, TokenContrast(PROMPTS, " he", " she"), method, steps=10)
    assert list(scores.top(1)) == [(1, 7)]
    base = attribute(tiny_lm("llama", seed=3), TokenContrast(PROMPTS, " he", " she"), method, steps=10)
    assert (1, 7) not in base.top(1), "the neuron is first because it was planted"


def test_ablation_is_exact():
    lm = tiny_lm("llama")
    obj = PairPreference(PAIRS)
    subset = NeuronSet([(0, 3), (1, 10), (1, 40)])
    scores = attribute(lm, obj, "ablation", neurons=subset, internal_batch_size=8)
    assert torch.isnan(scores.scores).sum() == scores.scores.numel() - 3
    encoded, batch = _per_row_batch(lm, obj)
    with torch.no_grad():
        base = row_values(lm.model, batch)
        for layer, neuron in subset:
            def zero(site, act, neuron=neuron):
                act = act.clone()
                act[..., neuron] = 0
                return act

            with edit_activations([lm.sites[layer]], zero):
                ablated = row_values(lm.model, batch)
            effect = torch.zeros(encoded.n_examples).index_add_(0, batch.example, base - ablated).mean()
            assert float(scores.scores[layer, neuron]) == pytest.approx(float(effect), abs=1e-5)


def test_mean_ablation_differs_from_zero_ablation():
    lm = tiny_lm("llama")
    subset = NeuronSet([(0, 3), (1, 10)])
    zero = attribute(lm, PairPreference(PAIRS), "ablation", neurons=subset)
    mean = attribute(lm, PairPreference(PAIRS), "ablation", neurons=subset, mode="mean")
    assert not torch.allclose(zero.scores[0, 3], mean.scores[0, 3])


def test_subset_agrees_with_full_run_and_memory_is_per_batch():
    lm = tiny_lm("gpt2")
    obj = PairPreference(PAIRS * 5)
    full = attribute(lm, obj, "grad_x_act", batch_size=64)
    small_batches = attribute(lm, obj, "grad_x_act", batch_size=2)
    torch.testing.assert_close(full.scores, small_batches.scores, atol=1e-6, rtol=1e-5)
    subset = NeuronSet([(1, 5), (0, 2)])
    part = attribute(lm, obj, "grad_x_act", neurons=subset)
    assert float(part.scores[1, 5]) == pytest.approx(float(full.scores[1, 5]), abs=1e-6)
    assert torch.isnan(part.scores[0, 3])


def test_deterministic():
    lm = tiny_lm("llama")
    obj = PairPreference(PAIRS)
    for method in ("grad_x_act", "integrated_gradients"):
        a, b = attribute(lm, obj, method, steps=5), attribute(lm, obj, method, steps=5)
        assert torch.equal(a.scores, b.scores) and torch.equal(a.std, b.std)


def test_statistics_over_examples():
    lm = tiny_lm("llama")
    obj = TokenContrast(PROMPTS, " he", " she")
    scores = attribute(lm, obj, "grad_x_act")
    singles = torch.stack([attribute(lm, TokenContrast([p], " he", " she"), "grad_x_act").scores for p in PROMPTS])
    torch.testing.assert_close(scores.scores, singles.mean(0), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(scores.std, singles.std(0), atol=1e-6, rtol=1e-4)
    agree = torch.where(singles.mean(0) >= 0, (singles > 0).float().mean(0), (singles < 0).float().mean(0))
    torch.testing.assert_close(scores.consistency, agree)


def test_ig2_needs_two_sided_objective():
    with pytest.raises(ValueError, match="two-sided"):
        attribute(tiny_lm(), LanguageModeling(["the man was at work"]), "ig2")
    with pytest.raises(ValueError, match="unknown attribution method 'magic'"):
        attribute(tiny_lm(), PairPreference(PAIRS), "magic")



@pytest.mark.parametrize("arch", ["llama", "gpt2", "gpt_neox", "phi"])
def test_integrated_gradients_prefix_reuse_changes_nothing(arch):
    lm = tiny_lm(arch)
    obj = PairPreference(PAIRS)
    reused = attribute(lm, obj, "integrated_gradients", steps=6, internal_batch_size=12)
    blocks = [s.block for s in lm.sites]
    try:
        for site in lm.sites:
            site.block = None  # forces tiling the whole model
        tiled = attribute(lm, obj, "integrated_gradients", steps=6, internal_batch_size=12)
    finally:
        for site, block in zip(lm.sites, blocks):
            site.block = block
    torch.testing.assert_close(reused.scores, tiled.scores, atol=1e-6, rtol=1e-5)
    assert all(not b._forward_pre_hooks for b in blocks)
