"""Attribution methods, one registry looked up by name.

A method scores the neurons of the given layers for one batch and returns per-example
attributions ``[examples, len(layers), n_neurons]`` (NaN where it did not score a neuron).
Positive means the neuron pushes the objective up: removing it would lower the objective.
"""

from __future__ import annotations

from typing import Callable

from .ablation import ablation
from .activation import activation
from .gradient import grad_x_act
from .integrated import ig2, integrated_gradients

__all__ = ["METHODS", "get_method", "register_method"]

METHODS: dict[str, Callable[..., object]] = {
    "activation": activation,
    "grad_x_act": grad_x_act,
    "integrated_gradients": integrated_gradients,
    "ig2": ig2,
    "ablation": ablation,
}


def register_method(name: str, fn: Callable[..., object]) -> None:
    """Add a method: ``fn(model, sites, batch, layers, **options) -> Tensor [examples, layers, neurons]``."""
    METHODS[name] = fn


def get_method(name: str) -> Callable[..., object]:
    if name not in METHODS:
        raise ValueError(f"unknown attribution method {name!r}; choose one of {', '.join(sorted(METHODS))}")
    return METHODS[name]
