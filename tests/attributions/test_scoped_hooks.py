"""The general scoped hooks (forward, pre with kwargs, gradient), the early exit ``stop_before`` and the
padding helper ``pad_rows``."""

from __future__ import annotations

import pytest
import torch
from hook_checks import Boom, leftover_hooks
from tiny_models import tiny_lm

from attributions.forward import collate, pad_rows
from attributions.hooks import capture_activations, forward_hooks, grad_hooks, pre_hooks, stop_before
from attributions.objectives import Row

IDS = torch.tensor([[2, 3, 5, 7, 9, 11]])
ROWS = [[4, 5, 6], [7], [8, 9]]


def test_pad_rows_right_and_left():
    ids, mask = pad_rows(ROWS, 0)
    assert torch.equal(ids, torch.tensor([[4, 5, 6], [7, 0, 0], [8, 9, 0]]))
    assert torch.equal(mask, torch.tensor([[1, 1, 1], [1, 0, 0], [1, 1, 0]]))
    ids, mask = pad_rows(ROWS, -1, side="left")
    assert torch.equal(ids, torch.tensor([[4, 5, 6], [-1, -1, 7], [-1, 8, 9]]))
    assert torch.equal(mask, torch.tensor([[1, 1, 1], [0, 0, 1], [0, 1, 1]]))
    assert ids.dtype == mask.dtype == torch.long


def test_pad_rows_edge_cases():
    ids, mask = pad_rows([[1, 2], [3, 4]], 0)
    assert torch.equal(ids, torch.tensor([[1, 2], [3, 4]])) and bool(mask.all())
    ids, mask = pad_rows([], 0)
    assert ids.shape == mask.shape == (0, 0)
    with pytest.raises(ValueError, match="side"):
        pad_rows(ROWS, 0, side="middle")


def test_collate_pads_with_pad_rows():
    batch = collate([Row(ids=r, terms=[(0, r[0], 1.0)], example=i) for i, r in enumerate(ROWS)], 0)
    ids, mask = pad_rows(ROWS, 0)
    assert torch.equal(batch.ids, ids) and torch.equal(batch.mask, mask)


def _ran(lm, run) -> list[str]:
    """Which decoder blocks, MLP down-projections and output head complete a forward during ``run()``."""
    ran: list[str] = []
    parts = [(f"{kind}{site.layer}", module) for site in lm.sites
             for kind, module in (("mlp", site.module), ("block", site.block))]
    parts.append(("head", lm.model.get_output_embeddings()))
    with forward_hooks([(module, lambda *_, name=name: ran.append(name)) for name, module in parts]):
        run()
    return ran


def test_stop_before_stops_the_pass():
    lm = tiny_lm()
    everything = ["mlp0", "block0", "mlp1", "block1", "head"]
    assert _ran(lm, lambda: lm.model(input_ids=IDS)) == everything
    after = []

    def stopped() -> None:
        with capture_activations(lm.sites[1:]) as acts, stop_before(lm.sites[1].module):
            lm.model(input_ids=IDS)
            after.append("the rest of the block")  # skipped: the pass raised
        assert acts[1].shape == (1, IDS.shape[1], lm.sites[1].n_neurons)  # the capture ran before the stop

    assert _ran(lm, stopped) == ["mlp0", "block0"]  # block 1's down-projection and all later never ran
    assert after == [] and not leftover_hooks(lm.model)
    assert _ran(lm, lambda: lm.model(input_ids=IDS)) == everything  # nothing is left to stop the next pass


def test_stop_before_removes_its_hook_after_an_exception():
    lm = tiny_lm()
    with pytest.raises(Boom), stop_before(lm.sites[0].block):
        raise Boom("inside the block")
    assert not leftover_hooks(lm.model)
    with pytest.raises(Boom), stop_before(lm.sites[1].block), pre_hooks([(lm.sites[0].block, _boom)]):
        lm.model(input_ids=IDS)
    assert not leftover_hooks(lm.model)


def test_nested_stops_each_end_their_own_block():
    lm = tiny_lm()
    reached = []
    with stop_before(lm.sites[0].block):
        with stop_before(lm.sites[1].block):
            lm.model(input_ids=IDS)  # block 0 comes first: the outer stop ends both blocks
        reached.append("after the inner block")
    assert reached == [] and not leftover_hooks(lm.model)


def _boom(*_: object) -> None:
    raise Boom("inside the forward pass")


def test_forward_and_pre_hooks_with_kwargs_are_removed_after_an_exception():
    lm = tiny_lm()
    seen = {}

    def pre(_module, args, kwargs):
        seen["ids"] = kwargs["input_ids"]

    def post(_module, _args, kwargs, output):
        output.logits = output.logits * 0
        return output

    with pre_hooks([(lm.model, pre)], with_kwargs=True), forward_hooks([(lm.model, post)], with_kwargs=True):
        logits = lm.model(input_ids=IDS).logits
    assert torch.equal(seen["ids"], IDS) and not logits.any() and not leftover_hooks(lm.model)
    with pytest.raises(Boom), forward_hooks([(lm.sites[0].block, _boom)]), \
            pre_hooks([(lm.model, pre)], with_kwargs=True):
        lm.model(input_ids=IDS)
    assert not leftover_hooks(lm.model)


def test_grad_hooks_mask_gradients_and_are_removed_after_an_exception():
    lm = tiny_lm()
    weight = lm.model.get_input_embeddings().weight
    with grad_hooks([(weight, lambda grad: grad * 0)]):
        lm.model(input_ids=IDS).logits.sum().backward()
    assert weight.grad is not None and not weight.grad.any()
    weight.grad = None
    with pytest.raises(Boom), grad_hooks([(weight, lambda grad: grad * 0)]):
        raise Boom("inside the block")
    assert not leftover_hooks(lm.model)
    lm.model(input_ids=IDS).logits.sum().backward()
    assert weight.grad is not None and weight.grad.any()
