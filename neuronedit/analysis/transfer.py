"""``transfer_matrix``: remove the neurons behind one bias, measure every bias and the cost.

For each source domain the neurons are located on that domain's dev half (attribution scores are
computed once and reused for every k), edited out, and every target domain's held-out half is
evaluated with perplexity, item-paired against the unedited model. At the main k a random set with
the same number of neurons per layer is the control edit.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import pandas as pd

from attributions import (
    LanguageModel,
    LanguageModeling,
    NeuronScores,
    NeuronSet,
    PairPreference,
    attribute,
    mean_activations,
)
from attributions.selection import DEFAULT_K, DEFAULT_RULE, select

from ..data import Dataset, TextCorpus, load
from ..data.neutral import NEUTRAL_TEXTS, heldout_corpus
from ..editing import masked
from ..evaluation import Evaluation, evaluate
from .controls import random_like
from .effects import edit_effects
from .overlap import layer_profile, neuron_overlap
from .result import TransferResult

__all__ = ["Domain", "EditFactory", "domains_from", "transfer_matrix"]

EditFactory = Callable[[LanguageModel, NeuronSet, "Domain"], AbstractContextManager[Any]]
"""Makes the edit of one source: ``(model, neurons, source domain) -> context manager`` that edits
the model inside the block and restores it on exit."""


@dataclass
class Domain:
    """One bias domain: pairs to locate neurons with, and held-out items to evaluate on."""

    name: str
    attribution: Sequence[Any]
    evaluation: Dataset


def domains_from(names: Sequence[str], data: str = "probes") -> list[Domain]:
    """Domains from the built-in probes (``data="probes"``) or a ``KIND:PATH`` benchmark with bias types
    (e.g. StereoSet): the dev half of each bias type locates, the test half evaluates."""
    out = []
    for name in names:
        if data == "probes":
            dev, test = load(f"probes:{name}", split="dev"), load(f"probes:{name}", split="test")
        else:
            dev, test = load(data, bias_type=name, split="dev"), load(data, bias_type=name, split="test")
        if not len(dev) or not len(test):
            raise ValueError(f"{data} has no {name} items in its dev or test half")
        out.append(Domain(name, list(dev), test))
    return out


def _edit_factory(edit: str | EditFactory, lm: LanguageModel) -> EditFactory:
    if callable(edit):
        return edit
    if edit == "zero":
        return lambda model, neurons, _domain: masked(model, neurons, "zero")
    if edit == "mean":
        means = mean_activations(lm, list(NEUTRAL_TEXTS))
        return lambda model, neurons, _domain: masked(model, neurons, "mean", means=means)
    raise ValueError(f"edit must be 'zero', 'mean' or a callable (model, neurons, domain) -> context manager, "
                     f"not {edit!r}")


def _rows(effects: list[dict[str, Any]], **keys: Any) -> list[dict[str, Any]]:
    return [{**keys, "target": row["bias_type"] if row["suite"] != "perplexity" else "perplexity", **row}
            for row in effects]


def transfer_matrix(
    lm: LanguageModel,
    domains: Sequence[str] | Sequence[Domain] = ("gender", "race", "religion"),
    *,
    data: str = "probes",
    method: str = "grad_x_act",
    selection: str = DEFAULT_RULE,
    k: int = DEFAULT_K,
    dose: Sequence[int] = (10, 50, 200, 1000),
    edit: str | EditFactory = "zero",
    ppl_text: TextCorpus | str | None = None,
    scores: dict[str, NeuronScores] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    batch_size: int = 16,
    log: Callable[[str], None] | None = print,
) -> TransferResult:
    """Edit out each source domain's neurons and measure all target domains and perplexity.

    Args:
        lm: the model.
        domains: names (with ``data``) or prepared :class:`Domain` objects.
        data: ``"probes"`` (built-in) or a ``KIND:PATH`` benchmark with bias types.
        method: attribution method; scores are computed once per source.
        selection: selection rule (:func:`attributions.selection.select`); the control scores are
            language modelling on the built-in neutral corpus.
        k: neurons edited in the matrix; ``dose`` adds the other sizes (dose-response).
        edit: ``"zero"`` or ``"mean"`` hook edits, or an :data:`EditFactory` (e.g. unlearning).
        ppl_text: text for perplexity (``text:PATH`` or a corpus); default the built-in held-out text.
        scores: precomputed scores per source (skips attribution for those).
        n_boot, seed: bootstrap resamples and seed (also seeds the random control).
        log: progress messages (None for silence).

    Returns:
        :class:`TransferResult` with the tidy effects table, overlap, layer profile and settings.
    """
    say = log or (lambda _message: None)
    started = time.time()
    kinds = {isinstance(d, Domain) for d in domains}
    if kinds == {True, False}:
        raise ValueError("give domain names or Domain objects, not a mix")
    prepared: list[Domain] = list(domains) if kinds == {True} else domains_from([str(d) for d in domains], data)  # type: ignore[arg-type]
    if len({d.name for d in prepared}) != len(prepared):
        raise ValueError("domain names must be unique")
    if k < 1 or any(size < 1 for size in dose):
        raise ValueError("k and the dose sizes must be at least 1")
    corpus = load(ppl_text) if isinstance(ppl_text, str) else (ppl_text or heldout_corpus())
    suites: list[Any] = [d.evaluation for d in prepared] + [corpus]
    options = {"n_boot": n_boot, "seed": seed, "progress": False, "batch_size": 2 * batch_size}
    make_edit = _edit_factory(edit, lm)

    tick = time.time()
    baseline = evaluate(lm, suites, **options)
    say(f"baseline evaluated in {time.time() - tick:.0f} s: " + ", ".join(
        f"{r.bias_type if r.suite != 'perplexity' else 'perplexity'} {r.intervals[r.primary].value:.1f}"
        for r in baseline.results))
    control = None
    if selection != "top":
        control = attribute(lm, LanguageModeling(list(NEUTRAL_TEXTS)), "grad_x_act", batch_size=batch_size)
    scores = dict(scores or {})
    sizes = sorted({k, *dose})
    widths = [site.n_neurons for site in lm.sites]
    rows: list[dict[str, Any]] = []
    selected: dict[str, NeuronSet] = {}

    def run(neurons: NeuronSet, source: Any) -> Evaluation:
        with make_edit(lm, neurons, source):
            return evaluate(lm, suites, **options)

    for domain in prepared:
        if domain.name not in scores:
            tick = time.time()
            scores[domain.name] = attribute(lm, PairPreference(domain.attribution), method, batch_size=batch_size,
                                            seed=seed)
            say(f"[{domain.name}] {method} on {len(domain.attribution)} dev pairs in {time.time() - tick:.0f} s")
        if control is not None and scores[domain.name].control is None:
            scores[domain.name].control = control
        for size in sizes:
            tick = time.time()
            neurons = select(scores[domain.name], size, selection)
            after = run(neurons, domain)
            if size == k:
                selected[domain.name] = neurons
                random = random_like(neurons, widths, seed=seed)
                after_random = run(random, domain)
                rows += _rows(edit_effects(baseline, after, after_random, n_boot=n_boot, seed=seed),
                              source=domain.name, k=size, edit="selected")
                rows += _rows(edit_effects(baseline, after_random, n_boot=n_boot, seed=seed),
                              source=domain.name, k=size, edit="random")
            else:
                rows += _rows(edit_effects(baseline, after, n_boot=n_boot, seed=seed), source=domain.name, k=size,
                              edit="selected")
            moved = [r for r in rows if r["source"] == domain.name and r["k"] == size and r["edit"] == "selected"]
            say(f"[{domain.name}] k={size} ({time.time() - tick:.0f} s): " + ", ".join(
                f"{r['target']} {r['before']:.1f}->{r['after']:.1f}" for r in moved))

    settings = {
        "model": lm.name, "fingerprint": lm.fingerprint(), "architecture": lm.architecture,
        "domains": [d.name for d in prepared], "data": data,
        "attribution_pairs": {d.name: len(d.attribution) for d in prepared},
        "evaluation_items": {d.name: len(d.evaluation) for d in prepared},
        "perplexity_text": getattr(corpus, "source", "") + (f" ({corpus.id})" if getattr(corpus, "id", "") else ""),
        "method": method, "selection": selection, "control_objective": "lm on built-in neutral corpus",
        "k": k, "dose": sizes, "edit": edit if isinstance(edit, str) else getattr(edit, "__name__", "custom"),
        "n_boot": n_boot, "seed": seed, "seconds": round(time.time() - started, 1),
    }
    return TransferResult(
        effects=pd.DataFrame(rows), overlap=neuron_overlap(selected, scores),
        layers=layer_profile(selected, len(widths)), settings=settings, selected=selected,
    )
