"""Attribution methods, one registry looked up by name.

A method scores the neurons of the given layers for one batch and returns per-example
attributions ``[examples, len(layers), n_neurons]`` (NaN where it did not score a neuron).
Positive means the neuron pushes the objective up: removing it would lower the objective.

A method marked ``trains`` (``learned_mask``) is called once for the whole objective instead and
returns :class:`~attributions.NeuronScores` itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from ..registry import Registry
from .ablation import ablation
from .activation import activation
from .gradient import grad_x_act
from .integrated import ig2, integrated_gradients
from .learned_mask import learned_mask

__all__ = ["ATTRIBUTION_METHODS", "bind_options", "get_method", "register_method", "trains"]

ATTRIBUTION_METHODS: Registry[Callable[..., Any]] = Registry("attribution method", {
    "activation": activation,
    "grad_x_act": grad_x_act,
    "integrated_gradients": integrated_gradients,
    "ig2": ig2,
    "ablation": ablation,
    "learned_mask": learned_mask,
})


def register_method(name: str, fn: Callable[..., Any]) -> None:
    """Add a method: ``fn(model, sites, batch, layers, *, <options>) -> Tensor [examples, layers, neurons]``.

    ``fn`` receives the options it names among ``steps``, ``internal_batch_size``, ``mode``,
    ``neurons`` (``{layer: LongTensor}`` of a subset, or None) and ``means``, plus those given to
    :func:`~attributions.attribute` for it (see :func:`bind_options`).
    """
    ATTRIBUTION_METHODS.register(name, fn)


def get_method(name: str) -> Callable[..., Any]:
    """The method registered as ``name`` (an unknown name raises a ValueError listing the methods)."""
    return ATTRIBUTION_METHODS[name]


def trains(name: str) -> bool:
    """Whether method ``name`` trains over the whole objective (``learned_mask``) rather than scoring batches."""
    return bool(getattr(get_method(name), "trains", False))


def bind_options(name: str, available: Mapping[str, Any], chosen: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments for method ``name``: the entries of ``available`` (settings and values the
    caller computed, e.g. ``steps``, ``neurons``) that its signature names, and all of ``chosen``
    (options given for this method). A method with ``**kwargs`` names no option, but takes any chosen one.

    Raises:
        TypeError: a chosen option the method does not take, or one the caller sets itself; the
            message names the method and the option.
    """
    fn = get_method(name)
    params = list(inspect.signature(fn).parameters.values())
    inputs = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)][:4]  # model ... layers
    named = [p.name for p in params if p not in inputs and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params)
    for option in chosen:
        if option in available:
            raise TypeError(f"{option}= is not an option of attribution method {name!r}: attribute() sets it")
        if option not in named and not takes_any:
            offered = ", ".join(f"{n}=" for n in named) or "none"
            raise TypeError(f"attribution method {name!r} takes no option {option}= (its options: {offered})")
    return {**{k: v for k, v in available.items() if k in named}, **chosen}
