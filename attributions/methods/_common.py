"""Helpers shared by the methods: leaf activations and activations kept in the graph."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, cast

import torch
from torch import nn

if TYPE_CHECKING:
    from transformers import PreTrainedModel

from ..hooks import capture_activations, edit_activations, forward_hooks
from ..sites import NeuronSite


@contextmanager
def leaf_activations(sites: Sequence[NeuronSite],
                     scale: torch.Tensor | None = None) -> Iterator[dict[int, torch.Tensor]]:
    """Replace each site's activation by a leaf tensor that requires grad (optionally times ``scale [rows]``).

    The graph upstream of each site is cut, so use it for one site at a time (a leaf at layer
    l would also cut layer k < l off from the paths through l); see :func:`graph_activations`.
    """
    leaves: dict[int, torch.Tensor] = {}

    def make_leaf(site: NeuronSite, act: torch.Tensor) -> torch.Tensor:
        value = act.detach()
        if scale is not None:
            value = value * scale.to(value.device, value.dtype).view(-1, *([1] * (value.dim() - 1)))
        leaf = value.requires_grad_(True)
        leaves[site.layer] = leaf
        return leaf

    with edit_activations(sites, make_leaf):
        yield leaves


@contextmanager
def graph_activations(model: nn.Module, sites: Sequence[NeuronSite]) -> Iterator[dict[int, torch.Tensor]]:
    """Capture each site's activation as a node of the autograd graph (not detached).

    The input embeddings' output is made a leaf that requires grad, so that with frozen
    parameters every later activation still carries a graph, and a gradient with respect to an
    activation is the total derivative through all later layers.
    """
    embeddings = cast("PreTrainedModel", model).get_input_embeddings()
    leaf = forward_hooks([(embeddings, lambda _m, _i, out: out.detach().requires_grad_(True))])
    with leaf, capture_activations(sites, detach=False) as acts:
        yield acts
