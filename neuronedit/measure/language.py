"""Perplexity with a strided window, and next-token accuracy."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from numbers import Integral
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from attributions import LanguageModel
from attributions.distributed import is_main, shard, sum_arrays
from attributions.errors import InputError
from attributions.forward import input_device, pad_rows

from .scoring import context_limit

__all__ = ["check_max_tokens", "line_losses", "lm_stats", "token_ids", "window_losses"]

_MARGIN = 64  # tokens past the limit a prefix must reach before its first ``max_tokens`` count as settled
_FIRST_CHARS = 1 << 12  # characters read before the first tokenization (at least 6 per wanted token)


def check_max_tokens(max_tokens: int | None) -> None:
    """Refuse a token limit that is not a positive whole number (``None`` means no limit)."""
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, Integral)
                                   or max_tokens < 1):
        raise InputError(f"max_tokens must be a positive whole number of tokens (or None for the whole text), "
                         f"not {max_tokens!r}")


def _encode(tokenizer: Any, text: str) -> torch.Tensor:
    return tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids[0]


def token_ids(tokenizer: Any, text: str | Iterable[str], max_tokens: int | None = None) -> torch.Tensor:
    """Token ids ``[n]`` of ``text`` (a string, or its pieces in order), cut to ``max_tokens``.

    Pieces with a limit are streamed: a growing prefix is tokenized until two successive prefixes
    both reach ``max_tokens`` + 64 tokens and agree on the first ``max_tokens``. Tokenizers merge
    only locally, so a cut that far past them leaves them as the whole text would (the two prefixes
    check it). Time and memory follow the limit, not the length of the text. When the text ends
    first, or without a limit, all of it is tokenized at once, exactly as the whole string.
    """
    check_max_tokens(max_tokens)
    if isinstance(text, str) or max_tokens is None:
        ids = _encode(tokenizer, text if isinstance(text, str) else "".join(text))
        return ids if max_tokens is None else ids[:max_tokens]
    pieces, buffer, previous = iter(text), "", None
    wanted = max(_FIRST_CHARS, 6 * int(max_tokens))
    while True:
        parts, size = [buffer], len(buffer)
        for piece in pieces:
            parts.append(piece)
            size += len(piece)
            if size >= wanted:
                break
        else:  # the text ended before the limit was settled: tokenize all of it
            return _encode(tokenizer, "".join(parts))[:max_tokens]
        buffer = "".join(parts)
        ids = tokenizer(buffer, add_special_tokens=False)["input_ids"]
        enough = len(ids) >= max_tokens + _MARGIN
        if enough and previous is not None and len(previous) >= max_tokens + _MARGIN \
                and previous[:max_tokens] == ids[:max_tokens]:
            return torch.tensor(ids[:max_tokens], dtype=torch.long)
        if enough:  # read a little more, to check that the cut at the end did not touch the first max_tokens
            wanted = size + max(_FIRST_CHARS, size // 8)
        else:  # grow to the size the characters per token seen so far predict, by half at least
            wanted = max(3 * size // 2, size * (max_tokens + 2 * _MARGIN) // max(len(ids), 1) * 5 // 4)
        previous = ids


@torch.no_grad()
def window_losses(
    lm: LanguageModel, text: str | Iterable[str], *, window: int = 1024, stride: int = 512,
    max_tokens: int | None = None, progress: bool = False,
) -> dict[str, np.ndarray]:
    """Token losses by strided windows of ``text`` (a string, or its pieces, e.g. :meth:`TextCorpus.chunks`:
    then only the first ``max_tokens`` tokens are read and tokenized, see :func:`token_ids`).

    Each window of ``window`` tokens scores only the tokens after the previous window's end, so
    every token (but the first) is predicted once, with at least ``window - stride`` tokens of
    context (Hugging Face's strided perplexity recipe).

    Returns:
        ``{"nll": [w] summed NLL, "correct": [w] argmax hits, "count": [w] scored tokens}`` per window.
    """
    check_max_tokens(max_tokens)
    limit = context_limit(lm.model)
    if limit and window > limit:  # a shorter context than asked for: keep the same overlap ratio
        stride, window = max(1, stride * limit // window), limit
    if not 0 < stride <= window:
        raise InputError(f"stride must be in 1..window ({window}), not {stride}")
    ids = token_ids(lm.tokenizer, text, max_tokens)
    if ids.numel() < 2:
        raise InputError("the text has fewer than two tokens")
    device = input_device(lm.model)
    plan = []  # (begin, end, new): window [begin, end) scores its last `new` tokens
    prev_end = 0
    for begin in range(0, ids.numel(), stride):
        end = min(begin + window, ids.numel())
        new = end - max(prev_end, begin + 1)  # tokens not scored yet (the first token is never a target)
        if new <= 0:
            break
        plan.append((begin, end, new))
        prev_end = end
        if end == ids.numel():
            break
    nll = np.zeros(len(plan), dtype=np.float64)
    correct = np.zeros(len(plan), dtype=np.int64)
    for k, (begin, end, new) in tqdm(shard(plan), desc="perplexity", disable=not (progress and is_main()),
                                     unit="window"):
        chunk = ids[begin:end].unsqueeze(0).to(device)
        logits = lm.model(chunk).logits[0, -new - 1 : -1].float()  # predicts the last `new` tokens
        targets = chunk[0, -new:]
        nll[k] = float(torch.nn.functional.cross_entropy(logits, targets, reduction="sum"))
        correct[k] = int((logits.argmax(-1) == targets).sum())
    nll, correct = sum_arrays(nll, correct)  # each window was scored by one rank, zero elsewhere
    return {"nll": nll, "correct": correct, "count": np.array([new for _, _, new in plan])}


@torch.no_grad()
def line_losses(lm: LanguageModel, lines: list[str], *, batch_size: int = 16) -> dict[str, np.ndarray]:
    """Token losses of short independent texts, each scored after the model's start token.

    Returns:
        ``{"nll": [n] summed NLL, "correct": [n] argmax hits, "count": [n] tokens}`` per line.
    """
    from attributions.forward import start_token_id

    start = start_token_id(lm.tokenizer)
    pad = lm.pad_id
    device = input_device(lm.model)
    encoded = [[start, *lm.tokenizer(line, add_special_tokens=False)["input_ids"]] for line in lines]
    if any(len(ids) < 2 for ids in encoded):
        raise InputError("every line needs at least one token")
    nll = np.zeros(len(encoded), dtype=np.float64)
    correct = np.zeros(len(encoded), dtype=np.int64)
    firsts = list(range(0, len(encoded), batch_size))
    for _, first in shard(firsts):  # each rank scores every world-th batch; the sums below gather them
        chunk = encoded[first : first + batch_size]
        ids, mask = (t.to(device) for t in pad_rows(chunk, pad))  # [chunk, width]
        logits = lm.model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        targets, valid = ids[:, 1:], mask[:, 1:].bool()
        losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
        nll[first : first + len(chunk)] = (losses * valid).sum(1).tolist()
        correct[first : first + len(chunk)] = ((logits.argmax(-1) == targets) & valid).sum(1).tolist()
    nll, correct = sum_arrays(nll, correct)
    return {"nll": nll, "correct": correct, "count": np.array([len(ids) - 1 for ids in encoded])}


def lm_stats() -> dict[str, Callable[[dict[str, np.ndarray], np.ndarray], float]]:
    """``perplexity`` = exp(total NLL / tokens); ``accuracy`` = next-token argmax hits, in percent."""

    def perplexity(data: dict[str, np.ndarray], idx: np.ndarray) -> float:
        return float(np.exp(data["nll"][idx].sum() / data["count"][idx].sum()))

    def accuracy(data: dict[str, np.ndarray], idx: np.ndarray) -> float:
        return 100.0 * float(data["correct"][idx].sum() / data["count"][idx].sum())

    return {"perplexity": perplexity, "accuracy": accuracy}
