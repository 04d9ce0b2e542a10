"""Ground truth: plant a known bias mechanism in chosen neurons of a real model, then check that the
toolkit's own pipeline finds it, removes it and sees its transfer.

- :mod:`.directions`: what a planted neuron pair reads and writes, measured from the model's activations;
- :mod:`.writing`: writing a planted neuron into each MLP layout;
- :mod:`.planting`: choosing neurons, calibrating the gain, the variants and decoys;
- :mod:`.truth`: the ground-truth record (``planted.json``);
- :mod:`.ranking`: how well a score ranks the planted neurons (AUROC, precision and recall at k, ranks);
- :mod:`.recovery`: the recovery checks on a planted model (find, remove, transfer), with
  :mod:`.recovery_result` holding their tables and files.
"""

from .planting import dev_pairs, plant
from .ranking import auroc, ranking_metrics
from .recovery import recover, removal_shares
from .recovery_result import TARGETS, Recovery
from .truth import PLANTED_NAME, ROLES, VARIANTS, GroundTruth, PlantedNeuron

__all__ = ["PLANTED_NAME", "ROLES", "TARGETS", "VARIANTS", "GroundTruth", "PlantedNeuron", "Recovery", "auroc",
           "dev_pairs", "plant", "ranking_metrics", "recover", "removal_shares"]
