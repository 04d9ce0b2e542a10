"""Unlearning losses (minimised), one registry.

All work on batches of :class:`attributions.forward.Batch` rows whose ``terms`` mark the tokens to
act on: ``(position, token, weight)``, the logits at ``position`` predicting ``token``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from attributions.forward import Batch, logits_at
from attributions.registry import Registry

__all__ = ["LOSSES", "kl_to_reference", "nll", "term_log_probs"]


def term_log_probs(model: nn.Module, batch: Batch) -> torch.Tensor:
    """Log-softmax over the vocabulary at every term's position, ``[terms, vocab]`` (differentiable)."""
    logits = logits_at(model, batch.ids, batch.mask, batch.positions, batch.keep)  # [rows, len(keep), vocab]
    return torch.log_softmax(logits[batch.term_row, batch.term_col].float(), dim=-1)


def _token_log_probs(log_probs: torch.Tensor, batch: Batch) -> torch.Tensor:
    return log_probs.gather(1, batch.term_token.unsqueeze(1)).squeeze(1)  # [terms]


def ascent(log_probs: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Mean log-likelihood of the marked tokens: minimising it ascends their NLL."""
    return _token_log_probs(log_probs, batch).mean()


def max_entropy(log_probs: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Mean KL(uniform || p) at the marked positions: minimising it flattens the prediction there
    instead of pushing the marked token's probability to zero (Yuan et al. 2024)."""
    return (-log_probs.mean(dim=1) - math.log(log_probs.shape[1])).mean()


def nll(log_probs: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Mean negative log-likelihood of the marked tokens (descent: keep or learn them)."""
    return -_token_log_probs(log_probs, batch).mean()


def kl_to_reference(log_probs: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Mean KL(reference || p) over positions, both ``[positions, vocab]`` log-probabilities."""
    return (reference.exp() * (reference - log_probs)).sum(dim=1).mean()


LOSSES: Registry[Callable[[torch.Tensor, Batch], torch.Tensor]] = Registry(
    "unlearning loss", {"ascent": ascent, "max_entropy": max_entropy, "descent": nll})
"""Forget losses by name: ``loss(term_log_probs [terms, vocab], batch) -> scalar`` to minimise."""
