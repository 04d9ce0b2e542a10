"""Permanent neuron edits on the weights: ``prune_``, ``scale_``, ``compact`` and ``apply_edit``.

Every editor changes the model in place, returns an :class:`~neuronedit.manifest.Edit` and
records the edit's id in ``model.config.neuronedit_edits``, which is saved with the checkpoint.
That record makes replaying an edit idempotent (:func:`apply_edit` skips edits already in it).

A pruned or scaled neuron keeps the dense shape: the MLP has the same size and speed. Only
:func:`compact` makes it narrower, by removing the neurons' rows and columns.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
from torch import nn
from transformers.pytorch_utils import Conv1D, prune_linear_layer

from attributions import LanguageModel, NeuronSet, NeuronSite, find_sites, weights_fingerprint

from .editing import check_neurons
from .manifest import Edit, ManifestError, load_manifest

__all__ = ["APPLIED_KEY", "EditError", "apply_edit", "applied_edit_ids", "compact", "edit_history", "prune_",
           "restoring", "scale_"]

APPLIED_KEY = "neuronedit_edits"
"""``config`` attribute listing the ids of the edits applied to the weights, in order."""

_WIDTH_KEYS = {"gpt2": "n_inner", "opt": "ffn_dim"}
"""``config`` key of the MLP width where it is not ``intermediate_size``."""

_BIAS_SWITCH = {"llama": "mlp_bias"}
"""Architectures whose config can switch MLP biases on (so a folded mean stays loadable)."""


class EditError(ValueError):
    """An edit cannot be applied to this model; the message says what to use instead."""


def require_weights_in_memory(module: nn.Module, what: str = "weight edits") -> None:
    """Raise :class:`EditError` when parameters are offloaded (on the ``meta`` device)."""
    offloaded = [name for name, p in module.named_parameters() if p.device.type == "meta"]
    if offloaded:
        raise EditError(
            f"{what} need the weights in memory, but {len(offloaded)} parameters (e.g. {offloaded[0]}) are "
            "offloaded by the device_map. Load the model on devices that hold it (device_map without 'disk'/'cpu' "
            "offload), or edit activations with neuronedit.masked(), which works with offloading"
        )


def _unwrap(model: LanguageModel | nn.Module) -> tuple[nn.Module, list[NeuronSite]]:
    if isinstance(model, LanguageModel):
        return model.model, model.sites
    return model, find_sites(model)


def model_name(model: LanguageModel | nn.Module) -> str:
    """The spec a model was loaded from, or its config's ``_name_or_path``."""
    if isinstance(model, LanguageModel):
        return model.name
    return str(getattr(model.config, "_name_or_path", "") or "")


def applied_edit_ids(model: LanguageModel | nn.Module) -> list[str]:
    """Ids of the edits already applied to these weights (from ``config.neuronedit_edits``)."""
    module = model.model if isinstance(model, LanguageModel) else model
    return list(getattr(module.config, APPLIED_KEY, None) or [])


def _record(module: nn.Module, edit: Edit) -> None:
    module.config.__dict__[APPLIED_KEY] = [*applied_edit_ids(module), edit.id]
    history: list[Edit] = module.__dict__.setdefault("_neuronedit_history", [])
    history.append(edit)


def edit_history(model: LanguageModel | nn.Module) -> list[Edit]:
    """The :class:`Edit` records applied in this session, in order."""
    module = model.model if isinstance(model, LanguageModel) else model
    return list(module.__dict__.get("_neuronedit_history", []))


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
                weight = linear.weight
                linear.bias = nn.Parameter(torch.zeros(weight.shape[0], dtype=weight.dtype, device=weight.device))
    setattr(module.config, switch, True)


@torch.no_grad()
def _apply(module: nn.Module, sites: list[NeuronSite], edit: Edit, directory: Path | None = None) -> None:
    require_weights_in_memory(module)
    """Apply ``edit`` to the weights in place (no checks, no record)."""
    if edit.mode == "compact":
        _compact(module, sites, edit.neurons)
        return
    if edit.mode == "unlearn":
        from .unlearn.delta import add_delta  # the weight delta of an unlearning edit

        add_delta(module, edit, directory)
        return
    by_layer = edit.neurons.by_layer()
    if edit.mode == "mean" and any(sites[layer].out_bias is None for layer in by_layer):
        _enable_output_bias(module, sites)
    order = {n: i for i, n in enumerate(edit.neurons)}
    for layer, idx in by_layer.items():
        site = sites[layer]
        out = site.write_out  # [d_model, n] view
        idx = idx.to(out.device)
        if edit.mode == "scale":
            out[:, idx] *= edit.factor
            continue
        if edit.mode == "mean":
            assert edit.values is not None
            values = torch.tensor([edit.values[order[(layer, int(j))]] for j in idx.tolist()], dtype=torch.float64)
            bias = site.out_bias
            assert bias is not None
            bias += (out[:, idx].double() @ values.to(out.device)).to(bias.dtype)
        out[:, idx] = 0
        if edit.mode in ("prune", "mean"):
            for rows, in_bias in site.read_in():
                rows[idx] = 0
                if in_bias is not None:
                    in_bias[idx] = 0


def _narrow(linear: nn.Module, keep: torch.Tensor, dim_in: bool) -> nn.Module:
    """A copy of ``linear`` keeping input (``dim_in``) or output features ``keep``."""
    if isinstance(linear, Conv1D):  # weight [in, out]
        weight = linear.weight.index_select(0 if dim_in else 1, keep).clone()
        bias = linear.bias if dim_in else linear.bias[keep]
        new = Conv1D(weight.shape[1], weight.shape[0]).to(weight.device, weight.dtype)
        new.weight.data.copy_(weight)
        new.bias.data.copy_(bias)
        return new
    if isinstance(linear, nn.Linear):
        return prune_linear_layer(linear, keep, dim=1 if dim_in else 0)
    raise EditError(f"compact does not know how to narrow a {type(linear).__name__}")


def _replace(module: nn.Module, path: str, new: nn.Module) -> None:
    parent_path, _, attr = path.rpartition(".")
    setattr(module.get_submodule(parent_path) if parent_path else module, attr, new)


def _compact(module: nn.Module, sites: list[NeuronSite], neurons: NeuronSet) -> None:
    for layer, idx in neurons.by_layer().items():
        site = sites[layer]
        n = site.n_neurons
        keep_mask = torch.ones(n, dtype=torch.bool)
        keep_mask[idx] = False
        keep = keep_mask.nonzero().squeeze(1).to(site.write_out.device)
        _replace(module, site.name, _narrow(site.module, keep, dim_in=True))
        for path, read_in, chunks in site.read_in_modules:
            rows = torch.cat([keep + c * n for c in range(chunks)])
            _replace(module, path, _narrow(read_in, rows, dim_in=False))
    widths = {site.n_neurons for site in find_sites(module)}
    if len(widths) == 1:
        key = _WIDTH_KEYS.get(getattr(module.config, "model_type", ""), "intermediate_size")
        setattr(module.config, key, widths.pop())


def mlp_widths(model: LanguageModel | nn.Module) -> list[int]:
    """Neurons per layer."""
    module = model.model if isinstance(model, LanguageModel) else model
    return [site.n_neurons for site in find_sites(module)]


def _edit(model: LanguageModel | nn.Module, edit: Edit) -> Edit:
    module, sites = _unwrap(model)
    check_neurons(sites, edit.neurons)
    edit = replace(edit, base_fingerprint=edit.base_fingerprint or weights_fingerprint(module),
                   base_model=edit.base_model or model_name(model))
    _apply(module, sites, edit)
    _record(module, edit)
    if isinstance(model, LanguageModel) and edit.mode == "compact":
        model.refresh_sites()
    return edit


def prune_(model: LanguageModel | nn.Module, neurons: NeuronSet, *,
           means: dict[int, torch.Tensor] | None = None, read_in: bool = True, **provenance: Any) -> Edit:
    """Remove neurons permanently, in place.

    Without ``means`` the neuron's write-out column of the down-projection is zeroed, and with
    ``read_in`` (default) also its read-in rows and biases, so it is dead both ways (mode ``prune``;
    ``read_in=False`` gives mode ``zero``). With ``means`` (``{layer: [n_neurons]}``, e.g. from
    :func:`attributions.mean_activations`) the neuron's constant mean contribution is folded into
    the output bias first (mode ``mean``). Llama-family models get an MLP bias switched on for this
    (the checkpoint stays loadable by plain transformers); architectures without one raise
    :class:`EditError`.

    Returns:
        the applied :class:`Edit`; ``provenance`` keywords are stored in it.
    """
    if means is None:
        return _edit(model, Edit(neurons, "prune" if read_in else "zero", provenance=provenance))
    values = []
    for layer, neuron in neurons:
        if layer not in means:
            raise ValueError(f"means has no entry for layer {layer}")
        values.append(float(means[layer][neuron]))
    return _edit(model, Edit(neurons, "mean", values=tuple(values), provenance=provenance))


def scale_(model: LanguageModel | nn.Module, neurons: NeuronSet, factor: float, **provenance: Any) -> Edit:
    """Multiply the neurons' output by ``factor`` permanently (×0 suppresses, ×2 amplifies)."""
    return _edit(model, Edit(neurons, "scale", factor=float(factor), provenance=provenance))


def compact(model: LanguageModel | nn.Module, neurons: NeuronSet, **provenance: Any) -> Edit:
    """Remove the neurons from the MLPs, making them narrower (same logits as :func:`prune_`).

    Removing the same number of neurons from every layer keeps a standard checkpoint (the config's
    MLP width is updated). Other per-layer widths run in memory, but cannot be saved as a standard
    Hugging Face checkpoint of the architecture (:func:`~neuronedit.checkpoints.save_edited`
    refuses).
    """
    return _edit(model, Edit(neurons, "compact", provenance=provenance))


def apply_edit(model: LanguageModel | nn.Module, manifest: str | Path | Edit | Sequence[Edit], *,
               force: bool = False) -> list[Edit]:
    """Replay a manifest (a file, a checkpoint directory, an :class:`Edit` or a list of them).

    Edits whose id is already recorded in the model's config are skipped, so applying twice
    changes nothing. Before each edit the model's weight fingerprint must equal the one the edit
    was made on, unless ``force``.

    Returns:
        the edits applied now (empty when all were applied already).
    """
    directory = None
    if isinstance(manifest, Edit):
        edits = [manifest]
    elif isinstance(manifest, (str, Path)):
        path = Path(manifest)
        directory = path if path.is_dir() else path.parent
        edits = load_manifest(path)
    else:
        edits = list(manifest)
    module, sites = _unwrap(model)
    done = []
    for edit in edits:
        if edit.id in applied_edit_ids(module):
            continue
        if not force and not edit.base_fingerprint:
            raise ManifestError(f"edit {edit.id} names no base_fingerprint, so nothing shows it was made for this "
                                "model; pass force=True (CLI: --force) to apply it anyway")
        if not force:
            current = weights_fingerprint(module)
            if current != edit.base_fingerprint:
                raise ManifestError(
                    f"edit {edit.id} was made on weights with fingerprint {edit.base_fingerprint} "
                    f"({edit.base_model or 'unnamed model'}), this model's is {current}: it is another checkpoint, "
                    "dtype or state. Load the base model the manifest names, or pass force=True (CLI: --force)"
                )
        check_neurons(sites, edit.neurons)
        _apply(module, sites, edit, directory)
        _record(module, edit)
        if edit.mode == "compact":
            sites = find_sites(module)
        done.append(edit)
    if isinstance(model, LanguageModel) and any(e.mode == "compact" for e in done):
        model.refresh_sites()
    return done


@contextmanager
def _kept_record(module: nn.Module) -> Iterator[None]:
    """Restore the config (edit ids, MLP width, bias switch) and the session's edit history on exit."""
    config_state = copy.deepcopy(module.config.__dict__)
    history = list(module.__dict__.get("_neuronedit_history", []))
    try:
        yield
    finally:
        module.config.__dict__.clear()
        module.config.__dict__.update(config_state)
        module.__dict__["_neuronedit_history"] = history


@contextmanager
def restoring(model: LanguageModel | nn.Module) -> Iterator[nn.Module]:
    """Whatever happens to the parameters inside the block is undone on exit (a copy of every
    parameter is kept meanwhile), with the config and the edit record."""
    module = model.model if isinstance(model, LanguageModel) else model
    saved = {name: p.detach().clone() for name, p in module.named_parameters()}
    with _kept_record(module):
        try:
            yield module
        finally:
            with torch.no_grad():
                for name, p in module.named_parameters():
                    p.copy_(saved[name])


@contextmanager
def temporarily_applied(model: LanguageModel | nn.Module, edit: Edit,
                        directory: Path | None = None) -> Iterator[nn.Module]:
    """Apply ``edit`` to the weights for the block, then restore the model exactly.

    Only the modules the edit touches are copied (all parameters for an unlearning edit)."""
    module, sites = _unwrap(model)
    check_neurons(sites, edit.neurons)
    if edit.mode == "unlearn":
        with restoring(module):
            _apply(module, sites, edit, directory)
            _record(module, edit)
            yield module
        return
    touched: list[tuple[str, nn.Module, dict[str, torch.Tensor | None]]] = []
    layers = range(len(sites)) if edit.mode == "mean" else edit.neurons.by_layer()
    for layer in layers:
        site = sites[layer]
        for path, linear in [(site.name, site.module), *((p, m) for p, m, _ in site.read_in_modules)]:
            params = {"weight": linear.weight.detach().clone(),
                      "bias": None if getattr(linear, "bias", None) is None else linear.bias.detach().clone()}
            touched.append((path, linear, params))
    with _kept_record(module):
        try:
            _apply(module, sites, edit, directory)
            _record(module, edit)
            yield module
        finally:
            with torch.no_grad():
                for path, linear, params in touched:
                    _replace(module, path, linear)
                    linear.weight.copy_(params["weight"])
                    if params["bias"] is None:
                        linear.bias = None
                    else:
                        linear.bias.copy_(params["bias"])
            if isinstance(model, LanguageModel):
                model.refresh_sites()
