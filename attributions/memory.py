"""Up-front memory estimate for the gradient methods, measured on the model itself.

Integrated gradients runs ``steps`` scaled copies of each batch, at most
``internal_batch_size`` rows per forward pass; its peak memory is the weights plus what one such
pass and its backward hold at their peak: the activations autograd saves, the logits, and the
gradients in flight. Rather than a formula per architecture, the estimate runs a probe of a few
copies of the batch's longest row through forward and backward, measures the peak above what
was in use before (CUDA: the allocator's peak; Linux CPU: the process's peak resident memory,
reset through ``/proc/self/clear_refs``), and scales it to the rows per pass. On CPUs the
estimate is at least twice the bytes autograd saves (the backward pass's temporaries), because
the resident size does not grow while the allocator reuses memory freed by earlier work.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .forward import Batch, row_values
from .methods._common import leaf_activations
from .model import frozen
from .sites import NeuronSite

__all__ = ["MemoryEstimate", "estimate_pass_memory"]

_PROBE_ROWS = 8


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes: ``weights`` (parameters and buffers in memory), ``per_row`` (peak of forward plus
    backward for one row of ``width`` tokens), ``rows`` per pass, and how ``per_row`` was obtained."""

    weights: int
    per_row: int
    rows: int
    width: int
    how: str

    @property
    def total(self) -> int:
        return self.weights + self.per_row * self.rows

    def describe(self) -> str:
        gib = 1 << 30
        return (f"~{self.total / gib:.2f} GiB peak: weights {self.weights / gib:.2f} GiB + {self.rows} rows x "
                f"{self.width} tokens x {self.per_row / self.width / (1 << 20):.2f} MiB per token ({self.how}); "
                "lower --internal-batch-size to cut the second term")


def _weight_bytes(model: nn.Module) -> int:
    tensors = [*model.parameters(), *model.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors if t.device.type != "meta")


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _measured_peak(run: Callable[[], None], device: torch.device) -> int | None:
    """Peak bytes above the starting point while ``run()`` executes, or None if it cannot be measured."""
    if device.type == "cuda":
        devices = range(torch.cuda.device_count())
        for d in devices:
            torch.cuda.synchronize(d)
            torch.cuda.reset_peak_memory_stats(d)
        before = sum(torch.cuda.memory_allocated(d) for d in devices)
        run()
        return sum(torch.cuda.max_memory_allocated(d) for d in devices) - before
    if device.type != "cpu" or not os.path.exists("/proc/self/clear_refs"):
        return None
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # resets VmHWM, the peak resident set size, to the current size
        before = _status_kib("VmRSS")
    except (OSError, KeyError):
        return None
    run()
    return max(0, (_status_kib("VmHWM") - before) * 1024)


def _probe(batch: Batch, copies: int) -> Batch:
    """``copies`` copies of the batch's longest row, with its terms."""
    longest = int(batch.mask.sum(dim=1).argmax())
    mine = batch.term_row == longest
    n_terms = int(mine.sum())
    device = batch.ids.device
    return Batch(
        ids=batch.ids[longest].repeat(copies, 1), mask=batch.mask[longest].repeat(copies, 1),
        positions=batch.positions[longest].repeat(copies, 1), example=torch.arange(copies, device=device),
        n_examples=copies, keep=batch.keep,
        term_row=torch.arange(copies, device=device).repeat_interleave(n_terms),
        term_col=batch.term_col[mine].repeat(copies), term_token=batch.term_token[mine].repeat(copies),
        term_weight=batch.term_weight[mine].repeat(copies), side=batch.side[longest].repeat(copies),
        focus=batch.focus[longest].repeat(copies, 1),
    )


def _saved_bytes(model: nn.Module, sites: list[NeuronSite], probe: Batch, first_layer: int, *,
                 backward: bool = False) -> int:
    """Bytes of the distinct tensors autograd saves for backward (weights excluded), counted
    during the probe's forward pass (then run backward too with ``backward``)."""
    weights = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]
               if t.device.type != "meta"}
    seen: set[int] = set()
    saved = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        if tensor.device.type != "meta":
            pointer = tensor.untyped_storage().data_ptr()
            if pointer not in weights and pointer not in seen:
                seen.add(pointer)
                saved += tensor.untyped_storage().nbytes()
        return tensor

    with frozen(model), leaf_activations([sites[first_layer]]) as leaves:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            values = row_values(model, probe)
        if backward:
            torch.autograd.grad(values.sum(), [leaves[first_layer]])
    return saved


def estimate_pass_memory(model: nn.Module, sites: list[NeuronSite], batch: Batch, *, first_layer: int,
                         rows: int, measure: bool = True) -> MemoryEstimate:
    """Estimate the peak of a forward and backward pass through ``rows`` rows scaled at ``first_layer``.

    Args:
        batch: a batch of the run; its longest row is the probe.
        first_layer: the lowest layer scaled (the graph is kept from there on).
        rows: rows per forward pass (``internal_batch_size`` for integrated gradients).
        measure: run the probe and measure its peak; False (or no way to measure) counts saved tensors.
    """
    width = int(batch.mask.sum(dim=1).max())
    copies = max(1, min(rows, _PROBE_ROWS))
    probe = _probe(batch, copies)

    saved = 0

    def run() -> None:  # one forward and backward of the probe, counting what autograd saves
        nonlocal saved
        saved = _saved_bytes(model, sites, probe, first_layer, backward=True)

    peak = _measured_peak(run, batch.ids.device) if measure else None
    if peak is None:
        run()
    if peak is not None and batch.ids.device.type == "cuda":  # the allocator's own account: exact
        return MemoryEstimate(_weight_bytes(model), peak // copies, rows, width, "measured on a probe")
    # The resident size misses memory the C allocator kept from earlier work and reuses, so on
    # CPUs the measurement only ever raises the count of saved tensors (x 2 for the backward pass).
    counted = 2 * saved
    if peak is not None and peak > counted:
        return MemoryEstimate(_weight_bytes(model), peak // copies, rows, width, "measured on a probe")
    return MemoryEstimate(_weight_bytes(model), counted // copies, rows, width, "saved tensors x 2")
