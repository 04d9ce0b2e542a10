"""Recovery: does the toolkit's own pipeline find, remove and see the transfer of a planted mechanism?

On the planted model, for every source domain of the ground truth:

1. every attribution method scores all MLP neurons on the domain's dev pairs (the pairs planting was
   calibrated on); :func:`~.ranking.ranking_metrics` says how well each ranks the planted neurons, and
   the default selection (rule and control, as ``transfer`` uses them) says which it keeps;
2. the located top-k (default method and rule), the planted set itself and the layer-matched random
   control of the located set are zeroed, and every held-out suite is evaluated (the test halves,
   the other benchmarks, knowledge, perplexity on real text), item-paired;
3. the removal share of each bias suite: ``(s(planted) - s(edited)) / (s(planted) - s(unplanted))``
   for the primary association score ``s``, with a bootstrap interval over the same item resamples
   of all three models (zeroing the planted set removes 100% up to the neurons' former function);
4. transfer: the effect rows of ``transfer`` (``vs_random`` on every suite) for each source's
   located edit, so that a gender-source edit moving planted race bias beyond the random control is
   visible (``shared``) or not (``separate``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from attributions import ATTRIBUTION_METHODS, LanguageModel, NeuronScores, NeuronSet, PairPreference, attribute
from attributions.errors import InputError
from attributions.methods import trains
from attributions.selection import DEFAULT_K, DEFAULT_RULE, select

from ..analysis.effects import edit_effects
from ..analysis.random_control import random_like
from ..analysis.transfer import Domain, domains_from, objective_span
from ..data import TextCorpus, load
from ..edits.masks import masked
from ..locate.control_scores import DEFAULT_CONTROL, control_scores
from ..locate.learned import method_options
from ..measure.bootstrap import bootstrap
from ..measure.evaluation import Evaluation, evaluate
from .ranking import ranking_metrics
from .recovery_result import Recovery
from .truth import GroundTruth

__all__ = ["DEFAULT_METHOD", "recover", "removal_shares"]

DEFAULT_METHOD = "grad_x_act"
"""The method of the default pipeline (as ``transfer``): its located top-k is what is removed."""


def removal_shares(unplanted: Evaluation, planted: Evaluation, edited: Evaluation, *, n_boot: int = 1000,
                   seed: int = 0) -> list[dict[str, Any]]:
    """Per bias suite: the planted increase ``s(planted) - s(unplanted)`` and the share of it ``edited``
    removes, each with a 95% bootstrap interval over the same item resamples of the three runs."""
    rows = []
    for p in planted.results:
        if p.role != "bias":
            continue
        u, e = unplanted.get(p.suite, p.bias_type), edited.get(p.suite, p.bias_type)
        if not u.item_ids == p.item_ids == e.item_ids:
            raise InputError(f"{p.suite}/{p.bias_type}: the three models were scored on different items")
        stat = p.stats[p.primary]

        def increase(data: tuple[Any, ...], idx: np.ndarray, stat: Any = stat) -> float:
            return stat(data[1], idx) - stat(data[0], idx)

        def share(data: tuple[Any, ...], idx: np.ndarray, stat: Any = stat) -> float:
            rise = stat(data[1], idx) - stat(data[0], idx)
            return 100 * (stat(data[1], idx) - stat(data[2], idx)) / rise if abs(rise) > 1e-9 else float("nan")

        runs = (u.data, p.data, e.data)
        rise = bootstrap(increase, runs, p.n, n_boot=n_boot, seed=seed)
        removed = bootstrap(share, runs, p.n, n_boot=n_boot, seed=seed)
        rows.append({"suite": p.suite, "bias_type": p.bias_type, "metric": p.primary, "n": p.n,
                     "unplanted": u.intervals[p.primary].value, "planted": p.intervals[p.primary].value,
                     "edited": e.intervals[p.primary].value, "increase": rise.value,
                     "increase_ci_low": rise.low, "increase_ci_high": rise.high, "share": removed.value,
                     "share_ci_low": removed.low, "share_ci_high": removed.high})
    return rows


def _check(lm: LanguageModel, truth: GroundTruth, methods: Sequence[str], k: int) -> None:
    unknown = [m for m in methods if m not in ATTRIBUTION_METHODS]
    if unknown or not methods:
        raise InputError(f"unknown attribution method(s) {', '.join(unknown) or '(none given)'}; choose from "
                         f"{', '.join(ATTRIBUTION_METHODS)}")
    widths = [site.n_neurons for site in lm.sites]
    outside = [n for n in truth.neurons if n.layer >= len(widths) or n.neuron >= widths[n.layer]]
    if outside:
        raise InputError(f"planted.json names neuron {outside[0].layer}:{outside[0].neuron}, which {lm.name} lacks: "
                         "the ground truth belongs to another model; use the folder `neuronedit plant` wrote")
    if k > sum(widths) // 2:
        raise InputError(f"k={k} is more than half of the model's {sum(widths)} MLP neurons; the random control "
                         f"needs as many outside the edited set")


def _check_scored(evaluation: Evaluation, domains: Sequence[str], data: str) -> None:
    """Each planted domain has a held-out bias suite whose primary score is defined (else every figure is NaN)."""
    for domain in domains:
        if not any(r.role == "bias" and r.bias_type == domain and math.isfinite(r.intervals[r.primary].value)
                   for r in evaluation.results):
            raise InputError(f"{data}: no held-out {domain} suite gets a defined score on this model (every pair "
                             "skipped or tied as its tokenizer splits them), so nothing can be recovered; use "
                             "other data (--data)")


def recover(
    planted: LanguageModel,
    unplanted: LanguageModel,
    truth: GroundTruth,
    *,
    methods: Sequence[str] = tuple(ATTRIBUTION_METHODS),
    data: str = "stereoset",
    objective: str = "all",
    selection: str = DEFAULT_RULE,
    control: str = DEFAULT_CONTROL,
    k: int = DEFAULT_K,
    max_items: int | None = None,
    others: bool = True,
    ppl_text: TextCorpus | str = "text:bundled",
    ppl_tokens: int | None = 20000,
    steps: int = 20,
    mask: Mapping[str, Any] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    batch_size: int = 16,
    log: Callable[[str], None] | None = None,
) -> Recovery:
    """Run the recovery checks (module docstring) of ``truth`` on the ``planted`` model, against the
    ``unplanted`` one it was planted in. ``methods``: the attribution methods ranked (the default
    pipeline's :data:`DEFAULT_METHOD` is always run); ``steps``: of the integrated methods; ``mask``:
    ``learned_mask``'s options (its training steps too); ``others``:
    also evaluate the other benchmarks and the knowledge probes (else only the test half of ``data``, and
    perplexity); the other options as :func:`~neuronedit.analysis.transfer_matrix`."""
    say = log or (lambda _m: None)
    started = time.time()
    methods = list(dict.fromkeys([DEFAULT_METHOD, *methods]))
    _check(planted, truth, methods, k)
    base_fingerprint = truth.provenance.get("base_fingerprint")
    if base_fingerprint and unplanted.fingerprint() != base_fingerprint:
        raise InputError(f"{unplanted.name} is not the model the ground truth was planted in (its weights' "
                         "fingerprint differs from planted.json's base_fingerprint); give the base model")
    domains: list[Domain] = domains_from(truth.domains, data, others=others, max_items=max_items)
    corpus = load(ppl_text) if isinstance(ppl_text, str) else ppl_text
    if not isinstance(corpus, TextCorpus):
        raise InputError(f"ppl_text takes real text (text:PATH or text:bundled), not {ppl_text}")
    suites: list[Any] = [suite for d in domains for suite in d.evaluation] + [corpus]
    options: dict[str, Any] = {"n_boot": n_boot, "seed": seed, "progress": False, "batch_size": 2 * batch_size,
                               "text_max_tokens": ppl_tokens, "text_window": 1024, "text_stride": 1024}
    tick = time.time()
    before = evaluate(unplanted, suites, **options)
    baseline = evaluate(planted, suites, **options)
    say(f"unplanted and planted models evaluated in {time.time() - tick:.0f} s")
    _check_scored(baseline, truth.domains, data)
    widths = [site.n_neurons for site in planted.sites]
    ranking: list[dict[str, Any]] = []
    removal: list[dict[str, Any]] = []
    effects: list[dict[str, Any]] = []
    located: dict[str, NeuronSet] = {}
    scores: dict[str, dict[str, NeuronScores]] = {}
    for domain in domains:
        objective_ = PairPreference(domain.attribution, span=objective_span(domain, objective))
        scores[domain.name] = {}
        for method in methods:
            tick = time.time()
            found = attribute(planted, objective_, method, batch_size=batch_size, seed=seed,
                              steps=None if trains(method) else steps, **method_options(method, domain.name, mask))
            seconds = time.time() - tick
            scores[domain.name][method] = found
            chosen = None
            if method == DEFAULT_METHOD:
                if selection != "top":
                    found.control = control_scores(planted, control, domain=domain.name, batch_size=batch_size)
                chosen = located[domain.name] = select(found, k, selection)
            ranking.append({"domain": domain.name, "method": method, "seconds": round(seconds, 1),
                            **ranking_metrics(found, truth, domain.name, k, chosen)})
            say(f"[{domain.name}] {method} ({seconds:.0f} s): AUROC {ranking[-1]['auroc']:.3f}, recall@{k} "
                f"{ranking[-1]['recall_at_k']:.2f}")
        sets = {"located": located[domain.name], "planted": truth.of("bias", domain.name),
                "random": random_like(located[domain.name], widths, seed=seed)}
        runs: dict[str, Evaluation] = {}
        for edit, neurons in sets.items():
            tick = time.time()
            with masked(planted, neurons, "zero"):
                runs[edit] = evaluate(planted, suites, **options)
            rows = removal_shares(before, baseline, runs[edit], n_boot=n_boot, seed=seed)
            removal += [{"source": domain.name, "edit": edit, "neurons": len(neurons), **row} for row in rows]
            own = [r for r in rows if r["bias_type"] == domain.name]
            say(f"[{domain.name}] zeroing the {edit} set ({time.time() - tick:.0f} s) removes "
                + ", ".join(f"{r['suite']} {r['share']:.0f}%" for r in own))
        for edit in ("located", "planted"):
            effects += [{"source": domain.name, "edit": edit, **row}
                        for row in edit_effects(baseline, runs[edit], runs["random"], n_boot=n_boot, seed=seed)]
        effects += [{"source": domain.name, "edit": "random", **row}
                    for row in edit_effects(baseline, runs["random"], n_boot=n_boot, seed=seed)]
    settings = {"model": planted.name, "fingerprint": planted.fingerprint(), "base_model": unplanted.name,
                "base_fingerprint": unplanted.fingerprint(), "variant": truth.variant, "domains": truth.domains,
                "strength": truth.strength, "data": data, "objective": objective, "methods": methods,
                "default_method": DEFAULT_METHOD, "selection": selection, "control": control, "k": k,
                "max_items": max_items, "others": others, "steps": steps, "n_boot": n_boot, "seed": seed,
                "perplexity_text": f"{getattr(corpus, 'source', '')} (first {ppl_tokens} tokens)"}
    return Recovery(ranking=pd.DataFrame(ranking), removal=pd.DataFrame(removal), effects=pd.DataFrame(effects),
                    truth=truth, settings=settings, located=located, seconds=round(time.time() - started, 1))
