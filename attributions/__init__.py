"""Locate the MLP neurons that drive an objective (lower layer; never imports neuronedit)."""

from .hooks import capture_activations, edit_activations, hooks
from .model import LanguageModel
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
    "TL_BRIDGE_HOOK",
    "ArchitectureSpec",
    "LanguageModel",
    "NeuronSite",
    "ReadIn",
    "UnsupportedArchitectureError",
    "capture_activations",
    "edit_activations",
    "find_sites",
    "hooks",
    "register_architecture",
    "supported_architectures",
]
