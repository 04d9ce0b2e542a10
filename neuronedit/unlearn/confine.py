"""Which parameters an unlearning update may change: all of them, or only the rows and columns
that read and write given neurons (gradient masking; no copy of the model)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import cast

import torch
from torch import nn

from attributions import NeuronSet, NeuronSite
from attributions.hooks import grad_hooks

__all__ = ["neuron_masks", "trainable"]


def neuron_masks(sites: Sequence[NeuronSite], neurons: NeuronSet) -> dict[nn.Parameter, torch.Tensor]:
    """Per parameter, a 0/1 mask of the entries belonging to ``neurons``: their write-out columns
    of the down-projection, their read-in rows (all fused chunks) and read-in bias entries."""
    masks: dict[nn.Parameter, torch.Tensor] = {}

    def mask_of(param: torch.Tensor) -> torch.Tensor:  # the views hand over the parameters themselves
        return masks.setdefault(cast(nn.Parameter, param), torch.zeros_like(param, dtype=torch.bool))

    for layer, idx in neurons.by_layer().items():
        site = sites[layer]
        site.write_rows(mask_of)[idx] = True  # [n, d_model] view of the down-projection's mask
        for rows, bias in site.read_rows(mask_of):  # per read-in projection and fused chunk
            rows[idx] = True
            if bias is not None:
                bias[idx] = True
    return masks


@contextmanager
def trainable(model: nn.Module, masks: dict[nn.Parameter, torch.Tensor] | None) -> Iterator[list[nn.Parameter]]:
    """Inside the block only the masked entries (all parameters when ``masks`` is None) receive
    gradients; the others have ``requires_grad=False`` or a zeroed gradient. Restored on exit."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        if masks is None:
            params = list(model.parameters())
            for p in params:
                p.requires_grad_(True)
        else:
            for p in model.parameters():
                p.requires_grad_(False)
            params = list(masks)
            for p in params:
                p.requires_grad_(True)
        masking = [(p, lambda grad, m=mask: grad * m.to(grad.dtype)) for p, mask in (masks or {}).items()]
        with grad_hooks(masking):
            yield params
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
