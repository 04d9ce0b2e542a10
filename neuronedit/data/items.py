"""Typed items returned by the loaders.

Every pair-like item exposes ``.more`` / ``.less`` (the more- and less-stereotypical text)
and ``.bias_type``, so attribution objectives and metrics accept any of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attributions.errors import InputError

from .reading import text_chunks, text_lines

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


class _LazyText:
    """The ``text`` field of :class:`TextCorpus`: the string given, else the file at ``path``, read in full
    on first use (and kept; at most :data:`~neuronedit.data.reading.MAX_TEXT_CHARS` characters).
    A required field: the class-level lookup raises, so it has no default."""

    def __get__(self, corpus: TextCorpus | None, owner: type | None = None) -> str:
        if corpus is None:
            raise AttributeError("text")
        if corpus.__dict__.get("_text") is None:
            corpus.__dict__["_text"] = "".join(corpus.chunks())
        return corpus.__dict__["_text"]

    def __set__(self, corpus: TextCorpus, value: str | None) -> None:
        corpus.__dict__["_text"] = value


@dataclass(frozen=True)
class TextCorpus:
    """Plain text for perplexity; ``bias_type`` is ``"none"``.

    ``unit="window"`` scores the text with strided windows; ``unit="line"`` scores every line as
    an independent text (for collections of short sentences), which also makes lines the units
    that the bootstrap resamples.

    A corpus loaded from a file has ``text=None`` and ``path`` set: :meth:`chunks` streams the file,
    so a token limit reads only what it needs, ``.text`` reads the whole file on first use, and
    :meth:`lines` reads it line by line.
    """

    if TYPE_CHECKING:  # for mypy a required field (the descriptor's class-level lookup raises: no default)
        text: str
    else:
        text: str = _LazyText()
    id: str
    source: str
    bias_type: str = "none"
    unit: str = "window"
    path: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.__dict__.get("_text") is None and self.path is None:
            raise InputError(f"TextCorpus {self.id!r} needs its text or the path of a file")

    def chunks(self, size: int = 1 << 14) -> Iterator[str]:
        """The text in pieces of up to ``size`` characters; a file is read only as far as they are consumed."""
        text = self.__dict__.get("_text")
        if text is None:
            yield from text_chunks(self.path, size)  # type: ignore[arg-type]
        else:
            yield from (text[start : start + size] for start in range(0, len(text), size))

    def lines(self, limit: int | None = None) -> list[str]:
        """The first ``limit`` (default all) non-blank lines of the text, unchanged (one text per line: prompts,
        forget or retain sets); a file is read line by line, only as far as needed, with the caps of
        :func:`~neuronedit.data.reading.text_lines`."""
        text = self.__dict__.get("_text")
        if text is None:
            return text_lines(self.path, limit)  # type: ignore[arg-type]
        return [line for line in text.splitlines() if line.strip()][:limit]

    def __repr__(self) -> str:
        return f"TextCorpus(id={self.id!r}, source={self.source!r}, unit={self.unit!r}, path={self.path!r})"
