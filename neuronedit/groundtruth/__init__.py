"""Ground truth: plant a known bias mechanism in chosen neurons of a real model, then check that the
toolkit's own pipeline finds it, removes it and sees its transfer.

- :mod:`.directions`: what a planted neuron pair reads and writes, measured from the model's activations;
- :mod:`.writing`: writing a planted neuron into each MLP layout;
- :mod:`.planting`: choosing neurons, calibrating the gain, the variants and decoys;
- :mod:`.truth`: the ground-truth record (``planted.json``).
"""

from .planting import dev_pairs, plant
from .truth import PLANTED_NAME, ROLES, VARIANTS, GroundTruth, PlantedNeuron

__all__ = ["PLANTED_NAME", "ROLES", "VARIANTS", "GroundTruth", "PlantedNeuron", "dev_pairs", "plant"]
