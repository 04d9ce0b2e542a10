"""The debiasing methods :func:`~neuronedit.analysis.compare_methods` puts side by side.

Each is a factory ``(Fitting) -> context manager``: it fits on the source domain's dev data only
(the located neurons, the dev pairs, their sentences), edits the model inside the block and
restores it exactly on exit. Register another with ``DEBIAS_METHODS.register(name, Method(...))``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from attributions import LanguageModel, NeuronSet, mean_activations
from attributions.objectives import pair_texts
from attributions.registry import Registry

from ..data.neutral import NEUTRAL_TEXTS
from ..edits.masks import masked
from ..edits.temporary import restoring
from ..edits.weights import prune_
from .random_control import random_like

__all__ = ["DEBIAS_METHODS", "DEFAULT_DEBIAS_METHODS", "Fitting", "Method"]


@dataclass
class Fitting:
    """What a method may fit on: the model, the source domain's name, its dev pairs, the neurons
    located on them, and knowledge dev pairs (for the training methods' knowledge check)."""

    lm: LanguageModel
    domain: str
    pairs: list[Any]
    neurons: NeuronSet
    knowledge: list[Any] | None = None
    seed: int = 0

    def sentences(self) -> list[str]:
        """Both sides of every dev pair, as whole sentences (a shared prefix in front)."""
        out = []
        for pair in self.pairs:
            more, less, prefix = pair_texts(pair)
            out += [f"{prefix} {side}".strip() for side in (more, less)]
        return out


@dataclass(frozen=True)
class Method:
    """One method: how it edits (``edit``), its family and whether the edit can be saved as weights."""

    edit: Callable[[Fitting], AbstractContextManager[Any]]
    family: str
    saved_as: str
    description: str


@contextmanager
def _pruned(fit: Fitting) -> Iterator[Any]:
    with restoring(fit.lm):
        yield prune_(fit.lm, fit.neurons)


@contextmanager
def _unlearned(fit: Fitting, confined: bool) -> Iterator[Any]:
    from ..unlearn.train import unlearn

    with restoring(fit.lm):
        yield unlearn(fit.lm, fit.pairs, "masked_token", neurons=fit.neurons if confined else None,
                      knowledge=fit.knowledge, seed=fit.seed)


@contextmanager
def _leace(fit: Fitting) -> Iterator[Any]:
    from ..baselines.leace import erased, fit_leace

    eraser = fit_leace(fit.lm, fit.sentences(), fit.domain)
    with erased(fit.lm, eraser):
        yield eraser


@contextmanager
def _cda(fit: Fitting) -> Iterator[Any]:
    from ..baselines.cda import cda

    with restoring(fit.lm):
        yield cda(fit.lm, fit.domain, knowledge=fit.knowledge, seed=fit.seed)


def _self_debias(fit: Fitting) -> AbstractContextManager[Any]:
    from ..baselines.self_debias import self_debiased

    return self_debiased(fit.lm, [fit.domain])


def _mean_masked(fit: Fitting) -> AbstractContextManager[Any]:
    return masked(fit.lm, fit.neurons, "mean", means=mean_activations(fit.lm, list(NEUTRAL_TEXTS)))


def _random(fit: Fitting) -> AbstractContextManager[Any]:
    widths = [site.n_neurons for site in fit.lm.sites]
    return masked(fit.lm, random_like(fit.neurons, widths, seed=fit.seed), "zero")


DEBIAS_METHODS: Registry[Method] = Registry("debiasing method", {
    "neurons": Method(lambda fit: masked(fit.lm, fit.neurons, "zero"), "neuron edit", "mask or pruned checkpoint",
                      "located neurons zeroed (hook)"),
    "neurons-mean": Method(_mean_masked, "neuron edit", "mask", "located neurons set to their mean on neutral text"),
    "prune": Method(_pruned, "neuron edit", "pruned checkpoint", "located neurons' weights removed"),
    "unlearn-confined": Method(lambda fit: _unlearned(fit, True), "unlearning", "weight delta",
                               "masked-token unlearning of the dev pairs, confined to the located neurons"),
    "unlearn": Method(lambda fit: _unlearned(fit, False), "unlearning", "weight delta",
                      "masked-token unlearning of the dev pairs, whole model"),
    "leace": Method(_leace, "baseline", "eraser file", "LEACE on the residual stream at every layer"),
    "self-debias": Method(_self_debias, "baseline", "nothing (scoring time)", "Self-Debias rescaling, decay 50"),
    "cda": Method(_cda, "baseline", "weight delta", "two-sided CDA fine-tune on WikiText-2 text"),
    "random": Method(_random, "random", "mask", "random neurons, same count per layer (the random control)"),
})
"""Debiasing methods by name (what ``compare`` can put side by side)."""

DEFAULT_DEBIAS_METHODS = ("neurons", "unlearn-confined", "unlearn", "leace", "self-debias", "cda", "random")
