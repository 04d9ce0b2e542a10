"""Which parameters an unlearning update may change: all of them, or only the rows and columns
that read and write given neurons (gradient masking; no copy of the model)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

import torch
from torch import nn

from attributions import NeuronSet, NeuronSite

__all__ = ["neuron_masks", "trainable"]


def neuron_masks(sites: Sequence[NeuronSite], neurons: NeuronSet) -> dict[nn.Parameter, torch.Tensor]:
    """Per parameter, a 0/1 mask of the entries belonging to ``neurons``: their write-out columns
    of the down-projection, their read-in rows (all fused chunks) and read-in bias entries."""
    masks: dict[nn.Parameter, torch.Tensor] = {}

    def mask_of(param: nn.Parameter) -> torch.Tensor:
        return masks.setdefault(param, torch.zeros_like(param, dtype=torch.bool))

    for layer, idx in neurons.by_layer().items():
        site = sites[layer]
        n = site.n_neurons
        down = site.module.weight
        is_conv1d = type(site.module).__name__ == "Conv1D"
        view = mask_of(down).T if is_conv1d else mask_of(down)  # [d_model, n]
        view[:, idx] = True
        for _, module, chunks in site.read_in_modules:
            rows = torch.cat([idx + c * n for c in range(chunks)])
            weight = module.weight
            conv = type(module).__name__ == "Conv1D"
            (mask_of(weight).T if conv else mask_of(weight))[rows] = True
            bias = getattr(module, "bias", None)
            if isinstance(bias, nn.Parameter):
                mask_of(bias)[rows] = True
    return masks


@contextmanager
def trainable(model: nn.Module, masks: dict[nn.Parameter, torch.Tensor] | None) -> Iterator[list[nn.Parameter]]:
    """Inside the block only the masked entries (all parameters when ``masks`` is None) receive
    gradients; the others have ``requires_grad=False`` or a zeroed gradient. Restored on exit."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    handles = []
    try:
        if masks is None:
            params = [p for p in model.parameters()]
            for p in params:
                p.requires_grad_(True)
        else:
            for p in model.parameters():
                p.requires_grad_(False)
            params = list(masks)
            for p in params:
                p.requires_grad_(True)
                handles.append(p.register_hook(lambda grad, m=masks[p]: grad * m.to(grad.dtype)))
        yield params
    finally:
        for handle in handles:
            handle.remove()
        for p, flag in flags:
            p.requires_grad_(flag)
