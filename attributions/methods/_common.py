"""Helpers shared by the methods: frozen parameters, leaf activations, per-example sums."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

import torch
from torch import nn

from ..forward import Batch
from ..hooks import edit_activations
from ..sites import NeuronSite


@contextmanager
def frozen(model: nn.Module) -> Iterator[None]:
    """No parameter gradients inside the block (gradients flow to activations only); restored after."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        with torch.enable_grad():
            yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


@contextmanager
def leaf_activations(sites: Sequence[NeuronSite], scale: torch.Tensor | None = None) -> Iterator[dict[int, torch.Tensor]]:
    """Replace each site's activation by a leaf tensor that requires grad (optionally times ``scale [rows]``).

    Gradients with respect to these leaves are the gradients with respect to the activations;
    the graph upstream of each site is cut, which no method needs.
    """
    leaves: dict[int, torch.Tensor] = {}

    def make_leaf(site: NeuronSite, act: torch.Tensor) -> torch.Tensor:
        value = act.detach()
        if scale is not None:
            value = value * scale.to(value.dtype).view(-1, *([1] * (value.dim() - 1)))
        leaf = value.requires_grad_(True)
        leaves[site.layer] = leaf
        return leaf

    with edit_activations(sites, make_leaf):
        yield leaves


def per_example(batch: Batch, per_row: torch.Tensor) -> torch.Tensor:
    """Sum ``[rows, ...]`` into ``[examples, ...]`` by the batch's example index."""
    out = torch.zeros((batch.n_examples, *per_row.shape[1:]), dtype=per_row.dtype, device=per_row.device)
    return out.index_add_(0, batch.example.to(per_row.device), per_row)
