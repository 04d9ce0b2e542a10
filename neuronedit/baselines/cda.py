"""Counterfactual data augmentation (CDA): a short fine-tune on real text and its group-swapped copy.

The text is WikiText-2 validation sentences (bundled) from the part neither the reported perplexity
(the first tokens) nor the stopping rule's monitor (the last fifth) reads: its 25%-80% stretch.
Every sentence that uses one group's words is kept with its counterfactual in each other group
(two-sided CDA for gender). Training is the unlearning loop with a plain language-modelling loss
over every token, under the same budget rules: seeded, AdamW, the retain-perplexity ceiling on the
monitor sentences with roll-back, and the weight delta in the returned :class:`Edit`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from attributions import LanguageModel
from attributions.errors import InputError

from ..data.bundled import bundled_path
from ..data.groups import GROUPS, group_of, swap_groups
from ..data.loaders import load_text
from ..data.realtext import stretch_sentences
from ..edits.record import Edit
from ..unlearn.prepare import UnlearnMethod
from ..unlearn.train import unlearn

__all__ = ["CDA", "cda", "cda_texts", "counterfactual_texts", "reported_text_overlaps"]

CDA = UnlearnMethod("cda", "descent", marked_only=False)
"""Not unlearning: language modelling of every token of the augmented text, in the unlearning loop."""


def counterfactual_texts(texts: Sequence[str], domain: str) -> list[str]:
    """Each text that uses one group's words, followed by its copies in every other group."""
    out: list[str] = []
    for text in texts:
        if group_of(text, domain) is None:
            continue
        out += [swap_groups(text, domain, shift) if shift else text for shift in range(len(GROUPS[domain]))]
    return out


START, END = 0.25, 0.8
"""The stretch of the bundled WikiText-2 validation text CDA trains on (shares of its characters)."""


def reported_text_overlaps(tokenizer: object, ppl_tokens: int | None) -> bool:
    """Whether perplexity over the first ``ppl_tokens`` tokens of the bundled text (None: all of it)
    would read text CDA trains on."""
    if ppl_tokens is None:
        return True
    text = load_text(bundled_path("text")).text
    before = tokenizer(text[: int(len(text) * START)], add_special_tokens=False)["input_ids"]  # type: ignore[operator]
    return ppl_tokens > len(before)


@lru_cache(maxsize=4)
def _middle_sentences(min_words: int = 8, max_words: int = 40) -> tuple[str, ...]:
    return tuple(stretch_sentences(START, END, min_words=min_words, max_words=max_words))


def cda_texts(domain: str, max_texts: int = 256) -> list[str]:
    """Augmented training text for ``domain``: WikiText-2 sentences of the middle stretch with group
    words, each with its counterfactuals (at most ``max_texts`` in all, whole groups of copies)."""
    if domain not in GROUPS or max_texts < len(GROUPS.get(domain, ())):
        raise InputError(f"CDA needs a domain with group words ({', '.join(GROUPS)}) and max_texts of at least "
                         "one text per group")
    per_text = len(GROUPS[domain])
    return counterfactual_texts(_middle_sentences(), domain)[: max(max_texts // per_text, 1) * per_text]


def cda(lm: LanguageModel, domain: str = "gender", *, texts: Sequence[str] | None = None, max_texts: int = 256,
        lr: float = 1e-5, steps: int = 40, batch_size: int = 8, max_retain_ppl_increase: float | None = 0.05,
        knowledge: Sequence[Any] | None = None, seed: int = 0, progress: bool = False) -> Edit:
    """Fine-tune ``lm`` in place on counterfactually augmented text (``texts``: default :func:`cda_texts`)
    and return the edit (mode ``unlearn`` with its weight delta, provenance ``method: cda``).
    The defaults are the unlearning defaults: the same budget as the edits it is compared with."""
    if domain not in GROUPS:
        raise InputError(f"no group words for domain {domain!r}; choose one of {', '.join(GROUPS)}")
    augmented = list(texts) if texts is not None else cda_texts(domain, max_texts)
    if not augmented:
        raise InputError(f"no {domain} text with group words to augment")
    return unlearn(lm, augmented, CDA, retain_weight=0.0, lr=lr, steps=steps, batch_size=batch_size,
                   max_retain_ppl_increase=max_retain_ppl_increase, knowledge=knowledge, seed=seed,
                   progress=progress, provenance={"baseline": "cda", "domain": domain, "texts": len(augmented)})
