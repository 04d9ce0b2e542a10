"""``save_edited``: an edited model as a standard Hugging Face checkpoint plus ``neuronedit.json``."""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

from torch import nn

from attributions import LanguageModel, weights_fingerprint

from .cache import atomic_dir
from .manifest import MANIFEST_NAME, Edit, save_manifest
from .weight_edits import EditError, applied_edit_ids, edit_history, mlp_widths, temporarily_applied

__all__ = ["save_edited"]


def _check_standard_widths(module: nn.Module) -> None:
    widths = mlp_widths(module)
    if len(set(widths)) > 1:
        raise EditError(
            f"the MLPs have different widths per layer ({min(widths)}..{max(widths)}) after compact(); "
            f"{type(module).__name__} checkpoints need one width. Remove the same number of neurons from every "
            "layer, or save the dense edit (prune_) instead"
        )


def save_edited(model: LanguageModel | nn.Module, tokenizer: Any, out_dir: str | os.PathLike[str],
                edit: Edit | None = None, *, overwrite: bool = False) -> Path:
    """Write the edited model to ``out_dir``: safetensors weights, config, tokenizer and manifest.

    ``edit`` may be one already applied to the weights (``prune_``, ``scale_``, ``compact``,
    ``apply_edit``) or the record yielded by ``masked()``, which is applied to the weights for the
    save and undone afterwards. Without ``edit``, the edits applied in this session are saved.
    The checkpoint loads with plain ``transformers.AutoModelForCausalLM.from_pretrained(out_dir)``.

    Everything is written to a temporary directory beside ``out_dir`` and renamed into place, so
    an interrupted save leaves neither a partial checkpoint nor a damaged previous one.

    Raises:
        FileExistsError: ``out_dir`` exists and ``overwrite`` is False.
        EditError: nothing to save, or per-layer MLP widths that the architecture cannot store.
    """
    module = model.model if isinstance(model, LanguageModel) else model
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise FileExistsError(f"{out_dir} already exists; pass overwrite=True (CLI: --overwrite) to replace it")
    history = edit_history(module)
    if edit is not None and edit.id not in applied_edit_ids(module):
        if not edit.base_fingerprint:
            edit = replace(edit, base_fingerprint=weights_fingerprint(module))
        scope = temporarily_applied(model, edit)
        edits = [*history, edit]
    else:
        if edit is None and not history:
            raise EditError("the model carries no edit from this session: pass the Edit yielded by masked(), "
                            "or apply one with prune_/scale_/compact/apply_edit first")
        scope = nullcontext(module)
        edits = history or [edit]  # type: ignore[list-item]
    with scope, atomic_dir(out_dir, overwrite=overwrite) as tmp:
        _check_standard_widths(module)
        module.save_pretrained(tmp, safe_serialization=True)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        deltas: dict[str, bytes] = module.__dict__.get("_neuronedit_deltas", {})
        for edit_ in edits:
            if edit_.delta:
                if edit_.delta not in deltas:
                    raise EditError(f"the weight delta {edit_.delta!r} of unlearning edit {edit_.id} is not in memory")
                (tmp / edit_.delta).write_bytes(deltas[edit_.delta])
        save_manifest(edits, tmp / MANIFEST_NAME)
    return out_dir
