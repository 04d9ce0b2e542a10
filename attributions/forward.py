"""Encoded objective rows, padded batches, and the objective's value from one forward pass."""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from .errors import InputError

if TYPE_CHECKING:
    from transformers import PreTrainedModel

__all__ = [
    "Batch",
    "Row",
    "accepts_logits_to_keep",
    "collate",
    "group_rows",
    "input_device",
    "logits_at",
    "max_positions",
    "pad_rows",
    "per_example",
    "row_values",
    "start_token_id",
]


def input_device(model: nn.Module) -> torch.device:
    """Where the model's inputs go: the device the token embeddings run on.

    For models spread over devices with an accelerate ``device_map`` (also with offloaded
    weights, whose parameters sit on the ``meta`` device) that is the embedding's execution device.
    """
    embeddings = cast("PreTrainedModel", model).get_input_embeddings()
    device = getattr(getattr(embeddings, "_hf_hook", None), "execution_device", None)
    if device is not None:
        return torch.device("cuda", device) if isinstance(device, int) else torch.device(device)
    return next(embeddings.parameters()).device


def start_token_id(tokenizer: object) -> int:
    """The token every scored sequence starts with (BOS, else EOS), so its first word is predicted too."""
    for name in ("bos_token_id", "eos_token_id"):
        value = getattr(tokenizer, name, None)
        if value is not None:
            return int(value)
    raise InputError("the tokenizer has neither a BOS nor an EOS token to start sequences with")


def max_positions(model: nn.Module) -> int | None:
    """The model's context length from its config, if it states one."""
    config = model.config
    for name in ("max_position_embeddings", "n_positions", "n_ctx"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def accepts_logits_to_keep(model: nn.Module) -> bool:
    """Whether the model's forward can restrict the vocabulary projection to given positions."""
    return "logits_to_keep" in inspect.signature(model.forward).parameters


def logits_at(model: nn.Module, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor,
              keep: torch.Tensor) -> torch.Tensor:
    """Logits ``[batch, len(keep), vocab]`` at sequence positions ``keep`` (sorted, 1-d), computing
    the vocabulary projection only there when the model supports ``logits_to_keep``."""
    if accepts_logits_to_keep(model):
        return model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=keep,
                     use_cache=False).logits
    return model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False).logits[:, keep]


@dataclass
class Row:
    """One sequence of an objective.

    ``terms`` are ``(position, token, weight)``: the row contributes
    ``sum(weight * log p(token | ids[: position + 1]))``. ``side`` is +1 or -1 (the two sides of
    a pair), ``focus`` the positions whose activations the ``activation`` method averages.
    """

    ids: list[int]
    terms: list[tuple[int, int, float]]
    example: int
    side: float = 1.0
    focus: list[int] = field(default_factory=list)


@dataclass
class Batch:
    """Padded rows. ``ids, mask, positions``: ``[rows, width]``; ``example``: ``[rows]`` local example index;
    ``keep``: sorted logit positions used by any term; ``term_*``: ``[terms]``."""

    ids: torch.Tensor
    mask: torch.Tensor
    positions: torch.Tensor
    example: torch.Tensor
    n_examples: int
    keep: torch.Tensor
    term_row: torch.Tensor
    term_col: torch.Tensor
    term_token: torch.Tensor
    term_weight: torch.Tensor
    side: torch.Tensor
    focus: torch.Tensor

    def to(self, device: torch.device | str) -> Batch:
        moved: dict[str, Any] = {k: (v.to(device) if isinstance(v, torch.Tensor) else v)
                                 for k, v in self.__dict__.items()}
        return Batch(**moved)


def pad_rows(rows: Sequence[Sequence[int]], pad_id: int, *, side: str = "right") -> tuple[torch.Tensor, torch.Tensor]:
    """Token id rows padded with ``pad_id`` to the longest: ``ids`` and attention ``mask`` (1 on tokens),
    both ``[len(rows), width]`` long. ``side="left"`` puts the padding in front of each row."""
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', not {side!r}")
    width = max((len(row) for row in rows), default=0)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        first = width - len(row) if side == "left" else 0
        ids[i, first : first + len(row)] = torch.as_tensor(row, dtype=torch.long)
        mask[i, first : first + len(row)] = 1
    return ids, mask


def collate(rows: Sequence[Row], pad_id: int) -> Batch:
    """Right-pad rows into one batch; examples are renumbered from 0 in order of appearance."""
    ids, mask = pad_rows([r.ids for r in rows], pad_id)
    focus = torch.zeros(ids.shape, dtype=torch.float32)
    local: dict[int, int] = {}
    for i, row in enumerate(rows):
        for p in row.focus:
            focus[i, p] = 1.0
        local.setdefault(row.example, len(local))
    keep = sorted({p for row in rows for p, _, _ in row.terms})
    column = {p: c for c, p in enumerate(keep)}
    term_row, term_col, term_token, term_weight = [], [], [], []
    for i, row in enumerate(rows):
        for p, token, weight in row.terms:
            term_row.append(i)
            term_col.append(column[p])
            term_token.append(token)
            term_weight.append(weight)
    return Batch(
        ids=ids, mask=mask, positions=(mask.cumsum(1) - 1).clamp(min=0),
        example=torch.tensor([local[r.example] for r in rows]), n_examples=len(local),
        keep=torch.tensor(keep, dtype=torch.long), term_row=torch.tensor(term_row),
        term_col=torch.tensor(term_col), term_token=torch.tensor(term_token),
        term_weight=torch.tensor(term_weight, dtype=torch.float32),
        side=torch.tensor([r.side for r in rows], dtype=torch.float32), focus=focus,
    )


def row_values(model: nn.Module, batch: Batch, *, repeat: int = 1, probability: bool = False,
               tile_inputs: bool = True) -> torch.Tensor:
    """Objective contribution of every row, ``[repeat * rows]`` (differentiable).

    Each term adds ``weight * log p(token)`` (``weight * p(token)`` with ``probability=True``).

    With ``repeat > 1`` the batch is tiled ``repeat`` times along the batch dimension (row
    ``k * rows + r`` is a copy of row ``r``), as integrated gradients does for its steps. With
    ``tile_inputs=False`` the inputs are not tiled: hooks inside the model tile the hidden
    states part-way (see :func:`attributions.hooks.tile_from`), and the logits arrive tiled.
    """
    ids, mask, positions = batch.ids, batch.mask, batch.positions
    if repeat > 1 and tile_inputs:
        ids, mask, positions = ids.repeat(repeat, 1), mask.repeat(repeat, 1), positions.repeat(repeat, 1)
    logits = logits_at(model, ids, mask, positions, batch.keep)  # [repeat * rows, len(keep), vocab]
    if logits.shape[0] != repeat * batch.ids.shape[0]:
        raise RuntimeError(f"expected logits for {repeat} x {batch.ids.shape[0]} rows, got {logits.shape[0]}")
    n_rows, device = batch.ids.shape[0], logits.device  # with a device_map, logits come from the last device
    offsets = (torch.arange(repeat, device=device) * n_rows).repeat_interleave(batch.term_row.numel())
    rows = batch.term_row.to(device).repeat(repeat) + offsets
    cols, tokens = batch.term_col.to(device).repeat(repeat), batch.term_token.to(device).repeat(repeat)
    picked = logits[rows, cols].float()  # [terms, vocab]
    lp = picked.gather(1, tokens.unsqueeze(1)).squeeze(1) - torch.logsumexp(picked, dim=1)
    contrib = (lp.exp() if probability else lp) * batch.term_weight.to(device).repeat(repeat)
    return torch.zeros(repeat * n_rows, device=device, dtype=contrib.dtype).index_add(0, rows, contrib)


def group_rows(rows: list[Row], batch_size: int) -> list[list[Row]]:
    """Split rows into batches of at most ``batch_size`` rows, never splitting an example
    (objectives emit each example's rows consecutively)."""
    out: list[list[Row]] = [[]]
    for _, group in itertools.groupby(rows, key=lambda r: r.example):
        members = list(group)
        if out[-1] and len(out[-1]) + len(members) > batch_size:
            out.append([])
        out[-1].extend(members)
    return out


def per_example(batch: Batch, per_row: torch.Tensor) -> torch.Tensor:
    """Sum ``[rows, ...]`` into ``[examples, ...]`` by the batch's example index."""
    out = torch.zeros((batch.n_examples, *per_row.shape[1:]), dtype=per_row.dtype, device=per_row.device)
    return out.index_add_(0, batch.example.to(per_row.device), per_row)
