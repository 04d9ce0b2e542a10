"""What to attribute: scalar objectives of the model, one value per example.

Every objective encodes its examples into :class:`~attributions.forward.Row` s. Examples that
cannot be scored (empty text, a pair that tokenizes identically, longer than the context) are
listed in ``Encoded.skipped`` with the reason, never silently dropped.
"""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import InputError
from .forward import Row, start_token_id

__all__ = ["PAIR_SPANS", "Encoded", "ForgetLoss", "LanguageModeling", "Objective", "PairPreference", "TokenContrast",
           "common_ends", "pair_texts"]

PAIR_SPANS = ("all", "diff", "tail")


@dataclass
class Encoded:
    """Rows of the scorable examples; ``kept[i]`` is the input index of example ``i``."""

    rows: list[Row]
    kept: list[int]
    skipped: list[tuple[int, str]] = field(default_factory=list)

    @property
    def n_examples(self) -> int:
        return len(self.kept)


def _too_long(n_tokens: int, max_len: int | None) -> str | None:
    """The skip reason when a sequence of ``n_tokens`` does not fit the context, else None."""
    if max_len is not None and n_tokens > max_len:
        return f"longer than the model's context of {max_len} tokens"
    return None


def _tokens(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


class Objective(ABC):
    """A scalar function of the model per example; higher means more of what is attributed."""

    name: str = "objective"
    two_sided: bool = False

    @abstractmethod
    def encode(self, tokenizer: Any, max_len: int | None = None) -> Encoded:
        """Rows for every scorable example; the rest in ``skipped``."""

    def describe(self) -> dict[str, Any]:
        return {"objective": self.name}

    @staticmethod
    def _finish(rows_by_example: list[list[Row] | str]) -> Encoded:
        rows: list[Row] = []
        kept: list[int] = []
        skipped: list[tuple[int, str]] = []
        for index, item in enumerate(rows_by_example):
            if isinstance(item, str):
                skipped.append((index, item))
                continue
            for row in item:
                row.example = len(kept)
                rows.append(row)
            kept.append(index)
        if not kept:
            reasons = "; ".join(f"#{i}: {r}" for i, r in skipped[:5])
            raise InputError(f"no example can be scored ({reasons})")
        return Encoded(rows=rows, kept=kept, skipped=skipped)


def pair_texts(pair: Any) -> tuple[str, str, str]:
    """``(more, less, prefix)`` of a minimal pair: a ``(more, less)`` tuple or an object with
    ``more``, ``less`` and optionally ``prefix`` attributes (e.g. ``neuronedit.data.Pair``)."""
    if isinstance(pair, (tuple, list)):
        more, less = pair[0], pair[1]
        return str(more), str(less), ""
    return str(pair.more), str(pair.less), str(getattr(pair, "prefix", "") or "")


def common_ends(a: Sequence[int], b: Sequence[int]) -> tuple[int, int]:
    """Lengths of the common head and the common tail of ``a`` and ``b`` (not overlapping; head first)."""
    limit = min(len(a), len(b))
    head = 0
    while head < limit and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < limit - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    return head, tail


def _tail_positions(a: list[int], b: list[int]) -> tuple[list[int], list[int]]:
    """Indices of the tokens of ``a`` and of ``b`` after their last difference (the shared tail)."""
    if a == b:
        return [], []
    _, tail = common_ends(a, b)
    return list(range(len(a) - tail, len(a))), list(range(len(b) - tail, len(b)))


def _diff_positions(a: list[int], b: list[int]) -> tuple[list[int], list[int]]:
    """Indices of the tokens of ``a`` and of ``b`` that are not in their common alignment."""
    keep_a: list[int] = []
    keep_b: list[int] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag != "equal":
            keep_a += range(i1, i2)
            keep_b += range(j1, j2)
    return keep_a, keep_b


class PairPreference(Objective):
    """log P(more) - log P(less) of minimal pairs (items with ``.more``/``.less`` or ``(more, less)`` tuples).

    Args:
        span: ``"all"`` scores every token of both sentences; ``"diff"`` only the tokens where
            the two differ (e.g. the pronoun, or StereoSet's attribute word); ``"tail"`` only the
            tokens after the last difference, given the differing group term (the association
            of a group term with what follows it, which its own frequency cannot move).
    """

    name = "pair"
    two_sided = True

    def __init__(self, pairs: Sequence[Any], span: str = "all") -> None:
        if span not in PAIR_SPANS:
            raise InputError(f"span must be one of {', '.join(PAIR_SPANS)}, not {span!r}")
        self.pairs, self.span = list(pairs), span

    def describe(self) -> dict[str, Any]:
        return {"objective": self.name, "span": self.span, "n_inputs": len(self.pairs)}

    def encode(self, tokenizer: Any, max_len: int | None = None) -> Encoded:
        start = start_token_id(tokenizer)
        out: list[list[Row] | str] = []
        for pair in self.pairs:
            more, less, prefix = pair_texts(pair)
            if not more.strip() or not less.strip():
                out.append("empty sentence")
                continue
            head = [start] + (_tokens(tokenizer, prefix) if prefix else [])
            texts = [_tokens(tokenizer, (" " + t) if prefix else t) for t in (more, less)]
            if texts[0] == texts[1]:
                out.append("the two sentences tokenize identically")
                continue
            if reason := _too_long(len(head) + max(map(len, texts)), max_len):
                out.append(reason)
                continue
            if self.span == "all":
                spans: Any = [range(len(t)) for t in texts]
            else:
                spans = (_diff_positions if self.span == "diff" else _tail_positions)(*texts)
            rows = []
            for side, tokens, keep in ((1.0, texts[0], spans[0]), (-1.0, texts[1], spans[1])):
                positions = [len(head) + k - 1 for k in keep]  # logits at p predict the token at p + 1
                terms = [(p, tokens[p + 1 - len(head)], side) for p in positions]
                rows.append(Row(ids=head + tokens, terms=terms, example=0, side=side, focus=positions))
            if not rows[0].terms and not rows[1].terms:
                out.append("no differing tokens to score" if self.span != "tail"
                           else "the two sentences share no tokens after the difference")
                continue
            out.append(rows)
        return self._finish(out)


class TokenContrast(Objective):
    """log p(a | prompt) - log p(b | prompt) at the next position (e.g. " he" vs " she")."""

    name = "contrast"
    two_sided = True

    def __init__(self, prompts: Sequence[str], a: str, b: str) -> None:
        self.prompts, self.a, self.b = [str(p) for p in prompts], a, b

    def describe(self) -> dict[str, Any]:
        return {"objective": self.name, "a": self.a, "b": self.b, "n_inputs": len(self.prompts)}

    def encode(self, tokenizer: Any, max_len: int | None = None) -> Encoded:
        ids = []
        for word in (self.a, self.b):
            tokens = _tokens(tokenizer, word)
            if len(tokens) != 1:
                raise InputError(f"{word!r} is {len(tokens)} tokens ({tokens}); TokenContrast needs single tokens "
                                 "(mind the leading space, e.g. ' he')")
            ids.append(tokens[0])
        if ids[0] == ids[1]:
            unknown = ids[0] == getattr(tokenizer, "unk_token_id", None)
            raise InputError(f"{self.a!r} and {self.b!r} are the same token (id {ids[0]}"
                             f"{', the unknown token' if unknown else ''}): this tokenizer cannot tell them apart; "
                             "choose two words it encodes differently")
        start = start_token_id(tokenizer)
        out: list[list[Row] | str] = []
        for prompt in self.prompts:
            if not prompt.strip():
                out.append("empty prompt")
                continue
            seq = [start] + _tokens(tokenizer, prompt)
            if reason := _too_long(len(seq), max_len):
                out.append(reason)
                continue
            last = len(seq) - 1
            out.append([Row(ids=seq, terms=[(last, ids[0], 1.0), (last, ids[1], -1.0)], example=0, focus=[last])])
        return self._finish(out)


def _char_spans_to_tokens(tokenizer: Any, text: str, spans: Sequence[tuple[int, int]]) -> tuple[list[int], list[int]]:
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    marked = [k for k, (s, e) in enumerate(enc["offset_mapping"]) if any(s < b and e > a for a, b in spans)]
    return list(enc["input_ids"]), marked


class ForgetLoss(Objective):
    """Summed log-likelihood of the marked (harmful) tokens of each text, or of all its tokens.

    Args:
        texts: the texts.
        spans: per text, character spans ``[(start, end), ...]`` of the harmful part; None scores all tokens.
    """

    name = "forget"

    def __init__(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]] | None = None) -> None:
        if spans is not None and len(spans) != len(texts):
            raise InputError(f"{len(spans)} span lists for {len(texts)} texts")
        self.texts, self.spans = [str(t) for t in texts], spans

    def describe(self) -> dict[str, Any]:
        return {"objective": self.name, "spans": self.spans is not None, "n_inputs": len(self.texts)}

    def encode(self, tokenizer: Any, max_len: int | None = None) -> Encoded:
        start = start_token_id(tokenizer)
        out: list[list[Row] | str] = []
        for index, text in enumerate(self.texts):
            if not text.strip():
                out.append("empty text")
                continue
            if self.spans is None:
                tokens = _tokens(tokenizer, text)
                marked = list(range(len(tokens)))
            else:
                tokens, marked = _char_spans_to_tokens(tokenizer, text, self.spans[index])
                if not marked:
                    out.append("no token overlaps the marked spans")
                    continue
            if reason := _too_long(len(tokens) + 1, max_len):
                out.append(reason)
                continue
            terms = [(k, tokens[k], 1.0) for k in marked]  # token k sits at row position k + 1
            out.append([Row(ids=[start] + tokens, terms=terms, example=0, focus=[k for k, _, _ in terms])])
        return self._finish(out)


class LanguageModeling(Objective):
    """Mean next-token log-likelihood of neutral text (the control objective)."""

    name = "lm"

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = [str(t) for t in texts]

    def describe(self) -> dict[str, Any]:
        return {"objective": self.name, "n_inputs": len(self.texts)}

    def encode(self, tokenizer: Any, max_len: int | None = None) -> Encoded:
        start = start_token_id(tokenizer)
        out: list[list[Row] | str] = []
        for text in self.texts:
            tokens = _tokens(tokenizer, text)
            if not tokens:
                out.append("empty text")
                continue
            if reason := _too_long(len(tokens) + 1, max_len):
                out.append(reason)
                continue
            weight = 1.0 / len(tokens)
            terms = [(k, tokens[k], weight) for k in range(len(tokens))]
            out.append([Row(ids=[start] + tokens, terms=terms, example=0, focus=list(range(len(tokens))))])
        return self._finish(out)
