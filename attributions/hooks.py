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
from torch.utils.hooks import RemovableHandle

from .sites import NeuronSite

__all__ = ["ActivationEdit", "capture_activations", "edit_activations", "forward_hooks", "grad_hooks", "pre_hooks",
           "stop_before", "tile_from"]

ActivationEdit = Callable[[NeuronSite, torch.Tensor], torch.Tensor | None]
"""Called with a site and its activation ``[batch, pos, n_neurons]``; returns a replacement or None."""


@contextmanager
def _installed(register: Callable[[Any, Callable[..., Any]], RemovableHandle],
               pairs: Sequence[tuple[Any, Callable[..., Any]]]) -> Iterator[None]:
    """``register(target, fn)`` for every pair; each returned handle is removed when the block exits."""
    handles: list[RemovableHandle] = []
    try:
        for target, fn in pairs:
            handles.append(register(target, fn))
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def pre_hooks(
    pairs: Sequence[tuple[nn.Module, Callable[..., Any]]], *, with_kwargs: bool = False
) -> Iterator[None]:
    """Install forward pre-hooks ``(module, fn)`` for the duration of the block: ``fn(module, args)``,
    or ``fn(module, args, kwargs)`` with ``with_kwargs``."""
    with _installed(lambda module, fn: module.register_forward_pre_hook(fn, with_kwargs=with_kwargs), pairs):
        yield


@contextmanager
def forward_hooks(
    pairs: Sequence[tuple[nn.Module, Callable[..., Any]]], *, with_kwargs: bool = False
) -> Iterator[None]:
    """Install forward hooks ``(module, fn)`` for the duration of the block: ``fn(module, args, output)``,
    or ``fn(module, args, kwargs, output)`` with ``with_kwargs``; a returned value replaces the output."""
    with _installed(lambda module, fn: module.register_forward_hook(fn, with_kwargs=with_kwargs), pairs):
        yield


@contextmanager
def grad_hooks(pairs: Sequence[tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor | None]]]) -> Iterator[None]:
    """Install gradient hooks ``(tensor, fn)`` (tensors or parameters) for the duration of the block:
    ``fn(grad)`` sees the gradient with respect to the tensor (its shape) and may return a replacement."""
    with _installed(lambda tensor, fn: tensor.register_hook(fn), pairs):
        yield


class _Stopped(Exception):
    """Raised by :func:`stop_before`'s hook; carries the token of the block that raised it."""


@contextmanager
def stop_before(module: nn.Module) -> Iterator[None]:
    """End the forward pass when it reaches ``module``: later modules (and ``module`` itself) do not run.

    The pre-hooks installed on ``module`` before this block still run (enter capturing blocks first).
    The exception that stops the pass is suppressed at the end of the block, so the rest of the block
    after that forward call is skipped: put one forward pass in it.
    """
    token = object()

    def stop(*_: Any) -> None:
        raise _Stopped(token)

    with pre_hooks([(module, stop)]):
        try:
            yield
        except _Stopped as stopped:
            if stopped.args != (token,):
                raise


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
