"""Random control edits: as many neurons per layer as a selected set, chosen at random."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import torch

from attributions import NeuronSet
from attributions.errors import InputError

__all__ = ["random_like"]


def random_like(neurons: NeuronSet, widths: Sequence[int], *, seed: int = 0,
                exclude: NeuronSet | None = None) -> NeuronSet:
    """A random neuron set with the same number of neurons in every layer as ``neurons``.

    Args:
        neurons: the selected set whose layer distribution is copied.
        widths: neurons per layer of the model.
        seed: makes the draw reproducible.
        exclude: neurons never drawn (default: ``neurons`` itself).
    """
    exclude = neurons if exclude is None else exclude
    generator = torch.Generator().manual_seed(seed)
    chosen: list[tuple[int, int]] = []
    for layer, count in sorted(Counter(layer for layer, _ in neurons).items()):
        banned = {n for other, n in exclude if other == layer}
        candidates = [j for j in torch.randperm(widths[layer], generator=generator).tolist() if j not in banned]
        if len(candidates) < count:
            raise InputError(f"the layer-matched random control needs {count} neurons of layer {layer} outside the "
                             f"excluded set (the edit), but the layer has only {len(candidates)} such neurons: the "
                             "selection put over half of a layer in the edit; select fewer neurons (--top-k)")
        chosen += [(layer, j) for j in candidates[:count]]
    return NeuronSet(chosen)
