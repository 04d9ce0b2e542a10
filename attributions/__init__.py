"""Locate the MLP neurons that drive an objective (lower layer; never imports neuronedit).

The names below load on first use, so importing a light submodule (``attributions.registry``,
``attributions.files``) does not import torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine import attribute, mean_activations
    from .errors import InputError, NeuronEditError
    from .hooks import capture_activations, edit_activations, pre_hooks
    from .methods import ATTRIBUTION_METHODS, register_method
    from .model import LanguageModel, weights_fingerprint
    from .neuron_set import NeuronSet
    from .objectives import ForgetLoss, LanguageModeling, Objective, PairPreference, TokenContrast
    from .scores import NeuronScores
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

_HOMES = {
    **dict.fromkeys(["attribute", "mean_activations"], ".engine"),
    **dict.fromkeys(["InputError", "NeuronEditError"], ".errors"),
    **dict.fromkeys(["capture_activations", "edit_activations", "pre_hooks"], ".hooks"),
    **dict.fromkeys(["ATTRIBUTION_METHODS", "register_method"], ".methods"),
    **dict.fromkeys(["LanguageModel", "weights_fingerprint"], ".model"),
    "NeuronScores": ".scores",
    "NeuronSet": ".neuron_set",
    **dict.fromkeys(["ForgetLoss", "LanguageModeling", "Objective", "PairPreference", "TokenContrast"], ".objectives"),
    **dict.fromkeys(["TL_BRIDGE_HOOK", "ArchitectureSpec", "NeuronSite", "ReadIn", "UnsupportedArchitectureError",
                     "find_sites", "register_architecture", "supported_architectures"], ".sites"),
}
"""Where each public name lives."""

__all__ = [
    "ATTRIBUTION_METHODS", "TL_BRIDGE_HOOK", "ArchitectureSpec", "ForgetLoss", "InputError", "LanguageModel",
    "LanguageModeling", "NeuronEditError", "NeuronScores", "NeuronSet", "NeuronSite", "Objective", "PairPreference",
    "ReadIn", "TokenContrast", "UnsupportedArchitectureError",
    "attribute", "capture_activations", "edit_activations", "find_sites", "mean_activations", "pre_hooks",
    "register_architecture", "register_method", "supported_architectures", "weights_fingerprint",
]
assert set(__all__) == set(_HOMES), "__all__ and _HOMES must list the same names"


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'attributions' has no attribute {name!r}")
    value = getattr(import_module(_HOMES[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
