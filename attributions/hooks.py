"""Scoped hooks: every handle is removed when the block exits, also on exceptions.

Edit and capture functions always see a site's activation as ``[batch, pos, n_neurons]``,
also for architectures that flatten tokens before the MLP (OPT).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
from torch import nn

from .sites import NeuronSite

__all__ = ["ActivationEdit", "capture_activations", "edit_activations", "pre_hooks", "tile_from"]

ActivationEdit = Callable[[NeuronSite, torch.Tensor], torch.Tensor | None]
"""Called with a site and its activation ``[batch, pos, n_neurons]``; returns a replacement or None."""


@contextmanager
def pre_hooks(
    pairs: Sequence[tuple[nn.Module, Callable[..., Any]]], *, with_kwargs: bool = False
) -> Iterator[None]:
    """Install forward pre-hooks ``(module, fn)`` for the duration of the block."""
    handles = []
    try:
        for module, fn in pairs:
            handles.append(module.register_forward_pre_hook(fn, with_kwargs=with_kwargs))
        yield
    finally:
        for handle in handles:
            handle.remove()


def _site_hook(site: NeuronSite, fn: ActivationEdit, shapes: dict[int, torch.Size]) -> Callable[..., Any]:
    def hook(_module: nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...] | None:
        act = args[0]
        flat_shape = None
        if site.flat_block is not None and act.dim() == 2:
            flat_shape = act.shape
            act = act.view(*shapes[site.layer], act.shape[-1])
        out = fn(site, act)
        if out is None:
            return None
        if flat_shape is not None:
            out = out.reshape(flat_shape)
        return (out, *args[1:])

    return hook


def _shape_recorder(layer: int, shapes: dict[int, torch.Size]) -> Callable[..., Any]:
    def hook(_module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        hidden = args[0] if args else kwargs["hidden_states"]
        shapes[layer] = hidden.shape[:2]

    return hook


@contextmanager
def edit_activations(sites: Sequence[NeuronSite], fn: ActivationEdit) -> Iterator[None]:
    """Route each site's activation through ``fn`` (return a tensor to replace it)."""
    shapes: dict[int, torch.Size] = {}
    flat = [(s.flat_block, _shape_recorder(s.layer, shapes)) for s in sites if s.flat_block is not None]
    with ExitStack() as stack:
        stack.enter_context(pre_hooks(flat, with_kwargs=True))
        stack.enter_context(pre_hooks([(s.module, _site_hook(s, fn, shapes)) for s in sites]))
        yield


@contextmanager
def capture_activations(sites: Sequence[NeuronSite], *, detach: bool = True) -> Iterator[dict[int, torch.Tensor]]:
    """Record each site's activation ``[batch, pos, n_neurons]`` by layer index.

    The dict is filled during forward passes inside the block (last pass wins).
    """
    store: dict[int, torch.Tensor] = {}

    def record(site: NeuronSite, act: torch.Tensor) -> torch.Tensor:
        store[site.layer] = act.detach() if detach else act
        return act  # passing it on keeps the stored tensor in the graph (also for reshaped OPT inputs)

    with edit_activations(sites, record):
        yield store


@contextmanager
def tile_from(blocks: Sequence[nn.Module], rows: int, repeat: int) -> Iterator[None]:
    """Tile the batch ``repeat`` times from the first of ``blocks`` on (row ``k * rows + r`` copies row ``r``).

    Layers before ``blocks[0]`` run once on ``rows`` rows; from there on every tensor input of
    the blocks whose first dimension is ``rows`` (hidden states, masks, position ids, rotary
    tables; also inside tuples) is tiled, so the rest of the model sees ``repeat * rows`` rows.
    """

    def tile(value: Any) -> Any:
        if isinstance(value, torch.Tensor) and value.dim() >= 2 and value.shape[0] == rows:
            return value.repeat(repeat, *([1] * (value.dim() - 1)))
        if isinstance(value, tuple):
            return tuple(tile(v) for v in value)
        return value

    def hook(_module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        return tuple(tile(a) for a in args), {k: tile(v) for k, v in kwargs.items()}

    if repeat == 1:
        yield
        return
    with pre_hooks([(block, hook) for block in blocks], with_kwargs=True):
        yield
