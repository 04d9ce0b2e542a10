"""Locating by optimising the edit itself: a hard-concrete gate per MLP neuron, trained so the gated
model's bias objective reaches neutral while its text and knowledge are kept, toward a budget of
closed gates.

- :mod:`.gates`: the gates, their sampling and the hook that applies them.
- :mod:`.options`: :class:`MaskOptions`, the weights and budget.
- :mod:`.training`: :func:`learn_mask`, returning :class:`~attributions.NeuronScores` (closing logits).
- :mod:`.state`: the saved training state that makes a killed run resumable.
"""

from __future__ import annotations

import torch

from ..scores import NeuronScores
from .gates import deterministic_gates
from .options import MaskOptions
from .training import HISTORY, learn_mask

__all__ = ["HISTORY", "MaskOptions", "learn_mask", "learned_factors"]


def learned_factors(scores: NeuronScores) -> torch.Tensor:
    """The gate values ``[L, N]`` in [0, 1] a learned mask applies, from its scores (``-log_alpha``)."""
    if scores.meta.get("method") != "learned_mask":
        raise ValueError(f"learned factors come from learned_mask scores, not {scores.meta.get('method')!r} scores")
    return deterministic_gates(-scores.scores.float())
