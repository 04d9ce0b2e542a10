"""Do two bias domains share neurons? Jaccard of selected sets, rank correlation of full scores."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations

import numpy as np
import pandas as pd

from attributions import NeuronScores, NeuronSet

__all__ = ["layer_profile", "neuron_overlap", "spearman"]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two equally shaped arrays (NaN entries in either are left out)."""
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 3:
        return float("nan")
    ra = pd.Series(a[keep]).rank().to_numpy()
    rb = pd.Series(b[keep]).rank().to_numpy()
    return float(np.corrcoef(ra, rb)[0, 1])


def neuron_overlap(selected: Mapping[str, NeuronSet], scores: Mapping[str, NeuronScores]) -> pd.DataFrame:
    """One row per pair of domains (both orders, and each with itself): ``jaccard`` of the selected
    sets, ``shared`` neurons, and ``spearman`` correlation of the full score tensors."""
    rows = []
    names = list(selected)
    for a in names:
        rows.append({"a": a, "b": a, "jaccard": 1.0, "shared": len(selected[a]), "spearman": 1.0})
    for a, b in combinations(names, 2):
        rho = spearman(scores[a].scores.numpy(), scores[b].scores.numpy())
        row = {"jaccard": selected[a].jaccard(selected[b]), "shared": len(selected[a] & selected[b]), "spearman": rho}
        rows += [{"a": a, "b": b, **row}, {"a": b, "b": a, **row}]
    return pd.DataFrame(rows, columns=["a", "b", "jaccard", "shared", "spearman"])


def layer_profile(selected: Mapping[str, NeuronSet], n_layers: int) -> pd.DataFrame:
    """Selected neurons per layer: columns ``source``, ``layer``, ``count``."""
    rows = []
    for source, neurons in selected.items():
        counts = np.bincount([layer for layer, _ in neurons], minlength=n_layers)
        rows += [{"source": source, "layer": layer, "count": int(c)} for layer, c in enumerate(counts)]
    return pd.DataFrame(rows, columns=["source", "layer", "count"])
