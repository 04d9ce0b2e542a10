"""Saving and loading a fitted :class:`~neuronedit.baselines.leace.ConceptEraser`.

``save_eraser(eraser, lm, folder)`` writes ``leace.safetensors`` (per layer ``{layer}.proj_left``,
``{layer}.proj_right``, ``{layer}.bias``) and ``leace.json`` (base model, its fingerprint, domain,
layers, the tensor file's SHA-256). ``load_eraser`` treats both as untrusted: it checks the digest,
the fingerprint, the layers and every tensor's shape before anything touches the model.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_bytes
from safetensors.torch import save_file

from attributions import LanguageModel
from attributions.errors import InputError
from attributions.files import atomic_file, read_json

from ..edits.handle import as_language_model
from .leace import ConceptEraser

__all__ = ["EraserFileError", "load_eraser", "save_eraser"]

TENSORS, MANIFEST = "leace.safetensors", "leace.json"


class EraserFileError(InputError):
    """A saved eraser that cannot be used with this model (the message names the file and the fix)."""


def save_eraser(eraser: ConceptEraser, model: LanguageModel, folder: str | os.PathLike[str]) -> Path:
    """Write the eraser to ``folder`` (tensors first, the manifest last, each atomically); returns the manifest."""
    lm = as_language_model(model)
    folder = Path(folder)
    tensors: dict[str, torch.Tensor] = {}
    for layer, fitted in eraser.erasers.items():
        tensors[f"{layer}.proj_left"] = fitted.proj_left.detach().cpu().contiguous()
        tensors[f"{layer}.proj_right"] = fitted.proj_right.detach().cpu().contiguous()
        if fitted.bias is not None:
            tensors[f"{layer}.bias"] = fitted.bias.detach().cpu().contiguous()
    with atomic_file(folder / TENSORS) as tmp:
        save_file(tensors, str(tmp))
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    manifest = {"kind": "leace", "domain": eraser.domain, "layers": sorted(eraser.erasers),
                "base_model": lm.name, "base_fingerprint": lm.fingerprint(), "file": TENSORS, "sha256": digest,
                "meta": eraser.meta}
    with atomic_file(folder / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    return folder / MANIFEST


def _fail(where: Path, problem: str, fix: str) -> EraserFileError:
    return EraserFileError(f"{where}: {problem}; {fix}")


def load_eraser(path: str | os.PathLike[str], model: LanguageModel, *, force: bool = False) -> ConceptEraser:
    """Read an eraser saved by :func:`save_eraser` (``path``: its folder or manifest) for ``model``.

    Raises:
        EraserFileError: unreadable or inconsistent files, or a model the eraser was not fitted on
            (``force`` skips only the fingerprint check).
    """
    from concept_erasure import LeaceEraser  # type: ignore[import-untyped]

    lm = as_language_model(model)
    path = Path(path)
    manifest_path = path / MANIFEST if path.is_dir() else path
    refit = "fit the eraser again (fit_leace, then save_eraser)"
    manifest: Any = read_json(manifest_path, "LEACE manifest", refit, EraserFileError)
    if not isinstance(manifest, dict) or manifest.get("kind") != "leace":
        raise _fail(manifest_path, "not a LEACE manifest (no \"kind\": \"leace\")", refit)
    layers, digest = manifest.get("layers"), manifest.get("sha256")
    n_layers = len(lm.sites)
    if (not isinstance(layers, list) or not layers
            or not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < n_layers for x in layers)):
        raise _fail(manifest_path, f"\"layers\" must list layer numbers 0..{n_layers - 1}", refit)
    if not force and manifest.get("base_fingerprint") != lm.fingerprint():
        raise _fail(manifest_path, f"fitted on another model ({manifest.get('base_model')!r}, weights differ)",
                    "load it with the model it was fitted on, or pass force=True / --force")
    tensor_path = manifest_path.parent / TENSORS
    try:
        raw = tensor_path.read_bytes()
    except OSError as err:
        raise _fail(tensor_path, f"cannot be read ({err.strerror})",
                    "keep leace.safetensors beside leace.json") from None
    if hashlib.sha256(raw).hexdigest() != digest:
        raise _fail(tensor_path, "its SHA-256 does not match the manifest (changed or truncated)", refit)
    try:
        tensors = load_bytes(raw)  # the bytes whose digest was checked, not a second read
    except (SafetensorError, ValueError, RuntimeError) as err:  # malformed header or data
        raise _fail(tensor_path, f"not a safetensors file ({err})", refit) from None
    hidden = getattr(lm.model.config, "hidden_size", None)
    if not isinstance(hidden, int):
        raise _fail(manifest_path, "the model's config names no hidden_size",
                    "LEACE needs a transformer's residual width")
    erasers = {}
    for layer in layers:
        left, right = tensors.get(f"{layer}.proj_left"), tensors.get(f"{layer}.proj_right")
        bias = tensors.get(f"{layer}.bias")
        if (left is None or right is None or left.ndim != 2 or left.shape[0] != hidden
                or right.shape != left.shape[::-1] or (bias is not None and bias.shape != (hidden,))):
            raise _fail(tensor_path, f"layer {layer}'s projection is missing or not {hidden}-wide", refit)
        present = [t for t in (left, right, bias) if t is not None]
        if not all(t.is_floating_point() and bool(torch.isfinite(t).all()) for t in present):
            raise _fail(tensor_path, f"layer {layer}'s projection holds non-float, NaN or infinite values", refit)
        erasers[layer] = LeaceEraser(left.float(), right.float(), None if bias is None else bias.float())
    meta: dict[str, Any] = manifest["meta"] if isinstance(manifest.get("meta"), dict) else {}
    return ConceptEraser(erasers, str(manifest.get("domain", "")), meta)
