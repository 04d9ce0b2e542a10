"""Results of attribution: :class:`NeuronScores`, a score per neuron, saved and loaded as safetensors."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .errors import InputError
from .files import MAX_JSON_DEPTH, atomic_file, json_depth
from .neuron_set import NeuronSet
from .timings import TIMING_KEYS

__all__ = ["NeuronScores"]

_SCORES_FORMAT = "neuronedit.scores/1"
_VOLATILE_META = TIMING_KEYS  # kept in memory, left out of saved files (the rule: attributions.timings)


@dataclass
class NeuronScores:
    """A score per neuron, ``scores [n_layers, n_neurons]``, with per-example statistics.

    Attributes:
        scores: mean attribution over examples ``[L, N]`` (positive: the neuron pushes the objective up).
        std: standard deviation over examples ``[L, N]`` (or None).
        consistency: share of examples whose attribution has the sign of the mean ``[L, N]`` (or None).
        meta: model id and weight fingerprint, method, objective, number of examples, seed, settings.
        control: scores of a control objective (e.g. language modelling on neutral text), if computed.
    """

    scores: torch.Tensor
    std: torch.Tensor | None = None
    consistency: torch.Tensor | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    control: NeuronScores | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.scores.shape[0]), int(self.scores.shape[1]))

    def top(self, k: int, *, by: str = "signed") -> NeuronSet:
        """The ``k`` highest-scoring neurons, in rank order. ``by="abs"`` ranks by magnitude."""
        values = self.scores.abs() if by == "abs" else self.scores
        if by not in ("signed", "abs"):
            raise InputError(f"by must be 'signed' or 'abs', not {by!r}")
        flat = values.flatten()
        k = min(k, flat.numel())
        order = torch.topk(flat, k).indices
        width = self.shape[1]
        return NeuronSet((int(i) // width, int(i) % width) for i in order)

    def threshold(self, rel: float = 0.2) -> NeuronSet:
        """Neurons scoring at least ``rel`` times the maximum score, in rank order."""
        best = float(self.scores.max())
        if best <= 0:
            return NeuronSet()
        count = int((self.scores >= rel * best).sum())
        return self.top(count)

    def per_layer(self) -> Any:
        """pandas DataFrame: per layer, the mean, max and sum of scores and the top neuron."""
        import pandas as pd

        s = self.scores
        return pd.DataFrame({"layer": range(s.shape[0]), "mean": s.mean(1).tolist(), "max": s.max(1).values.tolist(),
                             "sum": s.sum(1).tolist(), "top_neuron": s.argmax(1).tolist()})

    def to_frame(self) -> Any:
        """pandas DataFrame with one row per neuron: layer, neuron, score (and std, consistency, control)."""
        import pandas as pd

        L, N = self.shape
        data = {"layer": torch.arange(L).repeat_interleave(N).tolist(), "neuron": torch.arange(N).repeat(L).tolist(),
                "score": self.scores.flatten().tolist()}
        if self.std is not None:
            data["std"] = self.std.flatten().tolist()
        if self.consistency is not None:
            data["consistency"] = self.consistency.flatten().tolist()
        if self.control is not None:
            data["control"] = self.control.scores.flatten().tolist()
        return pd.DataFrame(data)

    def _tensors(self, prefix: str = "") -> dict[str, torch.Tensor]:
        out = {f"{prefix}scores": self.scores.float().contiguous()}
        if self.std is not None:
            out[f"{prefix}std"] = self.std.float().contiguous()
        if self.consistency is not None:
            out[f"{prefix}consistency"] = self.consistency.float().contiguous()
        return out

    def save(self, path: str | os.PathLike[str]) -> None:
        """One safetensors file: tensors plus JSON metadata (no pickle). Written atomically.

        Timings (``meta["seconds"]``) stay out of the file: the same scores give the same bytes."""
        from safetensors.torch import save_file

        for part, what in ((self, ""), (self.control, "control ")):
            if part is None:
                continue
            bad = int((~torch.isfinite(part.scores)).sum())
            if bad:  # the rule load applies, before anything is written
                raise InputError(f"{path}: not written: {bad} of {part.scores.numel()} {what}scores are NaN or "
                                 "infinite, so no ranking of neurons is meaningful; recompute them (float32, fewer "
                                 "integration steps, or check the data for empty inputs)")
        tensors = self._tensors()
        header: dict[str, Any] = {"format": _SCORES_FORMAT, "meta": _stable(self.meta)}
        if self.control is not None:
            tensors.update(self.control._tensors("control."))
            header["control_meta"] = _stable(self.control.meta)
        # one metadata key: safetensors writes several in a random order, which would change the bytes
        meta = {"neuronedit": json.dumps(header, sort_keys=True)}
        with atomic_file(path) as tmp:
            save_file(tensors, str(tmp), metadata=meta)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> NeuronScores:
        from safetensors import SafetensorError, safe_open

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no such scores file: {path}")
        if not path.is_file():
            raise InputError(f"{path} is not a regular file (a folder, a pipe or a device), so it is no scores file; "
                             "give the .safetensors file `neuronedit attribute` wrote")
        try:  # the metadata is checked before any tensor is read: a model's weights file is refused unread
            with safe_open(str(path), framework="pt") as handle:
                header = _header(handle.metadata() or {}, path)
                if header.get("format") != _SCORES_FORMAT or "scores" not in handle.keys():  # noqa: SIM118
                    raise InputError(f"{path}: not a neuronedit scores file (format {header.get('format')!r}); "
                                     "write it with `neuronedit attribute` or NeuronScores.save")
                tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118 - safe_open is no dict: keys() is its API
        except (SafetensorError, OSError) as err:
            raise InputError(f"{path}: not a safetensors scores file ({err})") from None
        control = None
        if "control.scores" in tensors:
            control = cls(*_checked(tensors, "control.", path), _meta(header, "control_meta", path))
            if control.scores.shape != tensors["scores"].shape:
                raise InputError(f"{path}: its control scores have shape {tuple(control.scores.shape)}, the scores "
                                 f"{tuple(tensors['scores'].shape)}; the file is damaged")
        return cls(*_checked(tensors, "", path), _meta(header, "meta", path), control)


def _header(metadata: dict[str, str], path: Path) -> dict[str, Any]:
    """The decoded ``neuronedit`` metadata entry of a scores file: a JSON object, nested at most
    :data:`~.files.MAX_JSON_DEPTH` deep, without NaN or infinite constants."""
    try:
        header = json.loads(metadata.get("neuronedit", "{}"), parse_constant=_no_constant)
    except (ValueError, RecursionError) as err:  # JSONDecodeError, NaN/Infinity, a 5000-digit integer
        raise InputError(f"{path}: its metadata is not valid JSON ({str(err)[:120]}); the file is damaged") from None
    if not isinstance(header, dict):
        raise InputError(f"{path}: its metadata must be a JSON object; the file is damaged")
    if json_depth(header) > MAX_JSON_DEPTH:
        raise InputError(f"{path}: its metadata nests more than {MAX_JSON_DEPTH} deep; the file is damaged")
    return header


def _stable(meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` without the volatile keys, also in the ``parts`` of a combined control."""
    return {k: [_stable(p) if isinstance(p, dict) else p for p in v] if k == "parts" and isinstance(v, list) else v
            for k, v in meta.items() if k not in _VOLATILE_META}


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


_META_TYPES: dict[str, tuple[type, ...]] = {"model": (str,), "fingerprint": (str,), "method": (str,),
                                            "n_examples": (int,), "seed": (int,), "data": (str,)}
"""Types of the metadata fields other code reads or copies into manifests (absent or null is allowed)."""


def _meta(header: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    """``header[key]``, a JSON object whose known fields have their types."""
    meta = header.get(key, {})
    if not isinstance(meta, dict):
        raise InputError(f"{path}: the {key!r} metadata must be a JSON object, not {type(meta).__name__}; "
                         "the file is damaged or was not written by neuronedit")
    for name, types in _META_TYPES.items():
        value = meta.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, types)
                                  or (isinstance(value, int) and value < 0)):
            raise InputError(f"{path}: the {key!r} metadata field {name!r} must be a "
                             f"{'non-negative integer' if int in types else 'string'}, not {str(value)[:40]!r}; "
                             "the file is damaged or was not written by neuronedit")
    return meta


def _checked(tensors: dict[str, torch.Tensor], prefix: str,
             path: Path) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """``scores, std, consistency`` under ``prefix``: 2-D, one shape, finite scores."""
    scores = tensors[f"{prefix}scores"]
    if scores.dim() != 2 or scores.numel() == 0 or not scores.is_floating_point():
        raise InputError(f"{path}: {prefix}scores must be a non-empty float tensor [layers, neurons], "
                         f"not {scores.dtype} {tuple(scores.shape)}; the file is damaged")
    out: list[torch.Tensor | None] = [scores]
    for name in ("std", "consistency"):
        extra = tensors.get(f"{prefix}{name}")
        if extra is not None and extra.shape != scores.shape:
            raise InputError(f"{path}: {prefix}{name} has shape {tuple(extra.shape)}, the scores "
                             f"{tuple(scores.shape)}; the file is damaged")
        out.append(extra)
    bad = int((~torch.isfinite(scores)).sum())
    if bad:
        raise InputError(f"{path}: {bad} of {scores.numel()} {prefix}scores are NaN or infinite, so no ranking "
                         "of neurons is meaningful; recompute them (float32, fewer integration steps, or "
                         "check the data for empty inputs)")
    return scores, out[1], out[2]
