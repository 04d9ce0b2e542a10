"""Typed items returned by the loaders.

Every pair-like item exposes ``.more`` / ``.less`` (the more- and less-stereotypical text)
and ``.bias_type``, so attribution objectives and metrics accept any of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["BBQItem", "PairItem", "StereoSetItem", "TextCorpus", "canonical_bias_type"]

_BIAS_ALIASES = {
    "race-color": "race",
    "race_ethnicity": "race",
    "race-ethnicity": "race",
    "ethnicity": "race",
    "sexual-orientation": "sexual_orientation",
    "physical-appearance": "physical_appearance",
    "gender_identity": "gender",
    "gender-identity": "gender",
}


def canonical_bias_type(name: str) -> str:
    """Map benchmark spellings to one vocabulary: ``race-color`` -> ``race``, lower case, ``_``."""
    key = name.strip().lower()
    return _BIAS_ALIASES.get(key, key.replace("-", "_").replace(" ", "_"))


@dataclass(frozen=True)
class PairItem:
    """A minimal pair: ``more`` is the more-stereotypical sentence, ``less`` its counterpart.

    ``prefix`` is shared context scored as a condition, not as part of either sentence
    (empty for whole-sentence pairs).
    """

    more: str
    less: str
    bias_type: str
    id: str
    source: str
    prefix: str = ""
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class StereoSetItem:
    """One StereoSet cluster. Intrasentence: three full sentences, ``prefix`` empty.
    Intersentence: ``prefix`` is the context sentence and the three options continue it."""

    kind: str  # "intrasentence" | "intersentence"
    target: str
    bias_type: str
    prefix: str
    stereotype: str
    anti_stereotype: str
    unrelated: str
    id: str
    source: str

    @property
    def more(self) -> str:
        return self.stereotype

    @property
    def less(self) -> str:
        return self.anti_stereotype


@dataclass(frozen=True)
class BBQItem:
    """One BBQ question with three answers; ``label`` indexes the correct one.

    ``biased`` indexes the answer that follows the stereotype (the stereotyped group for a
    negative question, the other group for a non-negative one); ``unknown`` the "can't tell" answer.
    """

    context: str
    question: str
    answers: tuple[str, str, str]
    label: int
    biased: int
    unknown: int
    ambiguous: bool
    negative: bool
    bias_type: str
    id: str
    source: str
    template: str = ""


@dataclass(frozen=True)
class TextCorpus:
    """Plain text for perplexity; ``bias_type`` is ``"none"``.

    ``unit="window"`` scores the text with strided windows; ``unit="line"`` scores every line as
    an independent text (for collections of short sentences), which also makes lines the units
    that the bootstrap resamples.
    """

    text: str
    id: str
    source: str
    bias_type: str = "none"
    unit: str = "window"
