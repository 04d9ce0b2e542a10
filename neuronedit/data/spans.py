"""Harmful spans derived from a minimal pair: where the stereotypical sentence differs from its counterpart."""

from __future__ import annotations

import difflib
import re

__all__ = ["diff_char_spans"]


def diff_char_spans(more: str, less: str) -> list[tuple[int, int]]:
    """Character spans ``[(start, end)]`` of the words of ``more`` that are not in ``less`` (aligned by word)."""
    words = [(m.start(), m.end(), m.group()) for m in re.finditer(r"\S+", more)]
    other = re.findall(r"\S+", less)
    matcher = difflib.SequenceMatcher(a=[w for _, _, w in words], b=other, autojunk=False)
    spans = []
    for tag, i1, i2, _, _ in matcher.get_opcodes():
        if tag in ("replace", "delete") and i2 > i1:
            spans.append((words[i1][0], words[i2 - 1][1]))
    return spans
