"""Edits for the length of a block: the model comes back exactly, weights, config and :class:`EditLog`.

:func:`restoring` undoes whatever happens to the parameters inside it (e.g. an unlearning run);
:func:`temporarily_applied` applies one :class:`Edit` for the block, copying only what it touches.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from attributions import LanguageModel

from .apply import write_edit
from .compaction import replace_module
from .handle import as_language_model
from .log import EditLog
from .masks import check_neurons
from .record import DELTA_MODES, Edit

__all__ = ["restoring", "temporarily_applied"]


@contextmanager
def _kept_state(module: nn.Module) -> Iterator[EditLog]:
    """Restore the config (edit ids, MLP width, bias switch) and the edit log on exit."""
    config_state = copy.deepcopy(module.config.__dict__)
    with EditLog.of(module).kept() as log:
        try:
            yield log
        finally:
            module.config.__dict__.clear()
            module.config.__dict__.update(config_state)


@contextmanager
def restoring(model: LanguageModel) -> Iterator[nn.Module]:
    """Whatever happens to the parameters inside the block is undone on exit (a copy of every
    parameter is kept meanwhile), with the config and the edit log. Yields the Hugging Face module."""
    module = as_language_model(model).model
    saved = {name: p.detach().clone() for name, p in module.named_parameters()}
    with _kept_state(module):
        try:
            yield module
        finally:
            with torch.no_grad():
                for name, p in module.named_parameters():
                    p.copy_(saved[name])


@contextmanager
def temporarily_applied(model: LanguageModel, edit: Edit,
                        directory: Path | None = None) -> Iterator[nn.Module]:
    """Apply ``edit`` to the weights for the block (recorded in the log), then restore the model exactly.

    Only the modules the edit touches are copied (all parameters for an unlearning edit);
    ``directory`` is where an unlearning edit's delta file is found if the log lacks its bytes.
    """
    lm = as_language_model(model)
    module, sites = lm.model, lm.sites
    check_neurons(sites, edit.neurons)
    if edit.mode in DELTA_MODES:
        with restoring(lm):
            EditLog.of(lm).record(edit, delta_bytes=write_edit(lm, edit, directory))
            yield module
        return
    touched: list[tuple[str, nn.Module, dict[str, torch.Tensor | None]]] = []
    layers = range(len(sites)) if edit.mode == "mean" else edit.neurons.by_layer()
    for layer in layers:
        site = sites[layer]
        for path, linear in [(site.name, site.module), *((p, m) for p, m, _ in site.read_in_modules)]:
            bias = cast("torch.Tensor | None", getattr(linear, "bias", None))
            params = {"weight": cast(torch.Tensor, linear.weight).detach().clone(),
                      "bias": None if bias is None else bias.detach().clone()}
            touched.append((path, linear, params))
    with _kept_state(module) as log:
        try:
            log.record(edit, delta_bytes=write_edit(lm, edit, directory))
            yield module
        finally:
            with torch.no_grad():
                for path, linear, params in touched:
                    replace_module(module, path, linear)
                    weight, bias = params["weight"], params["bias"]
                    assert weight is not None
                    cast(torch.Tensor, linear.weight).copy_(weight)
                    if bias is None:
                        cast(Any, linear).bias = None  # Module.__setattr__'s stub admits no None
                    else:
                        cast(torch.Tensor, linear.bias).copy_(bias)
            lm.refresh_sites()
