"""Integrated gradients on neuron activations (Knowledge Neurons, Dai et al. 2022) and IG² (Liu et al. 2024).

For each layer separately, that layer's activations are scaled from a zero baseline,
``alpha_k = k / steps`` (right Riemann sum, k = 1..steps), with the other layers left as they are;
the attribution is ``act * mean_k grad(alpha_k * act)``, summed over positions. The steps run as
one batch (``steps`` copies of the rows), split so that at most ``internal_batch_size`` rows go
through the model at once. The layers below the scaled one are unchanged by the scaling, so they
run once per batch and the copies are made only from the scaled layer's block on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from ..errors import InputError
from ..forward import Batch, per_example, row_values
from ..hooks import tile_from
from ..model import frozen
from ..sites import NeuronSite
from ._common import leaf_activations


def _integrate(model: nn.Module, sites: Sequence[NeuronSite], batch: Batch, layers: Sequence[int], *, steps: int,
               internal_batch_size: int, probability: bool) -> torch.Tensor:
    if steps < 1:
        raise InputError(f"steps must be >= 1, not {steps}")
    n_rows = batch.ids.shape[0]
    chunk = max(1, internal_batch_size // n_rows)  # steps per forward pass
    alphas = torch.arange(1, steps + 1, dtype=torch.float32) / steps
    reuse_prefix = all(s.block is not None and s.flat_block is None for s in sites)
    out = []
    for layer in layers:
        later_blocks = [s.block for s in sites[layer:] if s.block is not None] if reuse_prefix else []
        total: torch.Tensor | None = None
        act: torch.Tensor | None = None
        for first in range(0, steps, chunk):
            part = alphas[first : first + chunk]
            scale = part.repeat_interleave(n_rows).to(batch.ids.device)  # row k * n_rows + r has alpha_k
            with frozen(model), tile_from(later_blocks, n_rows, len(part)) if reuse_prefix else _nothing(), \
                    leaf_activations([sites[layer]], scale=scale) as leaves:
                values = row_values(model, batch, repeat=len(part), probability=probability,
                                    tile_inputs=not reuse_prefix)
                (grad,) = torch.autograd.grad(values.sum(), [leaves[layer]])
            grad_sum = grad.view(len(part), n_rows, *grad.shape[1:]).sum(dim=0)  # [rows, pos, neurons]
            total = grad_sum if total is None else total + grad_sum
            if act is None:
                act = leaves[layer].detach()[-n_rows:] / part[-1]  # unscaled activation of the rows
        assert total is not None and act is not None
        out.append((act * total / steps).sum(dim=1).to(batch.ids.device))  # [rows, neurons]
    return per_example(batch, torch.stack(out, dim=1).float())


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def integrated_gradients(model: nn.Module, sites: Sequence[NeuronSite], batch: Batch, layers: Sequence[int], *,
                         steps: int = 20, internal_batch_size: int = 64) -> torch.Tensor:
    """Integrated gradients of the objective, per layer. Returns ``[examples, len(layers), n_neurons]``."""
    return _integrate(model, sites, batch, layers, steps=steps, internal_batch_size=internal_batch_size,
                      probability=False)


def ig2(model: nn.Module, sites: Sequence[NeuronSite], batch: Batch, layers: Sequence[int], *, steps: int = 20,
        internal_batch_size: int = 64) -> torch.Tensor:
    """Integrated gap gradients: integrated gradients of the gap between the probabilities the
    model gives the two demographic variants (terms weighted +1/-1), for two-sided objectives."""
    return _integrate(model, sites, batch, layers, steps=steps, internal_batch_size=internal_batch_size,
                      probability=True)
