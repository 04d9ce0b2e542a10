"""``explain``: one card per neuron joining what it writes, where it fires, its bias view and a tag."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from attributions import LanguageModel, NeuronScores, NeuronSet
from attributions.errors import InputError
from attributions.forward import max_positions

from .bias import BiasView, bias_views
from .contexts import Context, contexts_of, corpus_windows, top_contexts
from .tags import GROUP_TERMS, Tagging, has_term, tag_neuron
from .vocab import VocabProjection, vocab_projection

__all__ = ["Explanation", "NeuronCard", "explain", "explain_domains"]


@dataclass(frozen=True)
class NeuronCard:
    """Everything known about one neuron (``score`` and ``bias`` when scores / pairs were given)."""

    layer: int
    neuron: int
    rank: int
    projection: VocabProjection
    contexts: tuple[Context, ...]
    tagging: Tagging
    score: float | None = None
    bias: BiasView | None = None

    @property
    def name(self) -> str:
        return f"L{self.layer}.N{self.neuron}"


@dataclass
class Explanation:
    """The cards of a neuron set, with what they were computed on (``meta``)."""

    domain: str
    cards: list[NeuronCard]
    meta: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, int]:
        """Neurons per tag, most common first."""
        return dict(Counter(card.tagging.tag for card in self.cards).most_common())

    def summary_line(self) -> str:
        """E.g. ``of 50 gender neurons, 31 gendered-context, 9 pronoun-writer, 10 unclear``."""
        counts = ", ".join(f"{n} {tag}" for tag, n in self.summary().items())
        return f"of {len(self.cards)} {self.domain} neurons, {counts}"

    def to_dict(self) -> dict[str, Any]:
        cards = []
        for card in self.cards:
            entry = asdict(card)
            entry["name"] = card.name
            entry["contexts"] = [dict(asdict(c), text=c.text) for c in card.contexts]
            cards.append(entry)
        return {"format": "neuronedit.explain/1", "domain": self.domain, "summary": self.summary(),
                "meta": self.meta, "cards": cards}

    def _repr_html_(self) -> str:
        from .html import cards_html

        return cards_html(self, standalone=False)


def _base_share(windows: Sequence[Sequence[int]], tokenizer: Any, terms: Iterable[str], span: int) -> float:
    """Share of corpus windows whose middle ``span`` tokens contain a group term (the tag's baseline)."""
    if not windows:
        return 0.0
    hits = 0
    for ids in windows:
        middle = max(0, len(ids) // 2 - span // 2)
        hits += has_term(tokenizer.decode(list(ids[middle : middle + span])), terms)
    return hits / len(windows)


def explain(lm: LanguageModel, neurons: NeuronSet, *, domain: str = "gender", text: str | Iterable[str] | None = None,
            max_tokens: int = 20_000, window: int = 64, n_top: int = 8, k_tokens: int = 10,
            pairs: Sequence[Any] | None = None, scores: NeuronScores | None = None, batch_size: int = 8,
            n_boot: int = 1000, progress: bool = False) -> Explanation:
    """Explain ``neurons`` of ``lm``: promoted/suppressed tokens, top contexts, bias view and tag.

    Args:
        domain: the bias domain the neurons were located for (``gender``, ``race``, ``religion``);
            chooses the tag's word list.
        text: the corpus for top contexts, a string or its pieces in order (default: the bundled
            WikiText-2 validation text); its first ``max_tokens`` tokens, in windows of ``window`` tokens.
        n_top: top contexts kept per neuron; ``k_tokens``: promoted and suppressed tokens shown.
        pairs: minimal pairs for the bias view (usually the data the neurons were located on).
        scores: the attribution scores, for each neuron's score and sign consistency.
    """
    return explain_domains(lm, {domain: neurons}, text=text, max_tokens=max_tokens, window=window, n_top=n_top,
                           k_tokens=k_tokens, pairs={domain: pairs} if pairs else None,
                           scores={domain: scores} if scores is not None else None, batch_size=batch_size,
                           n_boot=n_boot, progress=progress)[domain]


def explain_domains(lm: LanguageModel, neurons: Mapping[str, NeuronSet], *, text: str | Iterable[str] | None = None,
                    max_tokens: int = 20_000, window: int = 64, n_top: int = 8, k_tokens: int = 10,
                    pairs: Mapping[str, Sequence[Any] | None] | None = None,
                    scores: Mapping[str, NeuronScores] | None = None, batch_size: int = 8, n_boot: int = 1000,
                    progress: bool = False) -> dict[str, Explanation]:
    """:func:`explain` for several domains' neuron sets with one pass over the corpus for all of them."""
    unknown = [d for d in neurons if d not in GROUP_TERMS]
    if unknown:
        raise InputError(f"no word list for domain {unknown[0]!r}; choose one of {', '.join(GROUP_TERMS)}")
    if not neurons or any(not len(s) for s in neurons.values()):
        raise InputError("nothing to explain: the neuron set is empty")
    widths = [site.n_neurons for site in lm.sites]
    for domain, chosen in neurons.items():
        chosen.check_fits(widths, f"{domain} neurons to explain")
    started = time.time()
    fingerprint = lm.fingerprint()  # hashes every weight: once, not once per domain
    if text is None:
        from ..data import load

        text = load("text").chunks()
    context = max_positions(lm.model)
    if context is not None:
        window = min(window, context - 1)  # each window runs after the start token
    windows = corpus_windows(lm.tokenizer, text, window=window, max_tokens=max_tokens)
    union = NeuronSet(dict.fromkeys(n for chosen in neurons.values() for n in chosen))
    position = {n: k for k, n in enumerate(union)}
    projections = vocab_projection(lm, union, k_tokens)  # first: it fails fast (e.g. offloaded weights)
    found = top_contexts(lm, union, windows, n_top=n_top, batch_size=batch_size, progress=progress)
    contexts = contexts_of(lm, found, windows)
    out = {}
    for domain, chosen in neurons.items():
        domain_pairs = (pairs or {}).get(domain)
        domain_scores = (scores or {}).get(domain)
        views = (bias_views(lm, chosen, domain_pairs, domain_scores, n_boot=n_boot) if domain_pairs
                 else [None] * len(chosen))
        base = _base_share(windows, lm.tokenizer, GROUP_TERMS[domain], span=17)
        cards = []
        for rank, ((layer, n), view) in enumerate(zip(chosen, views)):
            ctx, projection = contexts[position[(layer, n)]], projections[position[(layer, n)]]
            tagging = tag_neuron(domain, [t.token for t in projection.promoted], [c.text for c in ctx],
                                 base_share=base)
            score = float(domain_scores.scores[layer, n]) if domain_scores is not None else None
            cards.append(NeuronCard(layer, n, rank + 1, projection, tuple(ctx), tagging, score, view))
        meta = {"model": lm.name, "fingerprint": fingerprint, "tokens": sum(len(w) for w in windows),
                "windows": len(windows), "window": window, "n_top": n_top, "pairs": len(domain_pairs or []),
                "base_share": round(base, 4), "seconds": round(time.time() - started, 1)}
        out[domain] = Explanation(domain, cards, meta)
    return out
