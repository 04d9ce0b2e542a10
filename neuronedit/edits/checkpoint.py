"""``save_edited``: an edited model as a standard Hugging Face checkpoint plus ``neuronedit.json``."""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch

from attributions import LanguageModel

from ..model.cache import atomic_dir
from .compaction import mlp_widths
from .handle import as_language_model
from .log import EditLog
from .record import MANIFEST_NAME, Edit, EditError, save_manifest
from .temporary import temporarily_applied

if TYPE_CHECKING:
    from transformers import PreTrainedModel

__all__ = ["save_edited"]


def _check_standard_widths(lm: LanguageModel) -> None:
    module = lm.model
    widths = mlp_widths(lm)
    if len(set(widths)) > 1:
        raise EditError(
            f"the MLPs have different widths per layer ({min(widths)}..{max(widths)}) after compact_(); "
            f"{type(module).__name__} checkpoints need one width. Remove the same number of neurons from every "
            "layer, or save the dense edit (prune_) instead"
        )


def _check_finite(module: Any) -> None:
    """Refuse to write weights holding NaN or infinite values (offloaded ``meta`` parameters are skipped)."""
    for name, param in module.named_parameters():
        if param.device.type != "meta" and not bool(torch.isfinite(param).all()):
            raise EditError(f"the edited weights hold NaN or infinite values (first in {name}); nothing was "
                            "written: the edit overflowed the weights' dtype or an unlearning run diverged, so "
                            "redo it with a smaller factor or learning rate")


def save_edited(model: LanguageModel, out_dir: str | os.PathLike[str], edit: Edit | None = None, *,
                overwrite: bool = False) -> Path:
    """Write the edited model to ``out_dir``: safetensors weights, config, tokenizer and manifest.

    ``model`` is a :class:`LanguageModel`; its tokenizer is saved too. ``edit`` may be one already
    applied to the weights (``prune_``, ``scale_``, ``compact_``, ``apply_edit_``) or the record yielded by
    ``masked()``, which is applied to the weights for the save and undone afterwards. Without ``edit``, the edits
    applied in this session (the model's :class:`EditLog`) are saved. The checkpoint loads with
    plain ``transformers.AutoModelForCausalLM.from_pretrained(out_dir)``.

    Everything is written to a temporary directory beside ``out_dir`` and renamed into place, so
    an interrupted save leaves neither a partial checkpoint nor a damaged previous one.

    Raises:
        FileExistsError: ``out_dir`` exists and ``overwrite`` is False.
        EditError: nothing to save, per-layer MLP widths that the architecture cannot store, or NaN or
            infinite weights.
    """
    lm = as_language_model(model)
    tokenizer = lm.tokenizer
    module = lm.model
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise FileExistsError(f"{out_dir} already exists; pass overwrite=True (CLI: --overwrite) to replace it")
    log = EditLog.of(lm)
    history = log.history
    scope: AbstractContextManager[Any]
    if edit is not None and edit not in log:
        if not edit.base_fingerprint:
            edit = replace(edit, base_fingerprint=lm.fingerprint())
        scope = temporarily_applied(lm, edit)
        edits = [*history, edit]
    else:
        if edit is None and not history:
            raise EditError("the model carries no edit from this session: pass the Edit yielded by masked(), "
                            "or apply one with prune_/scale_/compact_/apply_edit_ first")
        scope = nullcontext(module)
        edits = history or [e for e in (edit,) if e is not None]
    with scope, atomic_dir(out_dir, overwrite=overwrite) as tmp:
        _check_standard_widths(lm)
        _check_finite(module)
        cast("PreTrainedModel", module).save_pretrained(tmp, safe_serialization=True)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        deltas = log.deltas
        for edit_ in edits:
            if edit_.delta:
                if edit_.delta not in deltas:
                    raise EditError(f"the weight delta {edit_.delta!r} of unlearning edit {edit_.id} is not in memory")
                (tmp / edit_.delta).write_bytes(deltas[edit_.delta])
        save_manifest(edits, tmp / MANIFEST_NAME, timings=True)  # durations: timings.json, not the manifest
    return out_dir
