"""Editing the demo model: hook and weight edits agree, checkpoints reload with plain transformers."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from attributions import NeuronSet, mean_activations
from neuronedit import apply_edit_, load_model, masked, prune_, save_edited, scale_
from neuronedit.data.neutral import NEUTRAL_TEXTS

pytestmark = pytest.mark.slow

TEXTS = ["The nurse said that she would be late.", "The engineer fixed the bridge before the storm came."]


@pytest.fixture(scope="module")
def fresh_demo():
    """A second copy of the demo model that tests may edit in place."""
    return load_model("demo")


def _neurons(n_layers: int, width: int, k: int = 60) -> NeuronSet:
    generator = torch.Generator().manual_seed(0)
    flat = torch.randperm(n_layers * width, generator=generator)[:k]
    return NeuronSet((int(i) // width, int(i) % width) for i in flat)


@torch.no_grad()
def _logits(lm) -> torch.Tensor:
    batch = lm.tokenizer(TEXTS, return_tensors="pt", padding=True)
    return lm.model(**batch).logits


def test_demo_weight_edits_equal_hook_edits_and_round_trip(fresh_demo, tmp_path):
    lm = fresh_demo
    neurons = _neurons(lm.n_layers, lm.sites[0].n_neurons)
    base = _logits(lm)
    means = mean_activations(lm, list(NEUTRAL_TEXTS)[:20])
    with masked(lm, neurons) as zero_edit:
        zeroed = _logits(lm)
    with masked(lm, neurons, "mean", means=means):
        mean_ablated = _logits(lm)
    with masked(lm, neurons, "scale", factor=2.0):
        doubled = _logits(lm)
    assert torch.equal(_logits(lm), base)  # hooks restore exactly
    assert (zeroed - base).abs().max() > 1e-3  # the edit does something

    save_edited(lm, tmp_path / "zero", zero_edit)
    assert torch.equal(_logits(lm), base)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "zero").eval()
    with torch.no_grad():
        plain = reloaded(**lm.tokenizer(TEXTS, return_tensors="pt", padding=True)).logits
    torch.testing.assert_close(plain, zeroed, atol=1e-5, rtol=0)

    edit = scale_(lm, neurons, 2.0)
    torch.testing.assert_close(_logits(lm), doubled, atol=1e-5, rtol=0)
    scale_(lm, neurons, 0.5)
    prune_(lm, neurons, means=means)  # Llama: switches the MLP bias on
    assert lm.model.config.mlp_bias
    # the folded bias goes through another kernel (addmm) than the hook path: float32 rounding only
    folded = _logits(lm)
    torch.testing.assert_close(folded, mean_ablated, atol=1e-4, rtol=0)
    out = save_edited(lm, tmp_path / "mean")
    reloaded = AutoModelForCausalLM.from_pretrained(out).eval()
    with torch.no_grad():
        plain = reloaded(**lm.tokenizer(TEXTS, return_tensors="pt", padding=True)).logits
    torch.testing.assert_close(plain, folded, atol=1e-5, rtol=0)

    replay = load_model("demo")  # the manifest alone turns a fresh base into the edited model
    assert [e.mode for e in apply_edit_(replay, out)] == ["scale", "scale", "mean"] and edit.mode == "scale"
    torch.testing.assert_close(_logits(replay), folded, atol=1e-5, rtol=0)
    assert apply_edit_(replay, out) == []


def test_demo_mean_fold_is_exact_in_float64():
    """In float64 the folded mean equals the hook edit to 1e-9: the float32 gap above is rounding."""
    lm = load_model("demo", dtype=torch.float64)
    neurons = _neurons(lm.n_layers, lm.sites[0].n_neurons)
    means = {k: v.double() for k, v in mean_activations(lm, list(NEUTRAL_TEXTS)[:10]).items()}
    with masked(lm, neurons, "mean", means=means):
        expected = _logits(lm)
    prune_(lm, neurons, means=means)
    torch.testing.assert_close(_logits(lm), expected, atol=1e-9, rtol=0)
