"""Neuron sites on a tiny random model of every covered architecture."""

from __future__ import annotations

import pytest
import torch
from tiny_models import MLP_WIDTH, TINY_CONFIGS, tiny_model

from attributions import (
    UnsupportedArchitectureError,
    capture_activations,
    edit_activations,
    find_sites,
    register_architecture,
    supported_architectures,
)

ARCHS = sorted(TINY_CONFIGS)
INPUT = torch.tensor([[3, 17, 5, 42, 8, 11], [9, 4, 33, 2, 7, 21]])


def _logits(model: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=INPUT).logits


def test_every_registered_model_type_is_tested():
    covered = {t for spec in supported_architectures().values() for t in spec.model_types}
    assert covered - {"xlm-roberta"} <= set(ARCHS)


@pytest.mark.parametrize("arch", ARCHS)
def test_site_width_equals_mlp_width(arch):
    model = tiny_model(arch)
    sites = find_sites(model)
    assert [s.layer for s in sites] == [0, 1]
    assert all(s.n_neurons == MLP_WIDTH for s in sites)
    assert all(s.write_out.shape == (32, MLP_WIDTH) for s in sites)
    assert [s.tl_hook for s in sites] == ["blocks.0.mlp.hook_post", "blocks.1.mlp.hook_post"]
    with capture_activations(sites) as acts:
        _logits(model)
    assert acts[1].shape == (*INPUT.shape, MLP_WIDTH)


@pytest.mark.parametrize("arch", ARCHS)
def test_hook_zero_equals_weight_zero(arch):
    model = tiny_model(arch)
    sites = find_sites(model)
    neuron = 7

    def zero(site, act):
        act = act.clone()
        act[..., neuron] = 0
        return act

    base = _logits(model)
    with edit_activations(sites, zero):
        hooked = _logits(model)
    assert (hooked - base).abs().max() > 1e-6, "zeroing a neuron should change the logits"
    with torch.no_grad():
        for site in sites:
            site.write_out[:, neuron] = 0  # a view: writes through to the module weight
    pruned = _logits(model)
    torch.testing.assert_close(hooked, pruned, atol=1e-6, rtol=0)


@pytest.mark.parametrize("arch", ARCHS)
def test_zeroing_read_in_rows_silences_the_neuron(arch):
    model = tiny_model(arch)
    sites = find_sites(model)
    neuron = 5
    with torch.no_grad():
        for site in sites:
            views = list(site.read_rows())
            assert views, f"{arch} has no read-in projection"
            for rows, bias in views:
                assert rows.shape == (MLP_WIDTH, 32)
                rows[neuron] = 0
                if bias is not None:
                    bias[neuron] = 0
    with capture_activations(sites) as acts:
        _logits(model)
    for layer, act in acts.items():
        assert act[..., neuron].abs().max() == 0, layer
        assert act[..., neuron + 1].abs().max() > 0, layer


@pytest.mark.parametrize("arch", ["llama", "opt"])
def test_hooks_are_removed_after_an_exception(arch):
    model = tiny_model(arch)
    sites = find_sites(model)
    with pytest.raises(RuntimeError, match="boom"):
        with capture_activations(sites):
            raise RuntimeError("boom")

    def failing(site, act):
        raise ValueError("bad edit")

    with pytest.raises(ValueError, match="bad edit"):
        with edit_activations(sites, failing):
            _logits(model)
    assert all(len(s.module._forward_pre_hooks) == 0 for s in sites)
    assert all(len(s.flat_block._forward_pre_hooks) == 0 for s in sites if s.flat_block is not None)
    assert (arch == "opt") == all(s.flat_block is not None for s in sites)


def _tiny_bloom() -> torch.nn.Module:
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.for_model("bloom", vocab_size=100, hidden_size=32, n_layer=2, n_head=2)
    return AutoModelForCausalLM.from_config(config).eval()


def test_unknown_architecture_error_names_covered_and_fix():
    with pytest.raises(UnsupportedArchitectureError) as info:
        find_sites(_tiny_bloom())
    message = str(info.value)
    assert "'bloom'" in message and "llama" in message and "gpt2" in message
    assert "register_architecture(" in message


def test_register_architecture_by_pattern(restore_registry):
    register_architecture("bloom", down="h.{layer}.mlp.dense_4h_to_h", read_in=["h.{layer}.mlp.dense_h_to_4h"])
    sites = find_sites(_tiny_bloom())
    assert [s.name for s in sites] == ["transformer.h.0.mlp.dense_4h_to_h", "transformer.h.1.mlp.dense_4h_to_h"]
    assert sites[0].n_neurons == 4 * 32


def test_pattern_matching_no_module_is_an_error(restore_registry):
    register_architecture("llama", down="layers.{layer}.ffn.nowhere", model_types=["llama"])
    with pytest.raises(UnsupportedArchitectureError, match="matched no module"):
        find_sites(tiny_model("llama"))


def test_pattern_needs_layer_placeholder():
    with pytest.raises(ValueError, match="{layer}"):
        register_architecture("x", down="mlp.down_proj")


def test_sites_work_on_the_bare_base_model():
    model = tiny_model("llama")
    assert [s.name for s in find_sites(model.model)] == ["layers.0.mlp.down_proj", "layers.1.mlp.down_proj"]
