"""How a projection stores its weight: ``nn.Linear`` as ``[out, in]``, GPT-2's ``Conv1D`` as ``[in, out]``.

The one place that knows about the transposed ``Conv1D``; :class:`~attributions.sites.NeuronSite`
builds its neuron views (``write_rows``, ``read_rows``) on :func:`linear_view`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["is_conv1d", "linear_view"]


def is_conv1d(module: nn.Module) -> bool:
    """Whether ``module`` stores its weight ``[in, out]`` (GPT-2's ``Conv1D``), not ``[out, in]`` (``nn.Linear``)."""
    return type(module).__name__ == "Conv1D"


def linear_view(module: nn.Module, of: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """``module.weight`` laid out as ``nn.Linear`` does, ``[out_features, in_features]``, whatever the
    module's orientation: a view, so writes through it reach the storage. ``of`` maps the weight to a
    tensor of its shape (e.g. a gradient mask) to view the same way instead."""
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
        raise TypeError(f"{type(module).__name__} has no 2-d weight; cannot be a neuron site")
    tensor = of(weight) if of is not None else weight
    if tensor.shape != weight.shape:
        raise ValueError(f"{tuple(tensor.shape)} viewed as the weight {tuple(weight.shape)}: the shapes differ")
    return tensor.T if is_conv1d(module) else tensor
