"""A neuron's read and write views (``NeuronSite.write_rows`` / ``read_rows``), the one place that
knows GPT-2's transposed ``Conv1D``, and their users (gradient masks, compaction)."""

from __future__ import annotations

import pytest
import torch
from tiny_models import MLP_WIDTH, tiny_model
from torch import nn

from attributions import NeuronSet, find_sites
from attributions.layout import is_conv1d, linear_view

D_MODEL = 32
NEURONS = NeuronSet([(0, 3), (0, 40), (1, 7), (1, 0)])
INPUT = torch.tensor([[3, 17, 5, 42, 8, 11]])


def _old_write(module: nn.Module, j: int) -> torch.Tensor:
    """What the code before the views wrote for neuron ``j`` of a down-projection."""
    return module.weight[j, :] if type(module).__name__ == "Conv1D" else module.weight[:, j]


def _old_read(module: nn.Module, rows: torch.Tensor) -> torch.Tensor:
    return module.weight[:, rows] if type(module).__name__ == "Conv1D" else module.weight[rows, :]


@pytest.mark.parametrize("arch, conv1d", [("gpt2", True), ("llama", False), ("phi3", False), ("opt", False)])
def test_views_alias_the_parameters_in_both_orientations(arch, conv1d):
    model = tiny_model(arch)
    for site in find_sites(model):
        assert site.is_conv1d is conv1d and is_conv1d(site.module) is conv1d
        weight = site.module.weight
        out = site.write_rows()
        assert out.shape == (MLP_WIDTH, D_MODEL)
        assert out.untyped_storage().data_ptr() == weight.untyped_storage().data_ptr()
        assert torch.equal(site.write_out, out.T), "the old [d_model, n] view is the same numbers"
        for j in (0, 5, MLP_WIDTH - 1):
            assert torch.equal(out[j], _old_write(site.module, j))
        reads = list(site.read_rows())
        assert len(reads) == sum(chunks for _, _, chunks in site.read_in_modules)
        assert [r.data_ptr() for r, _ in reads] == [r.data_ptr() for r, _ in site.read_rows()]
        for rows, bias in reads:
            assert rows.shape == (MLP_WIDTH, D_MODEL)
            assert bias is None or bias.shape == (MLP_WIDTH,)


@pytest.mark.parametrize("arch", ["gpt2", "llama", "phi3"])
def test_writing_through_the_views_changes_what_the_old_code_changed(arch):
    new, old = tiny_model(arch), tiny_model(arch)
    with torch.no_grad():
        for site, before in zip(find_sites(new), find_sites(old)):
            idx = NEURONS.by_layer()[site.layer]
            site.write_rows()[idx] *= 3.0
            for rows, bias in site.read_rows():
                rows[idx] = 0.5
                if bias is not None:
                    bias[idx] = 0.25
            for j in idx.tolist():
                _old_write(before.module, j).mul_(3.0)
            for _, module, chunks in before.read_in_modules:
                rows = torch.cat([idx + c * before.n_neurons for c in range(chunks)])
                if type(module).__name__ == "Conv1D":
                    module.weight[:, rows] = 0.5
                else:
                    module.weight[rows, :] = 0.5
                if module.bias is not None:
                    module.bias[rows] = 0.25
    for (name, a), (_, b) in zip(new.named_parameters(), old.named_parameters()):
        assert torch.equal(a, b), name
    assert any(not torch.equal(a, b) for a, b in zip(new.parameters(), tiny_model(arch).parameters()))


def _old_neuron_masks(sites, neurons):
    """``neuron_masks`` as it was written before the views (orientation handled by hand)."""
    masks = {}

    def mask_of(param):
        return masks.setdefault(param, torch.zeros_like(param, dtype=torch.bool))

    for layer, idx in neurons.by_layer().items():
        site = sites[layer]
        n = site.n_neurons
        down = site.module.weight
        conv = type(site.module).__name__ == "Conv1D"
        (mask_of(down).T if conv else mask_of(down))[:, idx] = True
        for _, module, chunks in site.read_in_modules:
            rows = torch.cat([idx + c * n for c in range(chunks)])
            conv = type(module).__name__ == "Conv1D"
            (mask_of(module.weight).T if conv else mask_of(module.weight))[rows] = True
            if isinstance(module.bias, nn.Parameter):
                mask_of(module.bias)[rows] = True
    return masks


@pytest.mark.parametrize("arch", ["gpt2", "llama", "phi3", "opt"])
def test_gradient_masks_built_through_the_views_are_the_old_ones(arch):
    from neuronedit.unlearn.confine import neuron_masks

    sites = find_sites(tiny_model(arch))
    new, old = neuron_masks(sites, NEURONS), _old_neuron_masks(sites, NEURONS)
    assert list(new) == list(old), "same parameters, same order (the optimizer's order)"
    for param in old:
        assert new[param].shape == param.shape and torch.equal(new[param], old[param])
    down = sites[1].module.weight
    assert int(new[down].sum()) == 2 * D_MODEL


@pytest.mark.parametrize("dim_in", [True, False])
def test_narrowing_a_conv1d_keeps_the_same_numbers(dim_in):
    from transformers.pytorch_utils import Conv1D

    from neuronedit.edits.compaction import _narrow

    torch.manual_seed(0)
    conv = Conv1D(6, 4)  # nf = 6 outputs, nx = 4 inputs: weight [4, 6]
    nn.init.normal_(conv.bias)
    keep = torch.tensor([0, 2, 3])
    narrow = _narrow(conv, keep, dim_in=dim_in)
    assert isinstance(narrow, Conv1D)
    expected = conv.weight.index_select(0 if dim_in else 1, keep)  # the old code, on the stored [in, out]
    assert torch.equal(narrow.weight, expected)
    assert torch.equal(narrow.bias, conv.bias if dim_in else conv.bias[keep])
    x = torch.randn(2, 4)
    if dim_in:
        silenced = torch.zeros_like(x)
        silenced[:, keep] = x[:, keep]
        torch.testing.assert_close(narrow(x[:, keep]), conv(silenced))
    else:
        torch.testing.assert_close(narrow(x), conv(x)[:, keep])


def test_compacting_gpt2_equals_pruning_it():
    from neuronedit.edits.compaction import remove_neurons

    pruned, compact = tiny_model("gpt2"), tiny_model("gpt2")
    with torch.no_grad():
        for site in find_sites(pruned):
            idx = NEURONS.by_layer()[site.layer]
            site.write_rows()[idx] = 0
            for rows, bias in site.read_rows():
                rows[idx] = 0
                if bias is not None:
                    bias[idx] = 0
        remove_neurons(compact, find_sites(compact), NEURONS)
        assert [s.n_neurons for s in find_sites(compact)] == [MLP_WIDTH - 2, MLP_WIDTH - 2]
        torch.testing.assert_close(compact(INPUT).logits, pruned(INPUT).logits, atol=1e-5, rtol=0)


def test_linear_view_checks_its_arguments():
    linear = nn.Linear(4, 6)
    assert linear_view(linear) is linear.weight
    mask = torch.zeros(6, 4, dtype=torch.bool)
    assert linear_view(linear, lambda w: mask) is mask
    with pytest.raises(ValueError, match="shapes differ"):
        linear_view(linear, lambda w: torch.zeros(4, 6))
    with pytest.raises(TypeError, match="no 2-d weight"):
        linear_view(nn.ReLU())
