"""Recipes: the steps the command line chains, as functions a notebook can call.

``objective_for`` builds an attribution objective from a data spec, ``choose_neurons`` selects neurons
with the command line's defaults, and ``control_for`` computes the control scores that
``neuronedit attribute`` stores beside the objective's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from attributions import (
    ForgetLoss,
    LanguageModel,
    LanguageModeling,
    NeuronScores,
    NeuronSet,
    Objective,
    PairPreference,
    TokenContrast,
    attribute,
)
from attributions.selection import DEFAULT_K, DEFAULT_RULE, select

from .data import TextCorpus, load
from .data.neutral import NEUTRAL_TEXTS
from .data.spans import diff_char_spans

__all__ = ["NEUTRAL_CORPUS", "OBJECTIVES", "choose_neurons", "control_for", "objective_for"]

OBJECTIVES = ("pair", "contrast", "forget", "lm")
"""The objectives :func:`objective_for` builds."""

NEUTRAL_CORPUS = "built-in neutral corpus"
"""How score metadata names the data of :data:`neuronedit.data.neutral.NEUTRAL_TEXTS`."""


def _prompts(prompts: Sequence[str], data: str | None) -> list[str]:
    """``prompts`` followed by the lines of the ``text:PATH`` spec ``data``."""
    texts = list(prompts)
    if data:
        loaded = load(data)
        if not isinstance(loaded, TextCorpus):
            raise ValueError(f"the contrast objective takes prompts from text:PATH (one per line), not {data}")
        texts += [line.strip() for line in loaded.lines()]
    if not texts:
        raise ValueError("the contrast objective needs prompts, or text:PATH data holding them")
    return texts


def objective_for(kind: str, data: str | None = None, prompts: Sequence[str] = (), a: str = " he", b: str = " she",
                  limit: int | None = None, bias_type: str | None = None, split: str | None = None,
                  span: str = "all") -> Objective:
    """The attribution objective ``kind`` (one of :data:`OBJECTIVES`) over ``data``.

    Args:
        kind: ``pair`` (:class:`PairPreference`: the more-biased side over the other, pair data only),
            ``contrast`` (:class:`TokenContrast`: log p(``a``) - log p(``b``) after each prompt),
            ``forget`` (:class:`ForgetLoss`: pairs' differing span of the more-biased side, or every
            token of text) or ``lm`` (:class:`LanguageModeling` of the texts, or of the pairs' biased side).
        data: a ``KIND:PATH`` spec or ``probes:DOMAIN`` (see :func:`neuronedit.data.load`); for
            ``contrast`` a ``text:PATH`` of prompts, one per line, added to ``prompts``.
        limit: use at most this many inputs.
        bias_type, split: passed to :func:`neuronedit.data.load` (not for ``contrast``).
        span: ``pair`` only: ``all``, ``diff``, ``tail`` or ``auto`` (what the data's association score reads).
    """
    if kind not in OBJECTIVES:
        raise ValueError(f"unknown objective {kind!r}; choose one of {', '.join(OBJECTIVES)}")
    if kind == "contrast":
        return TokenContrast(_prompts(prompts, data)[:limit], a, b)
    if not data:
        raise ValueError(f"the {kind} objective needs data: a KIND:PATH spec or probes:DOMAIN")
    loaded = load(data, bias_type=bias_type, split=split)
    if isinstance(loaded, TextCorpus):
        if kind == "pair":
            raise ValueError("the pair objective needs pair data (crows, stereoset, winobias, probes), not text")
        texts = [line.strip() for line in loaded.lines()][:limit]
        return ForgetLoss(texts) if kind == "forget" else LanguageModeling(texts)
    items = list(loaded)[:limit]
    if not items:
        raise ValueError(f"{data} holds no items{f' of bias type {bias_type}' if bias_type else ''}")
    if not hasattr(items[0], "more"):
        raise ValueError(f"{data} holds {type(items[0]).__name__} items; use pair data for the {kind} objective")
    if kind == "pair":
        from .suites import association_span

        return PairPreference(items, span=association_span(loaded.name) if span == "auto" else span)
    if kind == "forget":
        return ForgetLoss([i.more for i in items], spans=[diff_char_spans(i.more, i.less) for i in items])
    return LanguageModeling([i.more for i in items])


def choose_neurons(scores: NeuronScores, k: int | None = None, rule: str | None = None) -> tuple[NeuronSet, str, int]:
    """The neurons ``select`` picks, with the defaults filled in: ``k`` defaults to
    :data:`~attributions.selection.DEFAULT_K`; ``rule`` to :data:`~attributions.selection.DEFAULT_RULE`
    when ``scores`` hold control scores, else ``top`` (every other rule needs a control).

    Returns:
        The neuron set, the rule and the ``k`` used.
    """
    rule = rule or (DEFAULT_RULE if scores.control is not None else "top")
    k = DEFAULT_K if k is None else k
    return select(scores, k, rule), rule, k


def control_for(lm: LanguageModel, method: str = "grad_x_act", *, batch_size: int = 16, steps: int = 20,
                internal_batch_size: int = 64, seed: int = 0, progress: bool = False,
                checkpoint: str | os.PathLike[str] | None = None, checkpoint_every: int = 20,
                log: Callable[[str], None] | None = None) -> NeuronScores:
    """Control scores: ``method``'s attribution of language modelling on the built-in neutral text.

    With ``grad_x_act`` and no ``checkpoint`` these are :func:`neuronedit.controls.control_scores`
    (cached per model; ``log`` receives its messages); otherwise the neutral text is attributed here,
    with partial sums in the folder ``checkpoint`` (a killed run resumes there).
    """
    if method == "grad_x_act" and checkpoint is None:
        from .controls import control_scores

        control = control_scores(lm, "lm", batch_size=batch_size, log=log, progress=progress)
    else:
        control = attribute(lm, LanguageModeling(list(NEUTRAL_TEXTS)), method, batch_size=batch_size, steps=steps,
                            internal_batch_size=internal_batch_size, seed=seed, progress=progress,
                            checkpoint=checkpoint,
                            checkpoint_every=checkpoint_every, label="control: neutral text")
    control.meta["data"] = NEUTRAL_CORPUS
    return control
