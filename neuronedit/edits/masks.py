"""Reversible neuron edits through hooks: ``masked(model, neurons, mode=...)``.

A hook edit changes activations, not weights: the model keeps its dense shape, size and speed,
and is exactly as before when the block exits. ``masked`` yields the matching
:class:`~neuronedit.edits.record.Edit`, so the edited model can be saved as a checkpoint with
:func:`~neuronedit.edits.checkpoint.save_edited` without leaving the block.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch

from attributions import LanguageModel, NeuronSet, NeuronSite
from attributions.errors import InputError
from attributions.hooks import edit_activations

from .handle import as_language_model
from .record import Edit

__all__ = ["check_neurons", "masked"]


def check_neurons(sites: Sequence[NeuronSite], neurons: NeuronSet, where: str = "neuron set") -> None:
    """Raise ValueError naming ``where`` and the first neuron that does not exist in a model with ``sites``
    (:meth:`NeuronSet.check_fits`)."""
    neurons.check_fits([site.n_neurons for site in sites], where)


@contextmanager
def masked(
    model: LanguageModel,
    neurons: NeuronSet,
    mode: str = "zero",
    *,
    factor: float = 0.0,
    factors: Sequence[float] | None = None,
    means: dict[int, torch.Tensor] | None = None,
) -> Iterator[Edit]:
    """Edit neurons for the duration of the block; the model is exactly as before afterwards
    (also after an exception). Nestable: inner edits apply on top of outer ones.

    Args:
        model: the :class:`LanguageModel` to edit.
        neurons: the neurons to edit.
        mode: ``zero`` (set to 0), ``scale`` (multiply by ``factor``, or neuron ``i`` of ``neurons`` by
            ``factors[i]``, e.g. :func:`~neuronedit.edits.learned.learned_scale`'s) or ``mean`` (set to
            ``means[layer][neuron]``, the neuron's mean activation; ``means[layer]`` is
            ``[n_neurons]``, see :func:`attributions.mean_activations`).

    Yields:
        the :class:`Edit` that does the same to the weights (pass it to ``save_edited``).
    """
    lm = as_language_model(model)
    sites = lm.sites
    if mode not in ("zero", "scale", "mean"):
        raise InputError(f"mode must be 'zero', 'scale' or 'mean', not {mode!r}")
    if mode == "mean" and means is None:
        raise InputError("mode='mean' needs means={layer: tensor of mean activations}")
    check_neurons(sites, neurons)
    by_layer = neurons.by_layer()
    if mode == "mean":
        missing = [layer for layer in by_layer if layer not in means]  # type: ignore[operator]
        if missing:
            raise InputError(f"means has no entry for layer(s) {missing}")
    if factors is not None and mode != "scale":
        raise InputError(f"factors= applies to mode='scale' only, not {mode!r}")
    values = tuple(float(means[layer][n]) for layer, n in neurons) if mode == "mean" else None  # type: ignore[index]
    if factors is not None:
        values = tuple(float(f) for f in factors)
    per_neuron = dict(zip(neurons, values)) if factors is not None and values is not None else {}
    record = Edit(neurons, mode, factor=float(factor) if mode == "scale" and factors is None else None,
                  values=values, base_model=lm.name)
    scales = {layer: torch.tensor([per_neuron[(layer, int(j))] for j in idx.tolist()])
              for layer, idx in by_layer.items()} if per_neuron else {}

    def edit(site: NeuronSite, act: torch.Tensor) -> torch.Tensor:  # act [..., n_neurons]
        idx = by_layer[site.layer].to(act.device)
        act = act.clone()
        if mode == "zero":
            act[..., idx] = 0
        elif mode == "scale":
            scale = scales[site.layer].to(act.device, act.dtype) if scales else factor
            act[..., idx] = act[..., idx] * scale
        else:
            act[..., idx] = means[site.layer].to(act.device, act.dtype)[idx]  # type: ignore[index]
        return act

    with edit_activations([sites[layer] for layer in by_layer], edit):
        yield record
