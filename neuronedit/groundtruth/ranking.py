"""How well a score ranks the planted neurons: AUROC among all MLP neurons, precision and recall at k,
and the rank of every planted neuron and decoy.

Ranks are 1-based in descending signed score (a planted bias neuron pushes the biased preference up:
both neurons of a planted pair have positive attribution); NaN scores rank last, ties share their
average rank.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from attributions import NeuronScores, NeuronSet

from .truth import GroundTruth

__all__ = ["auroc", "ranking_metrics", "ranks"]


def ranks(values: torch.Tensor) -> np.ndarray:
    """Descending ranks ``[L, N]`` of ``values`` ``[L, N]`` (1 = highest; ties averaged; NaN last)."""
    flat = np.nan_to_num(values.detach().double().flatten().numpy(), nan=-np.inf)
    order = pd.Series(-flat).rank(method="average").to_numpy()
    return order.reshape(tuple(values.shape))


def auroc(values: torch.Tensor, positives: NeuronSet) -> float:
    """Probability that a planted neuron (``positives``) outranks a neuron that is not planted, ties
    counting one half (the Mann-Whitney statistic); NaN without positives or negatives."""
    rank = ranks(values)
    total = rank.size
    hits = np.array([rank[layer, neuron] for layer, neuron in positives], dtype=float)
    n_pos, n_neg = hits.size, total - hits.size
    if not n_pos or not n_neg:
        return float("nan")
    ascending = total + 1 - hits  # rank from the bottom, ties still averaged
    return float((ascending.sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def ranking_metrics(scores: NeuronScores, truth: GroundTruth, domain: str, k: int,
                    selected: NeuronSet | None = None) -> dict[str, Any]:
    """AUROC, precision@k and recall@k of ``scores`` for the bias neurons planted for ``domain``, the rank of
    each planted neuron and decoy (``"layer:neuron" -> rank``); with ``selected`` (the neurons a selection
    rule chose), also its precision and recall and which decoys it kept."""
    planted = truth.of("bias", domain)
    rank = ranks(scores.scores)
    found = sum(rank[layer, neuron] <= k for layer, neuron in planted)
    row: dict[str, Any] = {
        "auroc": auroc(scores.scores, planted), "k": k, "planted": len(planted),
        "precision_at_k": float(found) / k, "recall_at_k": found / len(planted) if len(planted) else float("nan"),
        "ranks": {f"{layer}:{neuron}": float(rank[layer, neuron]) for layer, neuron in planted},
        "decoy_ranks": {f"{n.role} {n.layer}:{n.neuron}": float(rank[n.layer, n.neuron])
                        for n in truth.neurons if n.role != "bias" and domain in n.domain.split("+")},
    }
    if selected is not None:
        kept = set(selected) & set(planted)
        row.update(selected_precision=len(kept) / max(len(selected), 1),
                   selected_recall=len(kept) / len(planted) if len(planted) else float("nan"),
                   decoys_selected=sorted(f"{n.role} {n.layer}:{n.neuron}" for n in truth.neurons
                                          if n.role != "bias" and (n.layer, n.neuron) in set(selected)))
    return row
