"""``compare_methods``: neuron edits, unlearning and the usual debiasing baselines on the same held-out data.

For each source domain every method is fitted on that domain's dev half only (neurons located on the
dev pairs, unlearning of the dev pairs, LEACE on their sentences, CDA on WikiText-2 text, Self-Debias
with the domain's prefix), and every method is evaluated on the same held-out suites of every
measured domain (the transfer row), the knowledge probes and real-text perplexity: item-paired against
the unedited model, and against the neuron edit (``vs_neurons``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from attributions import LanguageModel, NeuronScores, PairPreference, attribute
from attributions.errors import InputError
from attributions.selection import DEFAULT_K, DEFAULT_RULE, select

from ..data import load
from ..locate.control_scores import DEFAULT_CONTROL, control_scores
from ..locate.learned import method_options
from ..measure.evaluation import Evaluation, SuiteResult, evaluate
from ..measure.paired import paired_effect
from .comparison_result import Comparison
from .debias_methods import DEBIAS_METHODS, DEFAULT_DEBIAS_METHODS, Fitting
from .effects import edit_effects
from .transfer import DEFAULT_DATA, _thin, domains_from, objective_span

__all__ = ["compare_methods"]

_REFERENCE = "neurons"
"""The method every other is also compared with, item-paired (``vs_neurons``)."""


def _pairwise(source: str, results: dict[str, SuiteResult], n_boot: int, seed: int) -> list[dict[str, Any]]:
    """Every ordered pair of methods on the source's held-out benchmark: |bias - neutral| of ``b`` minus
    that of ``a`` on the same items (negative = ``b`` less biased), with a paired 95% interval."""
    rows = []
    for a, first in results.items():
        for b, second in results.items():
            if a != b:
                diff = paired_effect(first, second, scale="distance", n_boot=n_boot, seed=seed)
                rows.append({"source": source, "suite": first.suite, "a": a, "b": b, "diff": diff.value,
                             "diff_ci_low": diff.low, "diff_ci_high": diff.high, "n": first.n})
    return rows


def _summary(edit: Any) -> dict[str, Any]:
    """The part of a method's yielded object worth keeping: an Edit's stop reason and step count."""
    provenance = getattr(edit, "provenance", None)
    if isinstance(provenance, dict):
        history = provenance.get("history") or [{}]
        return {"stopped": provenance.get("stopped"), "last_step": history[-1].get("step")}
    meta = getattr(edit, "meta", None)
    return dict(meta) if isinstance(meta, dict) else {}


def _check(lm: LanguageModel, methods: Sequence[str], domains: Sequence[str], ppl_tokens: int | None) -> None:
    """Refuse, before hours of work, what a method cannot do with this model, domains or settings."""
    from ..data.groups import GROUPS
    from ..edits.apply import require_weights_in_memory
    from ..measure.scoring import is_masked_lm

    if not domains or len(set(domains)) != len(domains):
        raise InputError(f"give each source domain once, not {list(domains)}")
    if "self-debias" in methods and is_masked_lm(lm.model):
        raise InputError("self-debias needs a causal LM; leave it out of the methods for a masked LM")
    for name in ("prune", "unlearn", "unlearn-confined", "cda"):
        if name in methods:
            require_weights_in_memory(lm.model, f"the {name} method's weight changes")
    for name in ("leace", "cda"):
        missing = [d for d in domains if d not in GROUPS]
        if name in methods and missing:
            raise InputError(f"{name} needs group words, which exist for {', '.join(GROUPS)}, not {missing}")
    if "leace" in methods:
        try:
            import concept_erasure  # type: ignore[import-untyped]  # noqa: F401
        except ImportError:
            raise InputError("the leace method needs EleutherAI's concept-erasure: pip install "
                             "'neuronedit[baselines]' (or leave leace out of the methods)") from None
    if "cda" in methods:
        from ..baselines.cda import reported_text_overlaps

        if reported_text_overlaps(lm.tokenizer, ppl_tokens):
            raise InputError(f"perplexity over {ppl_tokens or 'all'} tokens would read the text CDA trains on "
                             "(from a quarter of WikiText-2 on): lower ppl_tokens / --ppl-tokens")


def compare_methods(
    lm: LanguageModel,
    methods: Sequence[str] = DEFAULT_DEBIAS_METHODS,
    domains: Sequence[str] = ("gender",),
    *,
    measure: Sequence[str] = ("gender", "race", "religion"),
    data: str = DEFAULT_DATA,
    k: int = DEFAULT_K,
    selection: str = DEFAULT_RULE,
    control: str = DEFAULT_CONTROL,
    attribution: str = "grad_x_act",
    objective: str = "all",
    ppl_tokens: int | None = 20000,
    max_items: int | None = None,
    scores: dict[str, NeuronScores] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    batch_size: int = 16,
    log: Callable[[str], None] | None = print,
) -> Comparison:
    """Fit each of ``methods`` (names in :data:`~neuronedit.analysis.debias_methods.DEBIAS_METHODS`) on each source
    domain's dev half and evaluate it on the held-out suites of every ``measure`` domain.

    Args:
        lm: the model (restored exactly after each method).
        domains: source domains (whose bias the methods remove).
        measure: domains whose held-out suites are evaluated (sources are added).
        data: where the dev/test halves come from (see :func:`~neuronedit.analysis.domains_from`).
        max_items: cap on the dev half and on every held-out suite (evenly spaced items, the same for every
            method); the cost of the comparison is about proportional to it.
        k, selection, control, attribution, objective: how the neurons are located (as ``transfer``);
            ``scores`` gives precomputed attribution scores per source.
        ppl_tokens: tokens of the bundled WikiText-2 validation text scored for perplexity.
    """
    say = log or (lambda _message: None)
    unknown = [m for m in methods if m not in DEBIAS_METHODS]
    if unknown or not methods:
        raise InputError(f"unknown methods {unknown}; choose from {', '.join(DEBIAS_METHODS)}")
    _check(lm, methods, domains, ppl_tokens)
    started = time.time()
    measured = list(dict.fromkeys([*domains, *measure]))
    prepared = {d.name: d for d in domains_from(measured, data, max_items=max_items)}
    for d in prepared.values():  # every held-out suite capped alike (WinoBias, probes, knowledge probes too)
        d.evaluation = [_thin(s, max_items) for s in d.evaluation]
    corpus = load("text:bundled")
    suites: list[Any] = [s for d in prepared.values() for s in d.evaluation] + [corpus]
    options: dict[str, Any] = {"n_boot": n_boot, "seed": seed, "progress": False, "batch_size": 2 * batch_size,
                               "text_max_tokens": ppl_tokens, "text_window": 1024, "text_stride": 1024}
    tick = time.time()
    baseline = evaluate(lm, suites, **options)
    say(f"baseline evaluated in {time.time() - tick:.0f} s")
    scores = dict(scores or {})
    rows: list[dict[str, Any]] = []
    pairs: list[dict[str, Any]] = []
    fitted: dict[str, dict[str, Any]] = {}
    order = [_REFERENCE, *[m for m in methods if m != _REFERENCE]] if _REFERENCE in methods else list(methods)
    for source in domains:
        domain = prepared[source]
        if source not in scores:
            span = objective_span(domain, objective)
            scores[source] = attribute(lm, PairPreference(domain.attribution, span=span), attribution,
                                       batch_size=batch_size, seed=seed, **method_options(attribution, source))
        if selection != "top" and scores[source].control is None:
            scores[source].control = control_scores(lm, control, domain=source, batch_size=batch_size, log=say)
        fit = Fitting(lm, source, list(domain.attribution), select(scores[source], k, selection),
                      knowledge=list(load(f"probes:knowledge-{source}", split="dev")), seed=seed)
        reference: Evaluation | None = None
        main: dict[str, SuiteResult] = {}
        for name in order:
            tick = time.time()
            with DEBIAS_METHODS[name].edit(fit) as edit:
                fit_seconds = time.time() - tick
                after = evaluate(lm, suites, **options)
            if name == _REFERENCE:
                reference = after
            effects = edit_effects(baseline, after, reference if name != _REFERENCE else None, vs=_REFERENCE,
                                   n_boot=n_boot, seed=seed)
            for row in effects:
                rows.append({"source": source, "method": name, "family": DEBIAS_METHODS[name].family,
                             "target": row["bias_type"] if row["role"] != "cost" else "perplexity", **row})
            fitted[f"{source}/{name}"] = {"fit_seconds": round(fit_seconds, 1),
                                          "seconds": round(time.time() - tick, 1), **_summary(edit)}
            first = next(r for r in rows[-len(effects):] if r["role"] == "bias" and r["target"] == source)
            main[name] = after.get(first["suite"], source)
            say(f"[{source}] {name}: {first['suite']} {first['before']:.2f} -> {first['after']:.2f} "
                f"({time.time() - tick:.0f} s)")
        pairs += _pairwise(source, main, n_boot, seed)
    settings = {
        "model": lm.name, "fingerprint": lm.fingerprint(), "architecture": lm.architecture, "methods": order,
        "domains": list(domains), "measure": measured, "data": data, "k": k, "selection": selection,
        "control": control, "attribution": attribution, "max_items": max_items, "ppl_tokens": ppl_tokens,
        "dev_pairs": {d: len(prepared[d].attribution) for d in domains},
        "evaluation_items": {f"{s.name}/{d.name}": len(s) for d in prepared.values() for s in d.evaluation},
        "descriptions": {m: DEBIAS_METHODS[m].description for m in order},
        "saved_as": {m: DEBIAS_METHODS[m].saved_as for m in order},
        "fitted": fitted, "n_boot": n_boot, "seed": seed, "seconds": round(time.time() - started, 1),
    }
    return Comparison(effects=pd.DataFrame(rows), settings=settings, pairwise=pd.DataFrame(pairs))
