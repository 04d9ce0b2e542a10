"""The reversible `masked` edit: restores exactly, nests, equals zeroed weights, checks its arguments."""

from __future__ import annotations

import pytest
import torch
from tiny_models import tiny_model

from attributions import NeuronSet
from neuronedit.edits import masked

pytestmark = pytest.mark.tiny_lm("gpt2", name="tiny")  # the module's `tiny_lm` fixture (conftest.py)

IDS = torch.tensor([[3, 5, 7, 9, 11], [4, 6, 8, 10, 12]])


def _logits(lm):
    with torch.no_grad():
        return lm.model(IDS).logits


def test_masked_restores_exactly_and_nests(tiny_lm):
    before = _logits(tiny_lm)
    outer, inner = NeuronSet([(0, 1), (1, 2)]), NeuronSet([(1, 3)])
    with masked(tiny_lm, outer):
        edited = _logits(tiny_lm)
        with masked(tiny_lm, inner, "scale", factor=3.0):
            both = _logits(tiny_lm)
        assert torch.equal(_logits(tiny_lm), edited)
    assert not torch.equal(edited, before) and not torch.equal(both, edited)
    assert torch.equal(_logits(tiny_lm), before)
    with pytest.raises(RuntimeError, match="inside"):
        with masked(tiny_lm, outer):
            raise RuntimeError("inside")
    assert torch.equal(_logits(tiny_lm), before)
    assert all(not s.module._forward_pre_hooks for s in tiny_lm.sites)


def test_masked_zero_equals_weight_zero_and_checks_range(tiny_lm):
    neurons = NeuronSet([(0, 1), (1, 2)])
    with masked(tiny_lm, neurons):
        hooked = _logits(tiny_lm)
    copy = tiny_model("gpt2")
    from attributions import find_sites

    with torch.no_grad():
        for site in find_sites(copy):
            for layer, n in neurons:
                if layer == site.layer:
                    site.write_out[:, n] = 0
        torch.testing.assert_close(copy(IDS).logits, hooked, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="out of range"):
        with masked(tiny_lm, NeuronSet([(0, 999)])):
            pass
    with pytest.raises(ValueError, match="needs means"):
        with masked(tiny_lm, neurons, "mean"):
            pass
