"""Scoring a biased completion: how much more likely token ``a`` is than ``b`` after a prompt."""

from __future__ import annotations

from typing import Sequence

import torch

from attributions import LanguageModel

__all__ = ["single_token_id", "next_token_logprob_gap"]


def single_token_id(tokenizer: object, text: str) -> int:
    """The id of ``text`` if it is exactly one token (e.g. ``" he"``); else a ValueError."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]  # type: ignore[operator]
    if len(ids) != 1:
        raise ValueError(
            f"{text!r} is {len(ids)} tokens ({ids}) for this tokenizer; pick a word that is one token "
            "(mind the leading space, e.g. ' he')"
        )
    return int(ids[0])


@torch.no_grad()
def next_token_logprob_gap(lm: LanguageModel, prompts: Sequence[str], a: str, b: str) -> torch.Tensor:
    """``log p(a | prompt) - log p(b | prompt)`` at the next position, one value per prompt.

    Returns:
        Tensor ``[len(prompts)]`` (float32). Prompts are right-padded in one batch; the
        vocabulary projection is applied only at each prompt's last real position.
    """
    if not prompts:
        raise ValueError("no prompts given")
    id_a, id_b = single_token_id(lm.tokenizer, a), single_token_id(lm.tokenizer, b)
    tok = lm.tokenizer
    side = tok.padding_side
    tok.padding_side = "right"
    try:
        batch = tok(list(prompts), return_tensors="pt", padding=True)
    finally:
        tok.padding_side = side
    device = next(lm.model.parameters()).device
    batch = {k: v.to(device) for k, v in batch.items()}
    last = batch["attention_mask"].sum(dim=1) - 1  # [batch] index of each prompt's last token
    keep = torch.unique(last)  # sorted positions where the vocabulary projection is needed
    logits = lm.model(**batch, logits_to_keep=keep).logits.float()  # [batch, len(keep), vocab]
    column = torch.searchsorted(keep, last)
    logits = logits[torch.arange(logits.shape[0], device=device), column]  # [batch, vocab]
    logprobs = torch.log_softmax(logits, dim=-1)
    return (logprobs[:, id_a] - logprobs[:, id_b]).cpu()
