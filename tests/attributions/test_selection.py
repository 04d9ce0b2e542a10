"""Selection rules (attributions.selection) by hand."""

from __future__ import annotations

import pytest
import torch

from attributions import NeuronScores
from attributions.selection import select


def _scores(values, control=None) -> NeuronScores:
    s = NeuronScores(scores=torch.tensor(values, dtype=torch.float32))
    if control is not None:
        s.control = NeuronScores(scores=torch.tensor(control, dtype=torch.float32))
    return s


def test_selection_rules_by_hand():
    scores = _scores([[5.0, 4.0, 3.0, 2.0], [1.0, 0.5, -1.0, -2.0]],
                     control=[[9.0, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1, 0.1]])
    assert list(select(scores, 2, "top")) == [(0, 0), (0, 1)]
    # (0, 0) is the control's most important neuron: excluded at the 90% quantile
    assert list(select(scores, 2, "exclude_control")) == [(0, 1), (0, 2)]
    ratio = select(scores, 1, "ratio")  # 5 / (9 + 1.2) < 4 / (0.1 + 1.2)
    assert list(ratio) == [(0, 1)]
    assert (0, 0) not in select(scores, 2, "difference")
    assert len(select(scores, 10, "top")) == 8
    for bad in (float("nan"), float("inf")):  # an Inf neuron would be chosen first, a NaN never: refused
        with pytest.raises(ValueError, match="NaN or infinite"):
            select(_scores([[1.0, bad]]), 1, "top")
        with pytest.raises(ValueError, match="control scores are NaN or infinite"):
            select(_scores([[1.0, 2.0]], control=[[0.0, bad]]), 1, "ratio")
    for k in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="k must be an integer"):
            select(scores, k, "top")
    with pytest.raises(ValueError, match="needs control scores"):
        select(_scores([[1.0]]), 1, "ratio")
    with pytest.raises(ValueError, match="unknown selection rule"):
        select(scores, 1, "best")
