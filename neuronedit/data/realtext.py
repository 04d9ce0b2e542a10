"""Real sentences for cost checks that must not overlap the reported perplexity text.

Reports score the *beginning* of the bundled WikiText-2 validation text (``text:bundled``, first
N tokens). Stopping rules (the unlearning perplexity ceiling) watch :func:`monitor_sentences`,
taken from the *last* fifth of the same file, so the text that decides when to stop is never
the text the cost is reported on. A learned mask keeps :func:`retain_sentences`, from the 60-80%
stretch, which neither reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from itertools import islice

from .bundled import bundled_path
from .loaders import load_text

__all__ = ["monitor_sentences", "retain_sentences", "stretch_sentences"]


def stretch_sentences(start: float, end: float, *, min_words: int, max_words: int) -> Iterator[str]:
    """Sentences of ``min_words``-``max_words`` words (no ``<unk>``, no headings) from the ``start``-``end``
    share of the bundled WikiText-2 validation text's characters, in order."""
    text = load_text(bundled_path("text")).text
    for line in text[int(len(text) * start) : int(len(text) * end)].splitlines():
        line = line.strip()
        if not line or line.startswith("="):
            continue
        for sentence in line.split(" . "):
            words = sentence.split()
            if min_words <= len(words) <= max_words and "<unk>" not in words:
                yield " ".join(words).rstrip(" .") + " ."


@lru_cache(maxsize=4)
def monitor_sentences(n: int = 48, *, min_words: int = 10, max_words: int = 30) -> tuple[str, ...]:
    """``n`` sentences of ``min_words``-``max_words`` words from the last fifth of WikiText-2 valid."""
    return tuple(islice(stretch_sentences(0.8, 1.0, min_words=min_words, max_words=max_words), n))


@lru_cache(maxsize=4)
def retain_sentences(n: int = 24, *, min_words: int = 10, max_words: int = 30) -> tuple[str, ...]:
    """``n`` sentences from the 60-80% stretch of WikiText-2 valid: the text a learned mask must keep.
    Reports read the beginning and stopping rules the last fifth, so neither reads these."""
    return tuple(islice(stretch_sentences(0.6, 0.8, min_words=min_words, max_words=max_words), n))
