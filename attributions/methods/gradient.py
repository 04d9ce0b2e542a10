"""Gradient x activation (attribution patching): all layers from one forward and one backward."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..forward import Batch, per_example, row_values
from ..model import frozen
from ..sites import NeuronSite
from ._common import graph_activations


def grad_x_act(model: nn.Module, sites: Sequence[NeuronSite], batch: Batch, layers: Sequence[int]) -> torch.Tensor:
    """``sum_pos grad * act`` per neuron: a first-order estimate of objective(act) - objective(0).

    Returns:
        ``[examples, len(layers), n_neurons]``.
    """
    chosen = [sites[layer] for layer in layers]
    with frozen(model), graph_activations(model, chosen) as acts:
        values = row_values(model, batch)  # [rows]
        grads = torch.autograd.grad(values.sum(), [acts[layer] for layer in layers])
    home = batch.ids.device  # layers may sit on several devices (device_map)
    per_row = torch.stack([(g * acts[layer].detach()).sum(dim=1).to(home) for g, layer in zip(grads, layers)], dim=1)
    return per_example(batch, per_row.float())  # [examples, layers, neurons]
