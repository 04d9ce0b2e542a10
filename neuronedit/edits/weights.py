"""Permanent neuron edits on the weights: ``prune_``, ``scale_``, ``compact_`` and ``apply_edit_``.

Every editor changes the model in place (hence the trailing ``_``), returns the applied
:class:`~neuronedit.edits.record.Edit` and records it in the model's
:class:`~neuronedit.edits.log.EditLog`, whose ids are saved with the checkpoint's config. That
record makes replaying idempotent (:func:`apply_edit_` skips edits already applied).

A pruned or scaled neuron keeps the dense shape: the MLP has the same size and speed. Only
:func:`compact_` makes it narrower, by removing the neurons' rows and columns.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import torch

from attributions import LanguageModel, NeuronSet
from attributions.errors import InputError

from .apply import commit, write_edit
from .handle import as_language_model
from .log import EditLog
from .masks import check_neurons
from .record import Edit, ManifestError, load_manifest

__all__ = ["apply_edit_", "compact_", "prune_", "scale_"]


def _provenance(provenance: Mapping[str, Any] | None) -> dict[str, Any]:
    if provenance is None:
        return {}
    if not isinstance(provenance, Mapping):
        raise TypeError(f"provenance must be a mapping (e.g. {{'method': 'grad_x_act'}}), "
                        f"not {type(provenance).__name__}")
    return dict(provenance)


def prune_(model: LanguageModel, neurons: NeuronSet, *, means: Mapping[int, torch.Tensor] | None = None,
           read_in: bool = True, provenance: Mapping[str, Any] | None = None) -> Edit:
    """Remove neurons permanently, in place.

    Without ``means`` the neuron's write-out column of the down-projection is zeroed, and with
    ``read_in`` (default) also its read-in rows and biases, so it is dead both ways (mode ``prune``;
    ``read_in=False`` gives mode ``zero``). With ``means`` (``{layer: [n_neurons]}``, e.g. from
    :func:`attributions.mean_activations`) the neuron's constant mean contribution is folded into
    the output bias first (mode ``mean``). Llama-family models get an MLP bias switched on for this
    (the checkpoint stays loadable by plain transformers); architectures without one raise
    :class:`~neuronedit.edits.record.EditError`.

    Args:
        provenance: where the edit came from (method, data hashes, k, ...), stored in the edit.

    Returns:
        the applied :class:`Edit`.
    """
    notes = _provenance(provenance)
    if means is None:
        return commit(model, Edit(neurons, "prune" if read_in else "zero", provenance=notes))
    values = []
    for layer, neuron in neurons:
        if layer not in means:
            raise InputError(f"means has no entry for layer {layer}")
        values.append(float(means[layer][neuron]))
    return commit(model, Edit(neurons, "mean", values=tuple(values), provenance=notes))


def scale_(model: LanguageModel, neurons: NeuronSet, factor: float | Sequence[float], *,
           provenance: Mapping[str, Any] | None = None) -> Edit:
    """Multiply the neurons' output by ``factor`` permanently, in place (×0 suppresses, ×2 amplifies);
    a sequence gives neuron ``i`` of ``neurons`` the factor ``factor[i]`` (e.g. from
    :func:`~neuronedit.edits.learned_scale`)."""
    if isinstance(factor, numbers.Real) or (isinstance(factor, torch.Tensor) and factor.dim() == 0):
        return commit(model, Edit(neurons, "scale", factor=float(factor), provenance=_provenance(provenance)))
    values = tuple(float(f) for f in cast(Sequence[float], factor))
    return commit(model, Edit(neurons, "scale", values=values, provenance=_provenance(provenance)))


def compact_(model: LanguageModel, neurons: NeuronSet, *,
             provenance: Mapping[str, Any] | None = None) -> Edit:
    """Remove the neurons from the MLPs in place, making them narrower (same logits as :func:`prune_`).

    Removing the same number of neurons from every layer keeps a standard checkpoint (the config's
    MLP width is updated). Other per-layer widths run in memory, but cannot be saved as a standard
    Hugging Face checkpoint of the architecture (:func:`~neuronedit.edits.checkpoint.save_edited`
    refuses).
    """
    return commit(model, Edit(neurons, "compact", provenance=_provenance(provenance)))


def apply_edit_(model: LanguageModel, manifest: str | Path | Edit | Sequence[Edit], *,
                force: bool = False) -> list[Edit]:
    """Replay a manifest (a file, a checkpoint directory, an :class:`Edit` or a list of them) in place.

    Edits whose id is already in the model's :class:`EditLog` are skipped, so applying twice
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
    lm = as_language_model(model)
    log = EditLog.of(lm)
    done = []
    for edit in edits:
        if edit in log:
            continue
        if not force and not edit.base_fingerprint:
            raise ManifestError(f"edit {edit.id} names no base_fingerprint, so nothing shows it was made for this "
                                "model; pass force=True (CLI: --force) to apply it anyway")
        if not force:
            current = lm.fingerprint()
            if current != edit.base_fingerprint:
                raise ManifestError(
                    f"edit {edit.id} was made on weights with fingerprint {edit.base_fingerprint} "
                    f"({edit.base_model or 'unnamed model'}), this model's is {current}: it is another checkpoint, "
                    "dtype or state. Load the base model the manifest names, or pass force=True (CLI: --force)"
                )
        where = f"{manifest}: edit {edit.id}" if isinstance(manifest, (str, Path)) else f"edit {edit.id}"
        check_neurons(lm.sites, edit.neurons, f"{where} (its neurons)")
        log.record(edit, delta_bytes=write_edit(lm, edit, directory))
        done.append(edit)
    return done

