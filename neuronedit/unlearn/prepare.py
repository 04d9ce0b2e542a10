"""Unlearning, step 1: the methods, and the forget, counterpart, retain and monitor rows a run trains and checks on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from attributions import ForgetLoss, LanguageModel
from attributions.errors import InputError
from attributions.forward import max_positions
from attributions.objectives import pair_texts
from attributions.registry import Registry

from ..data.neutral import NEUTRAL_TEXTS
from ..data.realtext import monitor_sentences
from ..data.spans import diff_char_spans

__all__ = ["UNLEARNING_METHODS", "UnlearnData", "UnlearnMethod", "forget_objectives", "prepare"]


@dataclass(frozen=True)
class UnlearnMethod:
    """How a method treats the forget items.

    Attributes:
        loss: ``ascent`` (minimise the marked tokens' log-likelihood) or ``max_entropy``.
        marked_only: act on the marked (harmful) tokens only, not the whole text.
        keep_counterpart: also learn the pair's other side (its differing tokens), as ``dual`` does.
        guard: stop when the held-in bias measure crosses 50% (polarity reversal).
    """

    name: str
    loss: str
    marked_only: bool
    keep_counterpart: bool = False
    guard: bool = False


UNLEARNING_METHODS: Registry[UnlearnMethod] = Registry("unlearning method", {
    "gradient_ascent": UnlearnMethod("gradient_ascent", "ascent", marked_only=False),
    "masked_token": UnlearnMethod("masked_token", "ascent", marked_only=True),
    "max_entropy": UnlearnMethod("max_entropy", "max_entropy", marked_only=True),
    "dual": UnlearnMethod("dual", "ascent", marked_only=True, keep_counterpart=True, guard=True),
})


def _with_prefix(prefix: str, text: str, spans: list[tuple[int, int]]) -> tuple[str, list[tuple[int, int]]]:
    if not prefix:
        return text, spans
    shift = len(prefix) + 1
    return f"{prefix} {text}", [(a + shift, b + shift) for a, b in spans]


def forget_objectives(forget: Sequence[Any], spans: Sequence[Sequence[tuple[int, int]]] | None,
                      method: UnlearnMethod) -> tuple[ForgetLoss, ForgetLoss | None, list[Any] | None]:
    """The forget objective, the counterpart objective (``dual``) and the pairs (for the guard)."""
    is_pairs = bool(forget) and not isinstance(forget[0], str)
    if not is_pairs:
        if method.keep_counterpart or method.guard:
            raise InputError(f"method {method.name!r} needs minimal pairs (more/less), not plain texts")
        if method.marked_only and spans is None:
            raise InputError(f"method {method.name!r} acts on marked tokens, and plain texts mark none: give "
                             "minimal pairs (--forget stereoset:FILE, crows:FILE or probes:DOMAIN), whose differing "
                             "words are marked, or in Python spans=[[(start, end), ...], ...] per text")
        return ForgetLoss(list(forget), spans if method.marked_only else None), None, None
    texts, marks, others, other_marks = [], [], [], []
    for item in forget:
        more, less, prefix = pair_texts(item)
        text, span = _with_prefix(prefix, more, diff_char_spans(more, less))
        other, other_span = _with_prefix(prefix, less, diff_char_spans(less, more))
        texts.append(text)
        marks.append(span)
        others.append(other)
        other_marks.append(other_span)
    objective = ForgetLoss(texts, marks if method.marked_only else None)
    counterpart = ForgetLoss(others, other_marks) if method.keep_counterpart else None
    return objective, counterpart, list(forget)


@dataclass
class UnlearnData:
    """Encoded rows of one run (each row one text with its scored terms, see ``attributions.forward``).

    Attributes:
        forget_rows: what the update pushes down.
        counter_rows: the pair's other side, aligned with ``forget_rows`` (``dual``), else None.
        retain_rows: texts whose modelling the loss keeps (may be empty).
        monitor_rows: real text the perplexity ceiling watches, never trained on.
        pairs: the forget pairs (the guard's held-in bias), or None for plain texts.
        skipped: ``(index, reason)`` of forget items that could not be encoded.
    """

    forget_rows: list[Any]
    counter_rows: list[Any] | None
    retain_rows: list[Any]
    monitor_rows: list[Any]
    pairs: list[Any] | None
    skipped: list[tuple[int, str]]


def prepare(lm: LanguageModel, forget: Sequence[Any], method: UnlearnMethod, *,
            spans: Sequence[Sequence[tuple[int, int]]] | None = None, retain: Sequence[str] | None = None,
            max_retain_texts: int = 64, monitor: Sequence[str] | None = None) -> UnlearnData:
    """Encode the forget items (and their counterparts), the retain texts (default: the built-in
    neutral corpus) and the monitored real text (default: :func:`~neuronedit.data.realtext.monitor_sentences`)."""
    tokenizer, limit = lm.tokenizer, max_positions(lm.model)
    objective, counterpart, pairs = forget_objectives(list(forget), spans, method)
    encoded = objective.encode(tokenizer, limit)
    counter_rows = None
    forget_rows = list(encoded.rows)
    if counterpart is not None:
        counter_encoded = counterpart.encode(tokenizer, limit)
        by_input = dict(zip(counter_encoded.kept, counter_encoded.rows))
        keep = [k for k, i in enumerate(encoded.kept) if i in by_input]
        counter_rows = [by_input[encoded.kept[k]] for k in keep]
        forget_rows = [encoded.rows[k] for k in keep]
    retain_texts = list(retain if retain is not None else NEUTRAL_TEXTS)[:max_retain_texts]
    monitor_texts = list(monitor if monitor is not None else monitor_sentences())
    return UnlearnData(
        forget_rows=forget_rows, counter_rows=counter_rows,
        retain_rows=ForgetLoss(retain_texts).encode(tokenizer, limit).rows if retain_texts else [],
        monitor_rows=ForgetLoss(monitor_texts).encode(tokenizer, limit).rows if monitor_texts else [],
        pairs=pairs, skipped=list(encoded.skipped),
    )
