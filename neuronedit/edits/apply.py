"""Writing an :class:`Edit` into a model's weights, and committing it to the model's :class:`EditLog`.

:func:`write_edit` changes the parameters only (no checks, no record); :func:`commit` is what every
in-place editor does: check the neurons, bind the edit to the current weights' fingerprint, write
it, record it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import cast

import torch
from torch import nn

from attributions import LanguageModel, NeuronSite

from .compaction import remove_neurons
from .delta import add_delta
from .handle import as_language_model
from .log import EditLog
from .masks import check_neurons
from .record import DELTA_MODES, Edit, EditError

__all__ = ["commit", "require_finite", "require_weights_in_memory", "write_edit"]

_BIAS_SWITCH = {"llama": "mlp_bias"}
"""Architectures whose config can switch MLP biases on (so a folded mean stays loadable)."""


def require_weights_in_memory(module: nn.Module, what: str = "weight edits") -> None:
    """Raise :class:`EditError` when parameters are offloaded (on the ``meta`` device)."""
    offloaded = [name for name, p in module.named_parameters() if p.device.type == "meta"]
    if offloaded:
        raise EditError(
            f"{what} need the weights in memory, but {len(offloaded)} parameters (e.g. {offloaded[0]}) are "
            "offloaded by the device_map. Load the model on devices that hold it (device_map without 'disk'/'cpu' "
            "offload), or edit activations with neuronedit.masked(), which works with offloading"
        )


def require_finite(values: torch.Tensor, edit: Edit, cause: str) -> torch.Tensor:
    """``values`` (new weights of ``edit``), or :class:`EditError` when any is NaN or infinite (nothing is written)."""
    if not bool(torch.isfinite(values).all()):
        raise EditError(f"the {edit.mode} edit {edit.id} would write NaN or infinite weights ({cause} overflows "
                        f"{str(values.dtype).removeprefix('torch.')}); nothing was changed: use a smaller factor "
                        "(edit --factor), or fix the manifest entry whose numbers do not fit the weights")
    return values


def _enable_output_bias(module: nn.Module, sites: list[NeuronSite]) -> None:
    """Switch the config's MLP bias on and add zero biases, so the checkpoint stays loadable."""
    model_type = getattr(module.config, "model_type", "")
    switch = _BIAS_SWITCH.get(model_type)
    if switch is None:
        raise EditError(
            f"{type(module).__name__} has no output bias on its down-projection and its config "
            f"({model_type!r}) cannot switch one on, so a mean activation cannot be folded into the weights. "
            "Use the hook edit masked(model, neurons, mode='mean', means=...) instead, or prune_ without means "
            "(zeroing)"
        )
    for site in sites:
        for linear in [site.module, *(m for _, m, _ in site.read_in_modules)]:
            if getattr(linear, "bias", None) is None:
                weight = cast(torch.Tensor, linear.weight)
                linear.bias = nn.Parameter(torch.zeros(weight.shape[0], dtype=weight.dtype, device=weight.device))
    setattr(module.config, switch, True)


def _new_values(sites: list[NeuronSite], edit: Edit, by_layer: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
    """Per layer, the scaled write-out columns (``scale``) or the new output bias (``mean``), all checked
    finite before anything is written."""
    order = {n: i for i, n in enumerate(edit.neurons)}
    new = {}
    for layer, idx in by_layer.items():
        site = sites[layer]
        out = site.write_out  # [d_model, n_neurons] view of the down-projection
        idx = idx.to(out.device)
        if edit.mode == "scale" and edit.values is not None:  # a factor per neuron
            factors = torch.tensor([edit.values[order[(layer, int(j))]] for j in idx.tolist()], dtype=out.dtype)
            new[layer] = require_finite(out[:, idx] * factors.to(out.device), edit,
                                        f"a factor of {max(edit.values, key=abs):g}")
        elif edit.mode == "scale":
            assert edit.factor is not None
            new[layer] = require_finite(out[:, idx] * edit.factor, edit, f"factor {edit.factor:g}")
        elif edit.mode == "mean":
            assert edit.values is not None
            values = torch.tensor([edit.values[order[(layer, int(j))]] for j in idx.tolist()], dtype=torch.float64)
            shift = out[:, idx].double() @ values.to(out.device)
            bias = site.out_bias  # [d_model]
            value = shift.to(out.dtype) if bias is None else bias + shift.to(bias.dtype)
            new[layer] = require_finite(value, edit, f"a mean value of {max(edit.values, key=abs):g}")
    return new


def _write_dense(module: nn.Module, sites: list[NeuronSite], edit: Edit) -> None:
    """``prune``/``zero``/``scale``/``mean``: the MLPs keep their shape."""
    by_layer = edit.neurons.by_layer()
    new = _new_values(sites, edit, by_layer)
    if edit.mode == "mean" and any(sites[layer].out_bias is None for layer in by_layer):
        _enable_output_bias(module, sites)
    for layer, idx in by_layer.items():
        site = sites[layer]
        out = site.write_out
        idx = idx.to(out.device)
        if edit.mode == "scale":
            out[:, idx] = new[layer]
            continue
        if edit.mode == "mean":
            bias = site.out_bias
            assert bias is not None
            bias.copy_(new[layer])
        out[:, idx] = 0
        if edit.mode in ("prune", "mean"):
            for rows, in_bias in site.read_rows():  # rows [n_neurons, d_model]
                rows[idx] = 0
                if in_bias is not None:
                    in_bias[idx] = 0


@torch.no_grad()
def write_edit(lm: LanguageModel, edit: Edit, directory: Path | None = None) -> bytes | None:
    """Apply ``edit`` to the weights in place (no checks, no record).

    ``directory`` is where an unlearning edit's delta file is looked for when the log does not
    hold its bytes. Returns those bytes for an unlearning edit, else None.
    """
    module, sites = lm.model, lm.sites
    require_weights_in_memory(module)
    if edit.mode == "compact":
        remove_neurons(module, sites, edit.neurons)
        lm.refresh_sites()
        return None
    if edit.mode in DELTA_MODES:
        return add_delta(module, edit, directory)
    _write_dense(module, sites, edit)
    return None


def commit(model: LanguageModel, edit: Edit) -> Edit:
    """Check, bind to the current weights (fingerprint, model name), write and record ``edit``.

    Returns:
        the edit as applied (with ``base_fingerprint`` and ``base_model`` filled in).
    """
    lm = as_language_model(model)
    check_neurons(lm.sites, edit.neurons)
    edit = replace(edit, base_fingerprint=edit.base_fingerprint or lm.fingerprint(),
                   base_model=edit.base_model or lm.name)
    data = write_edit(lm, edit)
    EditLog.of(lm).record(edit, delta_bytes=data)
    return edit
