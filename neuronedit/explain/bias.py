"""A neuron's bias view: does it fire more on the stereotypical side of the pairs it was located on?"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from attributions import LanguageModel, NeuronScores, NeuronSet
from attributions.errors import InputError
from attributions.forward import max_positions, pad_rows
from attributions.objectives import pair_texts

from ..measure.bootstrap import Interval, bootstrap
from .contexts import activations_of

__all__ = ["BiasView", "bias_views", "side_activations", "wilson"]


@dataclass(frozen=True)
class BiasView:
    """Mean activation on the stereotypical (``more``) and the other (``less``) side, their paired
    difference with a bootstrap interval, and the attribution's sign consistency with a Wilson interval."""

    more: float
    less: float
    difference: Interval
    consistency: Interval | None


def wilson(share: float, n: int, z: float = 1.96) -> Interval:
    """Wilson score interval of a proportion ``share`` of ``n`` trials."""
    if n <= 0:
        return Interval(share, math.nan, math.nan, 0)
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Interval(share, centre - half, centre + half, n)


@torch.no_grad()
def side_activations(lm: LanguageModel, neurons: NeuronSet, requests: Sequence[tuple[str, str]], *,
                     batch_size: int = 16) -> np.ndarray:
    """Each neuron's mean activation over the tokens of each ``(prefix, text)`` request's text,
    ``[len(requests), len(neurons)]``. Encoded as the scorers encode it (start token, prefix, then
    the text with a leading space); the prefix is context, not averaged."""
    from ..measure.scoring import encode_request

    by_layer = neurons.by_layer()
    order = {neuron: k for k, neuron in enumerate(neurons)}
    limit = max_positions(lm.model)
    out = np.zeros((len(requests), len(neurons)))
    for first in range(0, len(requests), batch_size):
        encoded = [encode_request(lm.tokenizer, prefix, text) for prefix, text in requests[first : first + batch_size]]
        width = max(len(ids) for ids, _ in encoded)
        if limit is not None and width > limit:
            raise InputError(f"a pair of {width} tokens exceeds the model's context of {limit}")
        ids, mask = pad_rows([tokens for tokens, _ in encoded], lm.pad_id)  # [batch, width]
        keep = torch.zeros((len(encoded), width, 1), dtype=torch.float64)
        for row, (tokens, begin) in enumerate(encoded):
            keep[row, begin : len(tokens)] = 1  # the text's tokens only
        acts = activations_of(lm, list(by_layer), ids, mask)
        for layer, idx in by_layer.items():
            act = acts[layer][:, :, idx.to(acts[layer].device)].double().cpu()
            means = (act * keep).sum(1) / keep.sum(1).clamp(min=1)  # [batch, k_layer]
            cols = [order[(layer, int(n))] for n in idx]
            out[first : first + len(encoded), cols] = means.numpy()
    return out


def bias_views(lm: LanguageModel, neurons: NeuronSet, pairs: Sequence[Any], scores: NeuronScores | None = None, *,
               n_boot: int = 1000, seed: int = 0) -> list[BiasView]:
    """The :class:`BiasView` of each neuron on ``pairs`` (minimal pairs, e.g. the located data)."""
    if not pairs:
        raise InputError("the bias view needs at least one pair")
    parts = [pair_texts(p) for p in pairs]
    more = side_activations(lm, neurons, [(pre, m) for m, _, pre in parts])
    less = side_activations(lm, neurons, [(pre, other) for _, other, pre in parts])
    views = []
    for k, (layer, n) in enumerate(neurons):
        diff = more[:, k] - less[:, k]
        interval = bootstrap(lambda d, idx: float(d[idx].mean()), diff, len(diff), n_boot=n_boot, seed=seed)
        consistency = None
        if scores is not None and scores.consistency is not None:
            consistency = wilson(float(scores.consistency[layer, n]), int(scores.meta.get("n_examples", 0) or 0))
        views.append(BiasView(float(more[:, k].mean()), float(less[:, k].mean()), interval, consistency))
    return views
