"""``transfer_matrix``: remove the neurons behind one bias, measure every bias, the knowledge kept and the cost.

For each source domain the neurons are located on that domain's dev half (attribution scores are
computed once and reused for every k), edited out, and every held-out suite is evaluated: each
domain's test half of the locating benchmark, the other benchmarks (WinoBias for gender, the
built-in probes), the knowledge probes' test halves and perplexity on real text, item-paired
against the unedited model. At the main k a random set with the same number of neurons per layer
is the random control edit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import pandas as pd

from attributions import LanguageModel, NeuronScores, NeuronSet, PairPreference, attribute, mean_activations
from attributions.errors import InputError
from attributions.methods import trains
from attributions.selection import DEFAULT_K, DEFAULT_RULE, select

from ..data import Dataset, TextCorpus, load, load_pairs
from ..data.neutral import NEUTRAL_TEXTS
from ..edits.masks import masked
from ..locate.control_scores import DEFAULT_CONTROL, control_scores
from ..locate.learned import method_options
from ..measure.evaluation import Evaluation, evaluate
from ..measure.suites import association_span
from .effects import edit_effects
from .overlap import layer_profile, neuron_overlap
from .random_control import random_like
from .transfer_result import TransferResult

__all__ = ["DEFAULT_DATA", "Domain", "EditFactory", "domains_from", "objective_span", "transfer_matrix"]

DEFAULT_DATA = "stereoset"
"""Locate on the bundled StereoSet dev data (each bias type's dev half)."""

EditFactory = Callable[[LanguageModel, NeuronSet, "Domain"], AbstractContextManager[Any]]
"""Makes the edit of one source: ``(model, neurons, source domain) -> context manager`` that edits
the model inside the block and restores it on exit."""


@dataclass
class Domain:
    """One bias domain: pairs to locate neurons with (``source`` names their benchmark), and the
    held-out suites to evaluate on."""

    name: str
    attribution: Sequence[Any]
    evaluation: Sequence[Dataset]
    source: str = "probes"

    def __post_init__(self) -> None:
        if isinstance(self.evaluation, Dataset):
            self.evaluation = [self.evaluation]


def _thin(data: Dataset, most: int | None) -> Dataset:
    """At most ``most`` items, evenly spaced (deterministic); all when ``most`` is None."""
    if most is None or len(data) <= most:
        return data
    step = len(data) / most
    return Dataset([data[int(i * step)] for i in range(most)], kind=data.kind, spec=data.spec,
                   bias_type=data.bias_type, split=data.split)


def domains_from(names: Sequence[str], data: str = DEFAULT_DATA, *, others: bool = True,
                 max_items: int | None = None) -> list[Domain]:
    """Domains that locate on the dev half of ``data`` (``"probes"``, ``"stereoset"`` for the bundled
    copy, or any ``KIND:PATH`` with bias types) and evaluate on its test half; with ``others``, also on
    the built-in probes' and knowledge probes' test halves and, for gender, WinoBias's test half.
    ``max_items`` caps the dev and test half of ``data`` (evenly spaced items; StereoSet race has ~970
    clusters per half)."""
    out = []
    for name in names:
        spec = f"probes:{name}" if data == "probes" else data
        kind = "probes" if data == "probes" else spec.split(":", 1)[0]
        dev = _thin(load_pairs(spec, bias_type=name, split="dev"), max_items)
        test = _thin(load_pairs(spec, bias_type=name, split="test"), max_items)
        if not len(dev) or not len(test):
            raise InputError(f"{spec} has no {name} items in its dev or test half")
        suites = [test]
        if others:
            if kind != "probes":
                suites.append(load(f"probes:{name}", split="test"))
            if name == "gender" and kind != "winobias":
                suites.append(load("winobias", split="test"))
            suites.append(load(f"probes:knowledge-{name}", split="test"))
        out.append(Domain(name, list(dev), suites, source=dev.name))
    return out


def objective_span(domain: Domain, objective: str) -> str:
    """The :class:`PairPreference` span for ``objective`` (``all``, ``diff``, ``tail``, or ``auto``: the
    span the source's association score reads: ``diff`` for StereoSet and where the group term is
    predicted, ``tail`` where it comes first)."""
    return association_span(domain.source) if objective == "auto" else objective


def _edit_factory(edit: str | EditFactory, lm: LanguageModel) -> EditFactory:
    if callable(edit):
        return edit
    if edit == "zero":
        return lambda model, neurons, _domain: masked(model, neurons, "zero")
    if edit == "mean":
        means = mean_activations(lm, list(NEUTRAL_TEXTS))
        return lambda model, neurons, _domain: masked(model, neurons, "mean", means=means)
    raise InputError(f"edit must be 'zero', 'mean' or a callable (model, neurons, domain) -> context manager, "
                     f"not {edit!r}")


def _rows(effects: list[dict[str, Any]], **keys: Any) -> list[dict[str, Any]]:
    return [{**keys, "target": row["bias_type"] if row["role"] != "cost" else "perplexity", **row}
            for row in effects]


def transfer_matrix(
    lm: LanguageModel,
    domains: Sequence[str] | Sequence[Domain] = ("gender", "race", "religion"),
    *,
    data: str = DEFAULT_DATA,
    objective: str = "all",
    method: str = "grad_x_act",
    mask: Mapping[str, Any] | None = None,
    selection: str = DEFAULT_RULE,
    control: str = DEFAULT_CONTROL,
    k: int = DEFAULT_K,
    dose: Sequence[int] = (10, 50, 200),
    edit: str | EditFactory = "zero",
    ppl_text: TextCorpus | str = "text:bundled",
    ppl_tokens: int | None = 20000,
    max_items: int | None = None,
    scores: dict[str, NeuronScores] | None = None,
    baseline: Evaluation | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    batch_size: int = 16,
    log: Callable[[str], None] | None = print,
) -> TransferResult:
    """Edit out each source domain's neurons and measure every held-out suite and perplexity.

    Args:
        lm: the model.
        domains: names (with ``data``) or prepared :class:`Domain` objects.
        data: where to locate: ``"stereoset"`` (bundled dev data, default), ``"probes"``, or ``KIND:PATH``
            (see :func:`domains_from`).
        objective: the :class:`PairPreference` span (``all``, ``diff``, ``tail`` or ``auto``, see
            :func:`objective_span`).
        method: attribution method; scores are computed once per source.
        mask: options of the ``learned_mask`` method (:class:`~attributions.masking.MaskOptions` fields).
        selection: selection rule (:func:`attributions.selection.select`).
        control: the selection control (:data:`neuronedit.locate.control_scores.CONTROLS`), cached per model.
        k: neurons edited in the matrix; ``dose`` adds the other sizes (dose-response).
        edit: ``"zero"`` or ``"mean"`` hook edits, or an :data:`EditFactory` (e.g. unlearning).
        ppl_text, ppl_tokens: real text for perplexity (default the bundled WikiText-2 validation text,
            which no selection step reads) and how many of its tokens to score (disjoint 1,024-token windows).
        max_items: cap on each domain's dev and test half of ``data`` (see :func:`domains_from`).
        scores: precomputed scores per source (skips attribution for those).
        baseline: the unedited model's evaluation of these suites with these options, so that a sweep of
            several runs evaluates it once (:attr:`TransferResult.baseline` of a run with the same data and
            options; in memory only).
        n_boot, seed: bootstrap resamples and seed (also seeds the random control).
        log: progress messages (None for silence).

    Returns:
        :class:`TransferResult` with the tidy effects table, overlap, layer profile and settings.
    """
    say = log or (lambda _message: None)
    started = time.time()
    kinds = {isinstance(d, Domain) for d in domains}
    if kinds == {True, False}:
        raise InputError("give domain names or Domain objects, not a mix")
    prepared = ([d for d in domains if isinstance(d, Domain)] if kinds == {True}
                else domains_from([str(d) for d in domains], data, max_items=max_items))
    if len({d.name for d in prepared}) != len(prepared):
        raise InputError("domain names must be unique")
    if trains(method) and selection == "consistent" and not all(d.name in (scores or {}) for d in prepared):
        raise InputError(f"rule 'consistent' ranks by score / per-example spread, which {method} scores do not "
                         "have; select with 'top' (the gates already weigh knowledge and text) or exclude_control")
    if k < 1 or any(size < 1 for size in dose):
        raise InputError("k and the dose sizes must be at least 1")
    corpus = load(ppl_text) if isinstance(ppl_text, str) else ppl_text
    if not isinstance(corpus, TextCorpus):
        raise InputError(f"--ppl-text (ppl_text) takes real text, text:PATH or text:bundled, not {ppl_text}: "
                         "pair data has no perplexity, so the report would lack it")
    total = sum(site.n_neurons for site in lm.sites)
    if k > total // 2:
        raise InputError(f"--top-k (k) {k} is more than half of the model's {total} MLP neurons ({lm.n_layers} "
                         f"layers): the layer-matched random control needs as many neurons outside the edited set; "
                         f"give at most {total // 2}")
    suites: list[Any] = [suite for d in prepared for suite in d.evaluation] + [corpus]
    options: dict[str, Any] = {"n_boot": n_boot, "seed": seed, "progress": False, "batch_size": 2 * batch_size,
               "text_max_tokens": ppl_tokens, "text_window": 1024, "text_stride": 1024}
    make_edit = _edit_factory(edit, lm)

    tick = time.time()
    if baseline is None:
        baseline = evaluate(lm, suites, **options)
    say(f"baseline evaluated in {time.time() - tick:.0f} s: " + ", ".join(
        f"{r.suite}/{r.bias_type} {r.intervals[r.primary].value:.2f}" for r in baseline.results))
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
            span = objective_span(domain, objective)
            scores[domain.name] = attribute(lm, PairPreference(domain.attribution, span=span), method,
                                            batch_size=batch_size, seed=seed,
                                            **method_options(method, domain.name, mask))
            say(f"[{domain.name}] {method} ({span}) on {len(domain.attribution)} dev pairs in "
                f"{time.time() - tick:.0f} s")
        if selection != "top" and scores[domain.name].control is None:
            scores[domain.name].control = control_scores(lm, control, domain=domain.name, batch_size=batch_size,
                                                         log=say)
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
                f"{r['suite']}/{r['target']} {r['before']:.2f}->{r['after']:.2f}" for r in moved))

    settings = {
        "model": lm.name, "fingerprint": lm.fingerprint(), "architecture": lm.architecture,
        "domains": [d.name for d in prepared], "data": data, "sources": {d.name: d.source for d in prepared},
        "attribution_pairs": {d.name: len(d.attribution) for d in prepared},
        "evaluation_items": {f"{s.name}/{d.name}": len(s) for d in prepared for s in d.evaluation},
        "perplexity_text": f"{getattr(corpus, 'source', '')} ({getattr(corpus, 'id', '')}, first {ppl_tokens} tokens)",
        "objective": {d.name: objective_span(d, objective) for d in prepared}, "method": method,
        "selection": selection, "control": control, "k": k, "dose": sizes,
        "edit": edit if isinstance(edit, str) else getattr(edit, "__name__", "custom"),
        "n_boot": n_boot, "seed": seed, "seconds": round(time.time() - started, 1),
    }
    return TransferResult(
        effects=pd.DataFrame(rows), overlap=neuron_overlap(selected, scores),
        layers=layer_profile(selected, len(widths)), settings=settings, selected=selected, scores=scores,
        baseline=baseline,
    )
