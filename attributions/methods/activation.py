"""Contrast of mean activations between the two sides of the objective."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..forward import Batch, per_example
from ..hooks import capture_activations
from ..sites import NeuronSite


@torch.no_grad()
def activation(model: nn.Module, sites: Sequence[NeuronSite], batch: Batch, layers: Sequence[int]) -> torch.Tensor:
    """Per example: mean activation over the focus positions of its ``+`` rows minus its ``-`` rows
    (for one-sided objectives, the mean activation itself).

    Returns:
        ``[examples, len(layers), n_neurons]``.
    """
    chosen = [sites[layer] for layer in layers]
    with capture_activations(chosen) as acts:
        model(input_ids=batch.ids, attention_mask=batch.mask, position_ids=batch.positions)
    weight = batch.focus / batch.focus.sum(dim=1, keepdim=True).clamp(min=1)  # [rows, pos]
    per_row = torch.stack([torch.einsum("rp,rpn->rn", weight.to(acts[layer].device),
                                        acts[layer].float()).to(weight.device) for layer in layers], dim=1)
    return per_example(batch, per_row * batch.side.view(-1, 1, 1))
