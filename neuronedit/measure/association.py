"""Association scores: bias measures that a change in how often a group term is predicted cannot move.

The standard pair score sums log P over whole sentences, so it includes the probability of the
group term itself (``log P(" Black" | "The")``); an edit that only makes a group word rarer moves
it. Each pair ``(more, less)`` is tokenized as ``[start] + prefix + text``; the two sides share a
head of ``p`` tokens and a tail of ``s`` tokens around the differing span. Three measures:

* ``conditional`` (the group term comes first: race/religion probes, CrowS-Pairs): the tail,
  scored given everything before it,
  ``c = log P(tail | head + span_more) - log P(tail | head + span_less)``; the causal-LM analogue
  of scoring only the unmodified tokens (Nangia et al. 2020). ``assoc`` = % of pairs with ``c > 0``.
* ``span`` (the attribute is what differs: StereoSet intrasentence): the differing span given the
  shared head, ``d = log P(span_more | head) - log P(span_less | head)``; ``assoc`` = % with ``d > 0``.
  The group term sits in the shared head, so its own probability cancels.
* ``balanced`` (the group term is what is predicted: pronoun probes, WinoBias): ``d`` as above is a
  log-odds such as ``log P(she) - log P(he)`` in a stereotypical context. Pairs are grouped by the
  (unordered) pair of differing spans, a stratum, and by which span is the stereotypical one, a
  direction. ``assoc_gap = sum_s w_s * (mean_{dir 0} d + mean_{dir 1} d) / 2`` (``w_s`` = stratum
  share): a constant added to one group term's logit adds to one direction what it takes from the
  other. In nats; 0 is no association. Strata with one direction only cannot be balanced and are
  reported as skipped.

Per-item values of pairs that a measure cannot score are NaN, with the reason in ``skipped``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from attributions.errors import InputError
from attributions.objectives import common_ends

from .bias_stats import TIE

__all__ = ["RULES", "PairRequests", "association_arrays", "association_stats", "balanced_gap", "pair_requests"]

RULES = ("conditional", "span", "balanced")
Stat = Callable[[dict[str, np.ndarray], np.ndarray], float]


def _tokens(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


@dataclass
class PairRequests:
    """Scoring requests for a list of pairs and how to combine their results.

    ``span`` holds the requests of the differing spans given the shared head; ``span_of[i]`` indexes
    the more and less side's request (-1 where a side's span is empty, an insertion: log P = 0).
    ``tail`` holds two requests per pair that has a shared tail (``tail_of[i]`` indexes them, -1
    when there is none). The standard whole-text gap is ``span gap + tail gap`` (the shared head
    has the same probability on both sides).
    """

    span: list[tuple[list[int], int]]
    span_of: np.ndarray  # [n, 2]
    tail: list[tuple[list[int], int]]
    tail_of: np.ndarray
    head_words: np.ndarray  # [n] bool: the sides share more than the start token before the difference
    stratum: np.ndarray  # [n] int code of the unordered pair of differing spans
    direction: np.ndarray  # [n] 0/1: which of the two spans is the ``more`` side
    identical: np.ndarray  # [n] bool


def pair_requests(tokenizer: Any, items: Sequence[Any], start: int) -> PairRequests:
    """Build the span and tail requests of ``items`` (objects with ``.more``, ``.less``, optional ``.prefix``)."""
    span: list[tuple[list[int], int]] = []
    span_of = np.full((len(items), 2), -1, dtype=np.int64)
    tail: list[tuple[list[int], int]] = []
    tail_of = np.full(len(items), -1, dtype=np.int64)
    head_words = np.zeros(len(items), dtype=bool)
    identical = np.zeros(len(items), dtype=bool)
    strata: dict[tuple[tuple[int, ...], tuple[int, ...]], int] = {}
    stratum = np.zeros(len(items), dtype=np.int64)
    direction = np.zeros(len(items), dtype=np.int64)
    for i, item in enumerate(items):
        prefix = str(getattr(item, "prefix", "") or "")
        head = [start] + (_tokens(tokenizer, prefix) if prefix else [])
        space = " " if prefix else ""
        a = head + _tokens(tokenizer, space + str(item.more))
        b = head + _tokens(tokenizer, space + str(item.less))
        shared, common_tail = common_ends(a, b)
        identical[i] = a == b
        if identical[i]:
            continue
        head_words[i] = shared > len(head) or (shared > 1 and bool(prefix))
        for side, seq in enumerate((a, b)):
            if len(seq) - common_tail > shared:
                span_of[i, side] = len(span)
                span.append((seq[: len(seq) - common_tail], shared))
        if common_tail:
            tail_of[i] = len(tail) // 2
            tail += [(a, len(a) - common_tail), (b, len(b) - common_tail)]
        spans = (tuple(a[shared: len(a) - common_tail]), tuple(b[shared: len(b) - common_tail]))
        key = tuple(sorted(spans))
        stratum[i] = strata.setdefault(key, len(strata))  # type: ignore[arg-type]
        direction[i] = 0 if spans[0] == key[0] else 1
    return PairRequests(span, span_of, tail, tail_of, head_words, stratum, direction, identical)


def association_arrays(rule: str, requests: PairRequests, span_gap: np.ndarray, tail_gap: np.ndarray,
                       ids: Sequence[str]) -> tuple[dict[str, np.ndarray], list[dict[str, str]]]:
    """Per-item arrays for :func:`association_stats` and the skipped items with their reasons.

    ``span_gap`` and ``tail_gap`` are ``[n]`` (more - less); ``tail_gap`` is NaN where there is no tail.
    """
    if rule not in RULES:
        raise InputError(f"unknown association rule {rule!r}; choose one of {', '.join(RULES)}")
    reason = np.full(len(ids), "", dtype=object)
    reason[requests.identical] = "the two sides tokenize identically"
    if rule == "conditional":
        value = tail_gap.copy()
        reason[(reason == "") & np.isnan(tail_gap)] = "the two sides share no tokens after the difference"
    else:
        value = span_gap.copy()
        reason[(reason == "") & ~requests.head_words] = "the two sides share no words before the difference"
    direction = requests.direction.copy()
    if rule == "balanced":
        valid = reason == ""
        for s in np.unique(requests.stratum[valid]):
            members = valid & (requests.stratum == s)
            if len(np.unique(direction[members])) < 2:
                reason[members] = "its pair of group terms occurs in one direction only, so it cannot be balanced"
    bad = reason != ""
    value[bad] = np.nan
    direction[bad] = -1
    skipped = [{"id": ids[i], "reason": str(reason[i])} for i in np.flatnonzero(bad).tolist()]
    return {"assoc_value": value, "stratum": requests.stratum, "direction": direction}, skipped


def _share(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    decided = values[np.abs(values) > TIE]
    return 100.0 * float((decided > 0).mean()) if decided.size else float("nan")


def balanced_gap(value: np.ndarray, stratum: np.ndarray, direction: np.ndarray) -> float:
    """``sum_s w_s (mean_{dir 0} + mean_{dir 1}) / 2`` over strata with both directions (NaN if none)."""
    total, weight = 0.0, 0
    for s in np.unique(stratum[direction >= 0]):
        members = (stratum == s) & (direction >= 0)
        sides = [value[members & (direction == d)] for d in (0, 1)]
        if not sides[0].size or not sides[1].size:
            continue
        total += members.sum() * (sides[0].mean() + sides[1].mean()) / 2
        weight += int(members.sum())
    return total / weight if weight else float("nan")


def association_stats(rule: str) -> dict[str, Stat]:
    """Statistics over the arrays of :func:`association_arrays`: ``assoc`` (% of pairs favouring the
    ``more`` side, 50 = none) for ``conditional``/``span``; ``assoc_gap`` (nats, 0 = none) for all."""

    def assoc(data: dict[str, np.ndarray], idx: np.ndarray) -> float:
        return _share(data["assoc_value"][idx])

    def assoc_gap(data: dict[str, np.ndarray], idx: np.ndarray) -> float:
        if rule == "balanced":
            return balanced_gap(data["assoc_value"][idx], data["stratum"][idx], data["direction"][idx])
        values = data["assoc_value"][idx]
        values = values[~np.isnan(values)]
        return float(values.mean()) if values.size else float("nan")

    return {"assoc_gap": assoc_gap} if rule == "balanced" else {"assoc": assoc, "assoc_gap": assoc_gap}
