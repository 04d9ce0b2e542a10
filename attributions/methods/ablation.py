"""Exact effect of ablating neurons one at a time: the ground truth for the other methods."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..errors import InputError
from ..forward import Batch, per_example, row_values
from ..hooks import edit_activations
from ..sites import NeuronSite


@torch.no_grad()
def ablation(model: nn.Module, sites: Sequence[NeuronSite], batch: Batch, layers: Sequence[int], *,
             neurons: dict[int, torch.Tensor] | None = None, mode: str = "zero",
             means: dict[int, torch.Tensor] | None = None, internal_batch_size: int = 64) -> torch.Tensor:
    """objective(model) - objective(model with neuron j set to 0, or to its mean activation).

    Neurons are ablated one at a time; several ablations share a forward pass (the rows are
    tiled, each copy ablating another neuron). ``neurons`` restricts the work to given neuron
    indices per layer (others are NaN).

    Returns:
        ``[examples, len(layers), n_neurons]``.
    """
    if mode not in ("zero", "mean"):
        raise InputError(f"mode must be 'zero' or 'mean', not {mode!r}")
    if mode == "mean" and means is None:
        raise InputError("mean ablation needs the mean activations (attribute() computes them)")
    n_rows = batch.ids.shape[0]
    base = per_example(batch, row_values(model, batch).double())  # [examples]
    width = sites[layers[0]].n_neurons
    out = torch.full((batch.n_examples, len(layers), width), float("nan"), dtype=torch.float32)
    copies = max(1, internal_batch_size // n_rows)
    for li, layer in enumerate(layers):
        todo = neurons[layer] if neurons is not None else torch.arange(sites[layer].n_neurons)
        for first in range(0, len(todo), copies):
            chunk = todo[first : first + copies]

            def ablate(site: NeuronSite, act: torch.Tensor, chunk: torch.Tensor = chunk) -> torch.Tensor:
                act = act.clone()
                for k, j in enumerate(chunk.tolist()):
                    rows = slice(k * n_rows, (k + 1) * n_rows)
                    act[rows, :, j] = means[site.layer][j].to(act.dtype) if mode == "mean" else 0.0  # type: ignore[index]
                return act

            with edit_activations([sites[layer]], ablate):
                values = row_values(model, batch, repeat=len(chunk)).double()
            ablated = per_example(batch, values.view(len(chunk), n_rows).T)  # [examples, len(chunk)]
            out[:, li, chunk] = (base.unsqueeze(1) - ablated).float().cpu()
    return out
