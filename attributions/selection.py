"""Choosing neurons from scores, preferring those specific to the objective over a control.

The raw top neurons of a bias objective are mostly neurons the model needs for everything;
zeroing them costs fluency. Each rule below uses the control scores (e.g. language modelling on
neutral text) to prefer neurons that matter for the objective but not for the control.
"""

from __future__ import annotations

import torch

from .errors import InputError
from .neuron_set import NeuronSet
from .scores import NeuronScores

__all__ = ["DEFAULT_K", "DEFAULT_RULE", "RULES", "combine_controls", "select"]

RULES = ("top", "exclude_control", "consistent", "ratio", "difference")
DEFAULT_RULE = "consistent"
"""Chosen on dev data by the rule stated in ``benchmarks/bench_generalisation.py`` (README, "Choosing the default")."""
DEFAULT_K = 50
"""Edit size of the default; k = 100 was tried beside it in ``benchmarks/bench_generalisation.py``."""


def _top(values: torch.Tensor, k: int, allowed: torch.Tensor | None = None) -> NeuronSet:
    values = torch.nan_to_num(values.float(), nan=float("-inf"))
    if allowed is not None:
        values = torch.where(allowed, values, torch.full_like(values, float("-inf")))
    flat = values.flatten()
    k = min(k, int(torch.isfinite(flat).sum()))
    order = torch.topk(flat, k).indices
    width = values.shape[1]
    return NeuronSet((int(i) // width, int(i) % width) for i in order)


def _require_finite(scores: NeuronScores, what: str) -> None:
    bad = int((~torch.isfinite(scores.scores)).sum())
    if bad:
        raise InputError(f"{bad} {what} are NaN or infinite: an infinite score would be chosen first and a NaN "
                         "never; recompute them (float32, fewer integration steps) before selecting")


def select(scores: NeuronScores, k: int, rule: str = DEFAULT_RULE, *, control: NeuronScores | None = None,
           quantile: float = 0.9) -> NeuronSet:
    """The ``k`` neurons chosen by ``rule`` (rank order), pushing the objective up.

    Rules:
        ``top``: highest score.
        ``exclude_control``: highest score among neurons whose |control| is below its ``quantile``
            (default: leave out the 10% most important for the control).
        ``consistent``: as ``exclude_control``, ranked by ``score / std`` over examples (a t statistic
            up to a constant): neurons that push the objective up on most examples, not on a few.
        ``ratio``: highest ``score / (|control| + mean |control|)``.
        ``difference``: highest ``score / std(score) - |control| / std(control)``.

    ``control`` defaults to ``scores.control``; every rule but ``top`` needs one. A rule that selects
    nothing (every ranking value NaN or excluded) raises :class:`InputError`, as do NaN standard
    deviations under ``consistent``.
    """
    if rule not in RULES:
        raise InputError(f"unknown selection rule {rule!r}; choose one of {', '.join(RULES)}")
    if isinstance(k, bool) or not hasattr(k, "__index__") or k < 1:
        raise InputError(f"k must be an integer of at least 1, not {k!r}")
    _require_finite(scores, "scores")
    if rule == "top" and scores.scores.numel() and bool((scores.scores == scores.scores.flatten()[0]).all()):
        raise InputError(f"rule 'top': every neuron's score is {float(scores.scores.flatten()[0]):g}, so no ranking "
                         "tells them apart and any k would be arbitrary; recompute the scores (the objective gave no "
                         "signal: check the data and the method, or use another --rule)")
    chosen = _choose(scores, k, rule, control, quantile)
    if not chosen:
        raise InputError(f"rule {rule!r} selected no neurons: every neuron's ranking value is NaN or excluded "
                         "(e.g. all scores and control scores are 0); choose another rule (--rule top ranks the "
                         "scores alone) or recompute the scores")
    return chosen


def _choose(scores: NeuronScores, k: int, rule: str, control: NeuronScores | None, quantile: float) -> NeuronSet:
    """:func:`select` after its argument checks (may come back empty)."""
    if rule == "top":
        return _top(scores.scores, k)
    control = control or scores.control
    if control is None:
        raise InputError(f"rule {rule!r} needs control scores; compute them (neuronedit attribute does by default) "
                         "or use rule='top'")
    if control.shape != scores.shape:
        raise InputError(f"control scores have shape {control.shape}, the scores {scores.shape}")
    _require_finite(control, "control scores")
    s = scores.scores.float()
    c = torch.nan_to_num(control.scores.float().abs(), nan=0.0)
    if rule in ("exclude_control", "consistent"):
        if not 0 < quantile <= 1:
            raise InputError(f"quantile must be in (0, 1], not {quantile}")
        if rule == "consistent":
            if scores.std is None:
                raise InputError("rule 'consistent' needs per-example standard deviations (scores.std)")
            bad = int((~torch.isfinite(scores.std)).sum())
            if bad:
                raise InputError(f"rule 'consistent' ranks by score / std, but {bad} standard deviations are NaN or "
                                 "infinite; recompute the scores, or choose a rule that does not read them "
                                 "(--rule exclude_control, ratio or top)")
            s = s / scores.std.float().clamp(min=float(scores.std.float().mean()) * 1e-3 + 1e-12)
        cutoff = torch.quantile(c.flatten(), quantile)
        return _top(s, k, allowed=c < cutoff if quantile < 1 else None)
    if rule == "ratio":
        if scores.meta.get("method") == "learned_mask":
            raise InputError("rule 'ratio' divides scores by the control, which assumes 0 means no effect; "
                             "learned_mask scores are closing logits (an untouched gate is not 0): use top, "
                             "exclude_control or difference")
        return _top(s / (c + c.mean()), k)
    s_std = torch.nan_to_num(s, nan=0.0).std().clamp(min=1e-12)
    return _top(s / s_std - c / c.std().clamp(min=1e-12), k)


def combine_controls(*controls: NeuronScores, quantile: float = 0.9) -> NeuronScores:
    """One control from several (e.g. language modelling and knowledge probes): per neuron the largest
    of ``|control_i| / q_i``, where ``q_i`` is the ``quantile`` of ``|control_i|``, so a neuron
    important for any of them counts as important. ``meta["parts"]`` lists the parts' metas."""
    if not controls:
        raise InputError("give at least one control")
    if len({c.shape for c in controls}) != 1:
        raise InputError(f"controls have different shapes: {[c.shape for c in controls]}")
    parts = []
    for c in controls:
        values = torch.nan_to_num(c.scores.float().abs(), nan=0.0)
        parts.append(values / torch.quantile(values.flatten(), quantile).clamp(min=1e-12))
    return NeuronScores(torch.stack(parts).amax(dim=0), meta={"combined": True, "parts": [c.meta for c in controls]})
