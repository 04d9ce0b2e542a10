"""Control scores for choosing neurons, cached per model fingerprint and data hash.

The default control is language modelling on the built-in neutral corpus (neurons the model needs
for ordinary text); the knowledge control attributes the dev half of the knowledge probes of a
domain (neurons that carry facts an edit must keep). Computing a control costs more than the main
attribution pass, so each is stored under ``$NEURONEDIT_CACHE/controls/`` and reused while the
model's weights, the texts and the method are the same.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from attributions import LanguageModel, LanguageModeling, NeuronScores, Objective, PairPreference, attribute
from attributions.errors import InputError
from attributions.selection import combine_controls

from ..data import load
from ..data.knowledge import knowledge_span
from ..data.neutral import NEUTRAL_TEXTS
from ..model.cache import cache_dir

__all__ = ["CONTROLS", "DEFAULT_CONTROL", "control_scores", "with_knowledge"]

CONTROLS = ("lm", "lm+knowledge")
"""``lm``: language modelling on neutral text; ``lm+knowledge``: that and the domain's knowledge probes."""
DEFAULT_CONTROL = "lm+knowledge"
"""Chosen on dev data with the default rule (``benchmarks/bench_generalisation.py``, README "Choosing the default")."""


def _key(lm: LanguageModel, objective: Objective, method: str, payload: Any) -> str:
    text = json.dumps({"fingerprint": lm.fingerprint(), "objective": objective.describe(), "method": method,
                       "data": payload}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _cached_attribution(lm: LanguageModel, objective: Objective, payload: Any, *, method: str = "grad_x_act",
                       batch_size: int = 16, use_cache: bool = True, log: Any = None, progress: bool = False,
                       label: str | None = None) -> NeuronScores:
    """``attribute(lm, objective, method)``, read from the cache when the same model weights,
    objective, method and data (``payload``: the texts or pairs, hashed) were attributed before."""
    path = cache_dir("controls", f"{_key(lm, objective, method, payload)}.safetensors")
    if use_cache and path.is_file():
        try:
            return NeuronScores.load(path)
        except ValueError:
            path.unlink(missing_ok=True)  # a damaged entry is recomputed
    if log:
        log(f"computing control scores ({objective.describe()['objective']}, {method}); cached for next time")
    scores = attribute(lm, objective, method, batch_size=batch_size, progress=progress, label=label)
    if use_cache:
        scores.save(path)
    return scores


def control_scores(lm: LanguageModel, control: str = "lm", *, domain: str | None = None,
                   texts: Sequence[str] | None = None, knowledge: Sequence[Any] | None = None,
                   batch_size: int = 16, use_cache: bool = True, log: Any = None,
                   progress: bool = False) -> NeuronScores:
    """The control of :data:`CONTROLS` for ``domain`` (needed by ``lm+knowledge``).

    Args:
        texts: neutral texts for the language-modelling part (default: the built-in corpus).
        knowledge: knowledge pairs to keep (default: the dev half of ``probes:knowledge-{domain}``).
    """
    if control not in CONTROLS:
        raise InputError(f"unknown control {control!r}; choose one of {', '.join(CONTROLS)}")
    texts = list(texts if texts is not None else NEUTRAL_TEXTS)
    lm_scores = _cached_attribution(lm, LanguageModeling(texts), texts, batch_size=batch_size, use_cache=use_cache,
                                   log=log, progress=progress, label="control: neutral text")
    if control == "lm":
        return lm_scores
    if domain is None:
        raise InputError("the lm+knowledge control needs the domain whose knowledge probes to keep")

    def score(objective: Objective, payload: Any, label: str) -> NeuronScores:
        return _cached_attribution(lm, objective, payload, batch_size=batch_size, use_cache=use_cache, log=log,
                                  progress=progress, label=label)

    return with_knowledge(lm_scores, domain, score, knowledge=knowledge, log=log)


def with_knowledge(lm_scores: NeuronScores, domain: str, score: Callable[[Objective, Any, str], NeuronScores], *,
                   knowledge: Sequence[Any] | None = None, log: Any = None) -> NeuronScores:
    """``lm_scores`` combined with ``score(objective, payload, label)`` of ``domain``'s knowledge pairs
    (default: the dev half of ``probes:knowledge-{domain}``); ``lm_scores`` alone, with a warning, when
    the tokenizer cannot score them."""
    pairs = list(knowledge if knowledge is not None else load(f"probes:knowledge-{domain}", split="dev"))
    span = knowledge_span(domain)
    try:
        knowledge_scores = score(PairPreference(pairs, span=span), [(p.more, p.less) for p in pairs],
                                 f"control: {domain} knowledge")
    except ValueError as err:  # e.g. a word-level tokenizer that maps every group word to one unknown token
        message = f"the {domain} knowledge probes cannot be scored with this tokenizer ({err}); the control is lm alone"
        warnings.warn(message, stacklevel=3)
        if log:
            log(message)
        return NeuronScores(lm_scores.scores, lm_scores.std, lm_scores.consistency,
                            {**lm_scores.meta, "knowledge": f"unscorable: {err}"})
    return combine_controls(lm_scores, knowledge_scores)
