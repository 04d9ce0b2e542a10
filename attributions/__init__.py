"""Locate the MLP neurons that drive an objective (lower layer; never imports neuronedit)."""

from .attribute import attribute, mean_activations
from .hooks import capture_activations, edit_activations, pre_hooks
from .methods import METHODS, register_method
from .model import LanguageModel, weights_fingerprint
from .neurons import NeuronScores, NeuronSet
from .objectives import ForgetLoss, LanguageModeling, Objective, PairPreference, TokenContrast
from .sites import (
    TL_BRIDGE_HOOK,
    ArchitectureSpec,
    NeuronSite,
    ReadIn,
    UnsupportedArchitectureError,
    find_sites,
    register_architecture,
    supported_architectures,
)

__all__ = [
    "METHODS",
    "TL_BRIDGE_HOOK",
    "ArchitectureSpec",
    "ForgetLoss",
    "LanguageModel",
    "LanguageModeling",
    "NeuronScores",
    "NeuronSet",
    "Objective",
    "PairPreference",
    "TokenContrast",
    "NeuronSite",
    "ReadIn",
    "UnsupportedArchitectureError",
    "attribute",
    "mean_activations",
    "weights_fingerprint",
    "capture_activations",
    "edit_activations",
    "find_sites",
    "pre_hooks",
    "register_architecture",
    "register_method",
    "supported_architectures",
]
