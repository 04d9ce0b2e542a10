"""Recipes: the steps the command line chains, as functions a notebook can call.

``objective_for`` builds an attribution objective from a data spec, ``choose_neurons`` selects neurons
with the command line's defaults, and ``control_for`` computes the control scores that
``neuronedit attribute`` stores beside the objective's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

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
from attributions.errors import InputError
from attributions.selection import DEFAULT_K, DEFAULT_RULE, select

from ..data import TextCorpus, canonical_bias_type, load
from ..data.neutral import NEUTRAL_TEXTS
from ..data.spans import diff_char_spans
from .control_scores import CONTROLS, DEFAULT_CONTROL, control_scores, with_knowledge

__all__ = ["NEUTRAL_CORPUS", "OBJECTIVES", "choose_neurons", "control_for", "data_domain", "objective_for"]

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
            raise InputError(f"the contrast objective takes prompts from text:PATH (one per line), not {data}")
        texts += [line.strip() for line in loaded.lines()]
    if not texts:
        raise InputError("the contrast objective needs prompts, or text:PATH data holding them")
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
        raise InputError(f"unknown objective {kind!r}; choose one of {', '.join(OBJECTIVES)}")
    if kind == "contrast":
        return TokenContrast(_prompts(prompts, data)[:limit], a, b)
    if not data:
        raise InputError(f"the {kind} objective needs data: a KIND:PATH spec or probes:DOMAIN")
    loaded = load(data, bias_type=bias_type, split=split)
    if isinstance(loaded, TextCorpus):
        if kind == "pair":
            raise InputError("the pair objective needs pair data (crows, stereoset, winobias, probes), not text")
        texts = [line.strip() for line in loaded.lines(limit)]
        return ForgetLoss(texts) if kind == "forget" else LanguageModeling(texts)
    items = list(loaded)[:limit]
    if not items:
        raise InputError(f"{data} holds no items{f' of bias type {bias_type}' if bias_type else ''}")
    if not hasattr(items[0], "more"):
        raise InputError(f"{data} holds {type(items[0]).__name__} items; use pair data for the {kind} objective")
    if kind == "pair":
        from ..measure.suites import association_span

        return PairPreference(items, span=association_span(loaded.name) if span == "auto" else span)
    if kind == "forget":
        return ForgetLoss([i.more for i in items], spans=[diff_char_spans(i.more, i.less) for i in items])
    return LanguageModeling([i.more for i in items])


def choose_neurons(scores: NeuronScores, k: int | None = None, rule: str | None = None) -> tuple[NeuronSet, str, int]:
    """The neurons ``select`` picks, with the defaults filled in: ``k`` defaults to
    :data:`~attributions.selection.DEFAULT_K`; ``rule`` to :data:`~attributions.selection.DEFAULT_RULE`
    when ``scores`` hold control scores and per-example spreads, else ``top`` (every other rule needs a
    control; ``consistent`` also the spreads, which ``learned_mask`` scores do not have).

    Returns:
        The neuron set, the rule and the ``k`` used.
    """
    rule = rule or (DEFAULT_RULE if scores.control is not None and scores.std is not None else "top")
    k = DEFAULT_K if k is None else k
    return select(scores, k, rule), rule, k


def control_for(lm: LanguageModel, method: str = "grad_x_act", *, control: str = DEFAULT_CONTROL,
                domain: str | None = None, batch_size: int = 16, steps: int = 20, internal_batch_size: int = 64,
                seed: int = 0, progress: bool = False, checkpoint: str | os.PathLike[str] | None = None,
                checkpoint_every: int = 20, log: Callable[[str], None] | None = None) -> NeuronScores:
    """Control scores ``control`` (:data:`~neuronedit.locate.control_scores.CONTROLS`) by ``method``:
    language modelling on the built-in neutral text, plus for ``lm+knowledge`` the knowledge probes of
    ``domain`` (see :func:`data_domain`).

    With ``grad_x_act`` and no ``checkpoint`` these are :func:`neuronedit.locate.control_scores.control_scores`
    (cached per model, the control ``transfer`` and ``compare`` select with; ``log`` receives its messages);
    otherwise they are attributed here, with partial sums in ``checkpoint/lm`` and ``checkpoint/knowledge``
    (a killed run resumes there).
    """
    if control not in CONTROLS:
        raise InputError(f"unknown control {control!r}; choose one of {', '.join(CONTROLS)}")
    if control == "lm+knowledge" and domain is None:
        raise InputError("the lm+knowledge control needs the domain whose knowledge probes to keep")
    if method == "grad_x_act" and checkpoint is None:
        scores = control_scores(lm, control, domain=domain, batch_size=batch_size, log=log, progress=progress)
    else:
        def score(objective: Objective, _payload: object, label: str, part: str = "knowledge") -> NeuronScores:
            return attribute(lm, objective, method, batch_size=batch_size, steps=steps,
                             internal_batch_size=internal_batch_size, seed=seed, progress=progress,
                             checkpoint=Path(checkpoint) / part if checkpoint else None,
                             checkpoint_every=checkpoint_every, label=label)

        scores = score(LanguageModeling(list(NEUTRAL_TEXTS)), None, "control: neutral text", "lm")
        if control == "lm+knowledge":
            assert domain is not None
            scores = with_knowledge(scores, domain, score, log=log)
    knowledge = f" + probes:knowledge-{domain} (dev)" if scores.meta.get("combined") else ""
    scores.meta.update(data=NEUTRAL_CORPUS + knowledge, control=control)
    return scores


def data_domain(data: str | None, bias_type: str | None = None, split: str | None = None) -> str | None:
    """The bias domain of ``data`` (whose knowledge probes the ``lm+knowledge`` control keeps, as
    ``transfer`` keeps each source's): ``bias_type`` when given, else the one bias type every item of
    ``data`` shares; None for text, no data or mixed bias types."""
    if bias_type:
        return canonical_bias_type(bias_type)
    if not data or data.startswith("text:"):
        return None
    loaded = load(data, split=split)
    types = {getattr(item, "bias_type", None) for item in loaded} if not isinstance(loaded, TextCorpus) else set()
    return types.pop() if len(types) == 1 else None
