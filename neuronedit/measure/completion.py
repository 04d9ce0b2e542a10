"""Scoring a biased completion: how much more likely token ``a`` is than ``b`` after a prompt."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from attributions import LanguageModel, TokenContrast
from attributions.errors import InputError
from attributions.forward import collate, input_device, max_positions, row_values

__all__ = ["next_token_logprob_gap"]


@torch.no_grad()
def next_token_logprob_gap(lm: LanguageModel, prompts: Sequence[str], a: str, b: str) -> torch.Tensor:
    """``log p(a | prompt) - log p(b | prompt)`` at the next position, one value per prompt.

    The same quantity as :class:`attributions.TokenContrast` (each prompt follows the
    tokenizer's start token). ``a`` and ``b`` must be single tokens, e.g. ``" he"``.

    Returns:
        Tensor ``[len(prompts)]`` (float32).
    """
    if not prompts:
        raise InputError("no prompts given")
    encoded = TokenContrast(prompts, a, b).encode(lm.tokenizer, max_positions(lm.model))
    if encoded.skipped:
        raise InputError("cannot score prompt(s) " + "; ".join(f"#{i}: {r}" for i, r in encoded.skipped))
    pad = lm.pad_id
    batch = collate(encoded.rows, pad).to(input_device(lm.model))
    return row_values(lm.model, batch).float().cpu()
