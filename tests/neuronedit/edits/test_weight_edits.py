"""Permanent edits (prune_, scale_, compact_, mean folding) against the hook edit, checkpoints that reload
with plain transformers, and apply_edit_ replays, on tiny models of every covered architecture."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from tiny_models import MASKED_LM, MLP_WIDTH, TINY_CONFIGS, tiny_lm
from transformers import AutoModelForCausalLM, AutoModelForMaskedLM

from attributions import LanguageModel, NeuronSet, weights_fingerprint
from neuronedit import EditError, EditLog, ManifestError, apply_edit_, compact_, masked, prune_, save_edited, scale_
from neuronedit.edits import MANIFEST_NAME, load_manifest

ARCHS = sorted(TINY_CONFIGS)
IDS = torch.tensor([[3, 7, 9, 4, 12, 5, 8, 20], [6, 11, 13, 3, 9, 14, 2, 17]])
NEURONS = NeuronSet([(0, 3), (0, 17), (1, 5), (1, 40), (0, 47)])


def _lm(arch: str, seed: int = 0) -> LanguageModel:
    return tiny_lm(arch, seed, bos=False, bias_std=0.1)  # non-zero biases so that bias handling is exercised


@torch.no_grad()
def _logits(model: torch.nn.Module) -> torch.Tensor:
    return model(input_ids=IDS).logits


def _reload(arch: str, path: Path) -> torch.nn.Module:
    cls = AutoModelForMaskedLM if arch in MASKED_LM else AutoModelForCausalLM
    return cls.from_pretrained(path).eval()


def _means(lm: LanguageModel) -> dict[int, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return {layer: torch.randn(MLP_WIDTH, generator=gen) for layer in range(2)}


@pytest.mark.parametrize("arch", ARCHS)
def test_weight_edits_equal_hook_edits(arch):
    """prune_ / zero / scale_ / compact_ on the weights give the hook edit's logits within 1e-5."""
    cases = [("prune", dict(mode="zero")), ("zero", dict(mode="zero")), ("scale", dict(mode="scale", factor=2.0)),
             ("compact", dict(mode="zero"))]
    for mode, hook in cases:
        lm = _lm(arch)
        with masked(lm, NEURONS, **hook):
            expected = _logits(lm.model)
        if mode == "scale":
            edit = scale_(lm, NEURONS, 2.0)
        elif mode == "compact":
            edit = compact_(lm, NEURONS)
        else:
            edit = prune_(lm, NEURONS, read_in=mode == "prune")
        assert edit.mode == mode and EditLog.of(lm).applied_ids == [edit.id]
        torch.testing.assert_close(_logits(lm.model), expected, atol=1e-5, rtol=0)
        if mode == "compact":
            assert [s.n_neurons for s in lm.sites] == [MLP_WIDTH - 3, MLP_WIDTH - 2]


@pytest.mark.parametrize("arch", ARCHS)
def test_mean_edit_folds_into_bias_or_says_why_not(arch):
    lm = _lm(arch)
    means = _means(lm)
    with masked(lm, NEURONS, "mean", means=means):
        expected = _logits(lm.model)
    has_bias = lm.sites[0].out_bias is not None
    if not has_bias and arch != "llama":
        with pytest.raises(EditError, match="masked\\(model, neurons, mode='mean'"):
            prune_(lm, NEURONS, means=means)
        return
    edit = prune_(lm, NEURONS, means=means)
    assert edit.mode == "mean" and len(edit.values) == len(NEURONS)
    torch.testing.assert_close(_logits(lm.model), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("arch", ARCHS)
def test_masked_save_reload_with_plain_transformers(arch, tmp_path):
    """mask -> save -> reload with plain transformers -> same logits; the model is restored after the save."""
    lm = _lm(arch)
    before = _logits(lm.model)
    state = {k: v.clone() for k, v in lm.model.state_dict().items()}
    with masked(lm, NEURONS, "scale", factor=0.5) as edit:
        edited = _logits(lm.model)
        save_edited(lm, tmp_path / "ckpt", edit)
    assert torch.equal(_logits(lm.model), before)
    after = lm.model.state_dict()
    assert after.keys() == state.keys() and all(torch.equal(after[k], state[k]) for k in state)
    assert EditLog.of(lm).applied_ids == []
    reloaded = _reload(arch, tmp_path / "ckpt")
    torch.testing.assert_close(_logits(reloaded), edited, atol=1e-5, rtol=0)
    manifest = load_manifest(tmp_path / "ckpt")
    saved = replace(edit, base_fingerprint=weights_fingerprint(lm.model))  # the save binds the edit to the weights
    assert [e.id for e in manifest] == [saved.id] and manifest[0].base_fingerprint == saved.base_fingerprint
    assert saved.id != edit.id, "the id covers the base fingerprint"
    assert reloaded.config.neuronedit_edits == [saved.id]


@pytest.mark.parametrize("arch", ["gpt2", "llama", "opt", "phi3"])
def test_pruned_and_mean_and_compact_checkpoints_reload(arch, tmp_path):
    for i, make in enumerate([lambda lm: prune_(lm, NEURONS, provenance={"note": "test"}),
                              lambda lm: prune_(lm, NEURONS, means=_means(lm)),
                              lambda lm: compact_(lm, NeuronSet([(0, 3), (0, 9), (1, 5), (1, 40)]))]):
        lm = _lm(arch)
        if i == 1 and arch == "phi3":  # no output bias to fold a mean into (tested above)
            continue
        make(lm)
        expected = _logits(lm.model)
        out = save_edited(lm, tmp_path / f"c{i}")
        torch.testing.assert_close(_logits(_reload(arch, out)), expected, atol=1e-5, rtol=0)


def test_compact_with_ragged_widths_refuses_to_save(tmp_path):
    lm = _lm("llama")
    compact_(lm, NEURONS)  # 3 neurons from layer 0, 2 from layer 1
    with pytest.raises(EditError, match="same number of neurons from every layer"):
        save_edited(lm, tmp_path / "ragged")
    assert not (tmp_path / "ragged").exists() and not list(tmp_path.iterdir())


def test_apply_edit_replays_refuses_mismatch_and_is_idempotent(tmp_path):
    lm = _lm("gpt2")
    edit = scale_(lm, NEURONS, 3.0, provenance={"method": "grad_x_act"})
    expected = _logits(lm.model)
    save_edited(lm, tmp_path / "ckpt")
    fresh = _lm("gpt2")
    assert apply_edit_(fresh, tmp_path / "ckpt" / MANIFEST_NAME) == [edit]
    torch.testing.assert_close(_logits(fresh.model), expected, atol=1e-6, rtol=0)
    assert apply_edit_(fresh, tmp_path / "ckpt") == []  # a second time changes nothing
    torch.testing.assert_close(_logits(fresh.model), expected, atol=1e-6, rtol=0)
    reloaded = LanguageModel(_reload("gpt2", tmp_path / "ckpt"), lm.tokenizer)
    assert apply_edit_(reloaded, tmp_path / "ckpt") == []  # the checkpoint records the edit
    other = _lm("gpt2", seed=1)
    with pytest.raises(ManifestError, match="fingerprint"):
        apply_edit_(other, edit)
    assert apply_edit_(other, edit, force=True) == [edit]

