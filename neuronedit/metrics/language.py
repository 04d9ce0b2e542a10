"""Perplexity with a strided window, and next-token accuracy."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from attributions import LanguageModel

from ..scoring import max_positions

__all__ = ["line_losses", "lm_stats", "window_losses"]


@torch.no_grad()
def window_losses(
    lm: LanguageModel, text: str, *, window: int = 1024, stride: int = 512, max_tokens: int | None = None,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Token losses by strided windows.

    Each window of ``window`` tokens scores only the tokens after the previous window's end, so
    every token (but the first) is predicted once, with at least ``window - stride`` tokens of
    context (Hugging Face's strided perplexity recipe).

    Returns:
        ``{"nll": [w] summed NLL, "correct": [w] argmax hits, "count": [w] scored tokens}`` per window.
    """
    limit = max_positions(lm.model)
    if limit and window > limit:  # a shorter context than asked for: keep the same overlap ratio
        stride, window = max(1, stride * limit // window), limit
    if not 0 < stride <= window:
        raise ValueError(f"stride must be in 1..window ({window}), not {stride}")
    ids = lm.tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids[0]
    if max_tokens is not None:
        ids = ids[:max_tokens]
    if ids.numel() < 2:
        raise ValueError("the text has fewer than two tokens")
    device = next(lm.model.parameters()).device
    nll, correct, count = [], [], []
    prev_end = 0
    starts = list(range(0, ids.numel(), stride))
    for begin in tqdm(starts, desc="perplexity", disable=not progress, unit="window"):
        end = min(begin + window, ids.numel())
        new = end - max(prev_end, begin + 1)  # tokens not scored yet (the first token is never a target)
        if new <= 0:
            break
        chunk = ids[begin:end].unsqueeze(0).to(device)
        logits = lm.model(chunk).logits[0, -new - 1 : -1].float()  # predicts the last `new` tokens
        targets = chunk[0, -new:]
        nll.append(float(torch.nn.functional.cross_entropy(logits, targets, reduction="sum")))
        correct.append(int((logits.argmax(-1) == targets).sum()))
        count.append(new)
        prev_end = end
        if end == ids.numel():
            break
    return {"nll": np.array(nll), "correct": np.array(correct), "count": np.array(count)}


@torch.no_grad()
def line_losses(lm: LanguageModel, lines: list[str], *, batch_size: int = 16) -> dict[str, np.ndarray]:
    """Token losses of short independent texts, each scored after the model's start token.

    Returns:
        ``{"nll": [n] summed NLL, "correct": [n] argmax hits, "count": [n] tokens}`` per line.
    """
    from attributions.forward import start_token_id

    start = start_token_id(lm.tokenizer)
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    device = next(lm.model.parameters()).device
    encoded = [[start, *lm.tokenizer(line, add_special_tokens=False)["input_ids"]] for line in lines]
    if any(len(ids) < 2 for ids in encoded):
        raise ValueError("every line needs at least one token")
    nll, correct, count = [], [], []
    for first in range(0, len(encoded), batch_size):
        chunk = encoded[first : first + batch_size]
        width = max(len(ids) for ids in chunk)
        ids = torch.tensor([ids + [pad] * (width - len(ids)) for ids in chunk], device=device)
        mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids in chunk], device=device)
        logits = lm.model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        targets, valid = ids[:, 1:], mask[:, 1:].bool()
        losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
        nll += (losses * valid).sum(1).tolist()
        correct += ((logits.argmax(-1) == targets) & valid).sum(1).tolist()
        count += valid.sum(1).tolist()
    return {"nll": np.array(nll), "correct": np.array(correct), "count": np.array(count)}


def lm_stats() -> dict[str, Callable[[dict[str, np.ndarray], np.ndarray], float]]:
    """``perplexity`` = exp(total NLL / tokens); ``accuracy`` = next-token argmax hits, in percent."""

    def perplexity(data: dict[str, np.ndarray], idx: np.ndarray) -> float:
        return float(np.exp(data["nll"][idx].sum() / data["count"][idx].sum()))

    def accuracy(data: dict[str, np.ndarray], idx: np.ndarray) -> float:
        return 100.0 * float(data["correct"][idx].sum() / data["count"][idx].sum())

    return {"perplexity": perplexity, "accuracy": accuracy}
