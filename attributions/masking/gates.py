"""Hard-concrete gates, one per MLP neuron (Louizos, Welling and Kingma 2018, "L0 regularization").

A gate multiplies a neuron's activation by a value in [0, 1] drawn from a stretched, clipped
concrete distribution with location ``log_alpha``. Stretching past [0, 1] and clipping gives the
gate exact zeros and ones with non-zero probability, so the expected number of closed gates has a
closed form that gradients reach, and the deterministic gate of a trained mask is exactly 1 for most
neurons (they are left unedited) and exactly 0 or a fraction for the few it learned to close.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch

from ..hooks import edit_activations
from ..sites import NeuronSite

__all__ = ["BETA", "GAMMA", "ZETA", "deterministic_gates", "expected_closed", "gated", "hold_budget",
           "open_location", "sample_gates"]

BETA, GAMMA, ZETA = 2.0 / 3.0, -0.1, 1.1
"""Temperature and stretch interval (gamma, zeta) of the hard-concrete distribution, the paper's values."""

_SHIFT = BETA * math.log(-GAMMA / ZETA)  # log_alpha - _SHIFT is the logit of P(gate > 0)


def sample_gates(log_alpha: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One draw of every gate, ``[L, N]`` in [0, 1], differentiable in ``log_alpha [L, N]``.

    The clamp to [0, 1] is passed straight through by the gradient: a gate drawn at exactly 1 still
    learns, from the gradient of its neuron's scale (the neuron's gradient x activation). With the clamp's
    own zero gradient, an open gate would learn only on the rare draws below 1, and a mask on tens of
    thousands of neurons would need thousands of steps to move.
    """
    u = torch.rand(log_alpha.shape, generator=generator, dtype=log_alpha.dtype).clamp(1e-6, 1 - 1e-6)
    stretched = torch.sigmoid((u.log() - (-u).log1p() + log_alpha) / BETA) * (ZETA - GAMMA) + GAMMA
    return stretched + (stretched.clamp(0.0, 1.0) - stretched).detach()


def deterministic_gates(log_alpha: torch.Tensor) -> torch.Tensor:
    """The gate values a trained mask applies, ``[L, N]`` in [0, 1] (no noise)."""
    return (torch.sigmoid(log_alpha) * (ZETA - GAMMA) + GAMMA).clamp(0.0, 1.0)


def expected_closed(log_alpha: torch.Tensor) -> torch.Tensor:
    """Expected number of gates that are exactly 0, a differentiable scalar."""
    return torch.sigmoid(_SHIFT - log_alpha).sum()


@torch.no_grad()
def hold_budget(log_alpha: torch.Tensor, budget: float) -> float:
    """Shift every gate location by one constant, in place, so that ``budget`` gates are closed in expectation;
    returns the shift. The shift keeps the gates' order, which the other terms' gradients decide."""
    location = log_alpha.double()
    low, high = -60.0, 60.0  # expected_closed(location + c) falls from n_gates to 0 as c rises
    for _ in range(80):
        middle = (low + high) / 2
        if float(torch.sigmoid(_SHIFT - location - middle).sum()) > budget:
            low = middle
        else:
            high = middle
    shift = (low + high) / 2
    reached = float(torch.sigmoid(_SHIFT - location - shift).sum())
    if abs(reached - budget) > 1e-3 * budget + 1e-6:
        raise ValueError(f"no shift within [-60, 60] closes {budget} gates in expectation (reached {reached:.3g}): "
                         "the gate locations are out of any trained range")
    log_alpha.add_(shift)
    return shift


def open_location(n_gates: int, closed: float) -> float:
    """The ``log_alpha`` at which ``closed`` of ``n_gates`` gates are closed in expectation (all alike)."""
    share = min(max(closed / n_gates, 1e-12), 0.5)
    return _SHIFT - math.log(share / (1 - share))


@contextmanager
def gated(sites: Sequence[NeuronSite], gates: torch.Tensor) -> Iterator[None]:
    """Multiply each site's activation ``[..., N]`` by ``gates[layer]`` inside the block (hooks removed after,
    also on an exception). ``gates`` is ``[L, N]``; gradients flow back to it."""

    def scale(site: NeuronSite, act: torch.Tensor) -> torch.Tensor:
        return act * gates[site.layer].to(act.device, act.dtype)

    with edit_activations(sites, scale):
        yield
