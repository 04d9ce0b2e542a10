"""The weight delta of an unlearning edit, stored compactly: for every changed parameter the flat
indices of the entries that changed and their new values (safetensors, no pickle).

Replaying writes those values back, so a replay reproduces the unlearned weights bit for bit. The
delta file must sit in the manifest's folder and match the SHA-256 the manifest names.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes
from torch import nn

from .log import EditLog
from .record import Edit, ManifestError

__all__ = ["add_delta", "delta_bytes", "make_delta"]


def _read_delta(edit: Edit, directory: Path | None) -> bytes:
    """The bytes of ``directory/edit.delta``, refusing any path that leaves ``directory`` (symlinks too)."""
    if directory is None:
        raise ManifestError(f"the weight delta {edit.delta!r} of {edit.mode} edit {edit.id} is not in memory; "
                            "apply the edit from its manifest file so the delta next to it is found")
    root = directory.resolve()
    path = (root / str(edit.delta)).resolve()
    if path.parent != root:
        raise ManifestError(f"the weight delta {edit.delta!r} resolves to {path}, outside the manifest's folder "
                            f"{root}; a delta must be a file in that folder")
    if not path.exists():
        raise ManifestError(f"the weight delta {edit.delta!r} of {edit.mode} edit {edit.id} is not in {root}; "
                            "keep it next to the manifest")
    if not path.is_file():
        raise ManifestError(f"the weight delta {path} is not a regular file (a folder, a pipe or a device); "
                            "restore the file `neuronedit` wrote next to the manifest")
    return path.read_bytes()


def make_delta(before: dict[str, torch.Tensor], module: nn.Module) -> dict[str, torch.Tensor]:
    """``{name.index: LongTensor [c], name.value: [c]}`` for the ``c`` entries of each parameter that
    differ from ``before`` (flat indices into the parameter; parameters missing from ``before`` are
    unchanged by definition)."""
    out: dict[str, torch.Tensor] = {}
    for name, param in module.named_parameters():
        if name not in before:
            continue
        flat_new, flat_old = param.detach().reshape(-1), before[name].reshape(-1)
        changed = (flat_new != flat_old).nonzero().squeeze(1)
        if changed.numel():
            out[f"{name}.index"] = changed.cpu().contiguous()
            out[f"{name}.value"] = flat_new[changed].cpu().contiguous()
    return out


def delta_bytes(delta: dict[str, torch.Tensor]) -> tuple[bytes, str]:
    """The safetensors bytes of a delta and their SHA-256."""
    data = save_bytes(dict(sorted(delta.items())), metadata={"format": "neuronedit.delta/1"})
    return data, hashlib.sha256(data).hexdigest()


@torch.no_grad()
def add_delta(module: nn.Module, edit: Edit, directory: Path | None) -> bytes:
    """Write an unlearning edit's new values into ``module`` (from the model's :class:`EditLog`, or
    from ``directory/edit.delta``); every entry is checked before any is written.

    Returns:
        the delta file's bytes (for :meth:`EditLog.record`).
    """
    data = EditLog.of(module).deltas.get(str(edit.delta))
    if data is None:
        data = _read_delta(edit, directory)
        where = str(directory.resolve() / str(edit.delta)) if directory is not None else str(edit.delta)
    else:
        where = f"{edit.delta} (in memory)"
    if hashlib.sha256(data).hexdigest() != edit.delta_sha256:
        raise ManifestError(f"{where} does not match the SHA-256 in the manifest: the file is damaged or "
                            "belongs to another edit")
    try:
        tensors = load_bytes(data)
    except (SafetensorError, KeyError) as err:  # damaged bytes; KeyError: a dtype this torch build lacks
        raise ManifestError(f"the weight delta {where} is not a safetensors file ({err}); restore it or run the "
                            "edit again") from None
    params = dict(module.named_parameters())
    updates = []
    for key, index in tensors.items():  # check everything before writing anything
        if not key.endswith(".index"):
            continue
        name = key[: -len(".index")]
        if name not in params:
            raise ManifestError(f"the weight delta {where} names parameter {name!r}, which this model does not have: "
                                "apply it to the model it was made on")
        param, value = params[name], tensors.get(f"{name}.value")
        if index.dtype != torch.long or index.dim() != 1 or value is None or value.shape != index.shape:
            raise ManifestError(f"the weight delta {where}: the entries for {name!r} are malformed (index and value "
                                "must be 1-D of one length, index int64)")
        if index.numel() and (int(index.min()) < 0 or int(index.max()) >= param.numel()):
            raise ManifestError(f"the weight delta {where} indexes outside {name!r}: it was made on another "
                                "architecture; apply it to the model it was made on")
        if not bool(torch.isfinite(value.to(param.dtype)).all()):
            raise ManifestError(f"the weight delta {where} holds NaN or infinite values for {name!r}; nothing "
                                "was changed: the unlearning run diverged or the file was made by hand, so unlearn "
                                "again (a lower --lr)")
        updates.append((param, index, value))
    for param, index, value in updates:
        param.view(-1)[index.to(param.device)] = value.to(param.device, param.dtype)
    return data
