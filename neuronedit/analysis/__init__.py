"""Cross-domain transfer analysis: does removing one bias's neurons move the others, and at what cost?"""

from .controls import random_like
from .effects import edit_effects
from .overlap import layer_profile, neuron_overlap, spearman
from .result import TransferResult
from .transfer import Domain, EditFactory, domains_from, transfer_matrix

__all__ = [
    "Domain",
    "EditFactory",
    "TransferResult",
    "domains_from",
    "edit_effects",
    "layer_profile",
    "neuron_overlap",
    "random_like",
    "spearman",
    "transfer_matrix",
]
