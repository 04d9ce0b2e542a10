"""Ranking the planted neurons: AUROC equals a hand count of (planted, other) pairs, and a shuffled score
fails where the true one passes (the check bites)."""

from __future__ import annotations

import itertools

import torch

from attributions import NeuronScores, NeuronSet
from neuronedit.groundtruth import GroundTruth, PlantedNeuron, auroc, ranking_metrics


def _truth() -> GroundTruth:
    neurons = [PlantedNeuron(0, 1, "bias", "gender", 1), PlantedNeuron(1, 2, "bias", "gender", -1),
               PlantedNeuron(1, 0, "frequency", "gender", 1)]
    return GroundTruth(neurons, "separate", ["gender"], 10.0, 0)


def test_auroc_is_the_share_of_pairs_a_planted_neuron_wins():
    torch.manual_seed(0)
    values = torch.randn(3, 5)
    values[2, 4] = values[0, 0]  # a tie counts one half
    planted = NeuronSet([(0, 0), (1, 3)])
    others = [(i, j) for i, j in itertools.product(range(3), range(5)) if (i, j) not in set(planted)]
    wins = sum(float(values[p] > values[o]) + 0.5 * float(values[p] == values[o]) for p in planted for o in others)
    assert abs(auroc(values, planted) - wins / (2 * len(others))) < 1e-12


def test_a_true_ranking_passes_and_a_shuffled_one_fails():
    truth = _truth()
    scores = torch.zeros(2, 4)
    scores[0, 1], scores[1, 2], scores[1, 0] = 5.0, 4.0, -3.0
    metrics = ranking_metrics(NeuronScores(scores), truth, "gender", k=2)
    assert metrics["auroc"] == 1.0 and metrics["recall_at_k"] == 1.0 and metrics["precision_at_k"] == 1.0
    assert metrics["ranks"] == {"0:1": 1.0, "1:2": 2.0} and metrics["decoy_ranks"] == {"frequency 1:0": 8.0}
    shuffled = scores.flatten()[torch.tensor([3, 0, 6, 7, 2, 5, 1, 4])].reshape(2, 4)
    broken = ranking_metrics(NeuronScores(shuffled), truth, "gender", k=2)
    assert broken["auroc"] < 0.95 and broken["recall_at_k"] < 0.8


def test_nan_scores_rank_last():
    scores = torch.tensor([[float("nan"), 1.0], [0.5, 2.0]])
    metrics = ranking_metrics(NeuronScores(scores), _truth().__class__(
        [PlantedNeuron(0, 0, "bias", "gender", 1)], "separate", ["gender"], 10.0, 0), "gender", k=1)
    assert metrics["ranks"] == {"0:0": 4.0} and metrics["auroc"] == 0.0
