"""Cross-domain transfer analysis (does removing one bias's neurons move the others, and at what cost?)
and the comparison of debiasing methods on the same held-out data."""

from .comparison import compare_methods
from .comparison_result import Comparison
from .debias_methods import DEBIAS_METHODS, DEFAULT_DEBIAS_METHODS, Fitting, Method
from .effects import edit_effects
from .overlap import layer_profile, neuron_overlap, spearman
from .random_control import random_like
from .transfer import Domain, EditFactory, domains_from, transfer_matrix
from .transfer_result import TransferResult

__all__ = [
    "DEBIAS_METHODS",
    "DEFAULT_DEBIAS_METHODS",
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
