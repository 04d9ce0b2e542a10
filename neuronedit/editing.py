"""Reversible neuron edits through hooks: ``masked(model, neurons, mode=...)``."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

from attributions import LanguageModel, NeuronSet, find_sites
from attributions.hooks import edit_activations

__all__ = ["masked"]


@contextmanager
def masked(
    model: LanguageModel | torch.nn.Module,
    neurons: NeuronSet,
    mode: str = "zero",
    *,
    factor: float = 0.0,
    means: dict[int, torch.Tensor] | None = None,
) -> Iterator[None]:
    """Edit neurons for the duration of the block; the model is exactly as before afterwards
    (also after an exception). Nestable: inner edits apply on top of outer ones.

    Args:
        model: a :class:`LanguageModel` or Hugging Face model.
        neurons: the neurons to edit.
        mode: ``zero`` (set to 0), ``scale`` (multiply by ``factor``) or ``mean`` (set to
            ``means[layer][neuron]``, the neuron's mean activation).
    """
    module = model.model if isinstance(model, LanguageModel) else model
    sites = model.sites if isinstance(model, LanguageModel) else find_sites(module)
    if mode not in ("zero", "scale", "mean"):
        raise ValueError(f"mode must be 'zero', 'scale' or 'mean', not {mode!r}")
    if mode == "mean" and means is None:
        raise ValueError("mode='mean' needs means={layer: tensor of mean activations}")
    by_layer = neurons.by_layer()
    if by_layer and max(by_layer) >= len(sites):
        raise ValueError(f"neuron set names layer {max(by_layer)}, the model has {len(sites)} layers")
    for layer, idx in by_layer.items():
        if int(idx.max()) >= sites[layer].n_neurons:
            raise ValueError(f"neuron {int(idx.max())} is out of range for layer {layer} "
                             f"({sites[layer].n_neurons} neurons)")

    def edit(site, act: torch.Tensor) -> torch.Tensor:  # type: ignore[no-untyped-def]
        idx = by_layer[site.layer].to(act.device)
        act = act.clone()
        if mode == "zero":
            act[..., idx] = 0
        elif mode == "scale":
            act[..., idx] = act[..., idx] * factor
        else:
            act[..., idx] = means[site.layer].to(act.device, act.dtype)[idx]  # type: ignore[index]
        return act

    with edit_activations([sites[layer] for layer in by_layer], edit):
        yield
