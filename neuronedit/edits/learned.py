"""A learned mask's edit: every neuron whose trained gate is below 1, scaled by its gate value."""

from __future__ import annotations

from attributions import NeuronScores, NeuronSet
from attributions.masking import learned_factors

__all__ = ["learned_scale"]


def learned_scale(scores: NeuronScores) -> tuple[NeuronSet, tuple[float, ...]]:
    """The neurons a ``learned_mask`` run edits (gate value below 1, most closed first) and their factors.

    Use them as ``masked(lm, neurons, "scale", factors=factors)`` (reversible) or
    ``scale_(lm, neurons, factors)`` (in the weights); zeroing the top ``k`` of ``scores`` is the
    simpler variant that selection, transfer and compare use.

    Raises:
        ValueError: ``scores`` are not from ``learned_mask``.
    """
    gates = learned_factors(scores)  # [L, N]
    edited = (gates < 1).nonzero().tolist()
    edited.sort(key=lambda n: (float(gates[n[0], n[1]]), n[0], n[1]))
    return NeuronSet((layer, neuron) for layer, neuron in edited), tuple(float(gates[l_, n]) for l_, n in edited)
