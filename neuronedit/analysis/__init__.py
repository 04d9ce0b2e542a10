"""Cross-domain transfer analysis (does removing one bias's neurons move the others, and at what cost?)
and the comparison of debiasing methods on the same held-out data."""

from .compare import compare_methods
from .comparison import Comparison
from .controls import random_like
from .effects import edit_effects
from .methods import METHODS as COMPARISON_METHODS
from .methods import Fitting, Method
from .overlap import layer_profile, neuron_overlap, spearman
from .result import TransferResult
from .transfer import Domain, EditFactory, domains_from, transfer_matrix

__all__ = [
    "COMPARISON_METHODS",
    "Comparison",
    "Domain",
    "EditFactory",
    "Fitting",
    "Method",
    "TransferResult",
    "compare_methods",
    "domains_from",
    "edit_effects",
    "layer_profile",
    "neuron_overlap",
    "random_like",
    "spearman",
    "transfer_matrix",
]
