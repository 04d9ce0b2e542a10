"""Up-front memory estimate for the gradient methods, measured on the model itself.

Integrated gradients runs ``steps`` scaled copies of each batch, at most
``internal_batch_size`` rows per forward pass; its peak memory is the weights plus the
activations autograd saves for one such pass. Rather than a formula per architecture, the
estimate runs one row of the batch's width through the model with gradients on and counts the
bytes of the tensors autograd saves (distinct storages), then scales by the rows per pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .forward import Batch, row_values
from .methods._common import frozen, leaf_activations
from .sites import NeuronSite

__all__ = ["MemoryEstimate", "estimate_pass_memory"]


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes: ``weights`` (parameters and buffers), ``saved_per_row`` (autograd, one row of
    ``width`` tokens), ``rows`` per forward pass, and their ``total``."""

    weights: int
    saved_per_row: int
    rows: int
    width: int

    @property
    def total(self) -> int:
        return self.weights + self.saved_per_row * self.rows

    def describe(self) -> str:
        gib = 1 << 30
        return (f"~{self.total / gib:.2f} GiB peak: weights {self.weights / gib:.2f} GiB + "
                f"{self.rows} rows x {self.width} tokens x {self.saved_per_row / self.width / (1 << 20):.2f} MiB "
                f"saved per token for backward (lower --internal-batch-size to cut the second term)")


def _weight_bytes(model: nn.Module) -> int:
    tensors = [*model.parameters(), *model.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors if t.device.type != "meta")


def estimate_pass_memory(model: nn.Module, sites: list[NeuronSite], batch: Batch, *, first_layer: int,
                         rows: int) -> MemoryEstimate:
    """Estimate the peak of a backward pass through ``rows`` rows scaled at ``first_layer``.

    Args:
        batch: a batch of the run; its longest row is the probe.
        first_layer: the lowest layer scaled (the graph is kept from there on).
        rows: rows per forward pass (``internal_batch_size`` for integrated gradients).
    """
    longest = int(batch.mask.sum(dim=1).argmax())
    probe = Batch(**{k: (v[longest : longest + 1] if k in ("ids", "mask", "positions", "focus", "side")
                         else v) for k, v in batch.__dict__.items()})
    mine = batch.term_row == longest
    probe.term_row = torch.zeros(int(mine.sum()), dtype=torch.long, device=batch.ids.device)
    probe.term_col, probe.term_token = batch.term_col[mine], batch.term_token[mine]
    probe.term_weight = batch.term_weight[mine]
    probe.example = torch.zeros(1, dtype=torch.long, device=batch.ids.device)
    probe.n_examples = 1
    weights = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()] if t.device.type != "meta"}
    seen: set[int] = set()
    saved = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        if tensor.device.type != "meta":
            storage = tensor.untyped_storage()
            if storage.data_ptr() not in weights and storage.data_ptr() not in seen:
                seen.add(storage.data_ptr())
                saved += storage.nbytes()
        return tensor

    with frozen(model), leaf_activations([sites[first_layer]]) as leaves, \
            torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        values = row_values(model, probe)
        del values, leaves
    width = int(batch.mask.sum(dim=1).max())
    return MemoryEstimate(weights=_weight_bytes(model), saved_per_row=saved, rows=rows, width=width)
