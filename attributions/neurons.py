"""Results of attribution: :class:`NeuronScores` (a score per neuron) and :class:`NeuronSet`."""

from __future__ import annotations

import json
from collections import Counter
import operator
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import torch

__all__ = ["NeuronScores", "NeuronSet", "parse_neurons"]

SET_FORMAT = "neuronedit.neuronset/1"
SCORES_FORMAT = "neuronedit.scores/1"
MAX_INDEX = 2**31 - 1  # no model has more layers or neurons per layer; bigger numbers are damage
VOLATILE_META = ("seconds",)  # kept in memory, left out of saved files so that they are byte-reproducible


def _index(value: Any) -> int:
    """``value`` as a layer or neuron index: an integer (Python, numpy or torch; not a bool, not a
    float) in ``[0, MAX_INDEX]``; raises ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a bool, not an index")
    try:
        index = operator.index(value)
    except TypeError:
        raise ValueError(f"{value!r} is not an integer") from None
    if not 0 <= index <= MAX_INDEX:
        raise ValueError(f"{index} is outside 0..{MAX_INDEX}")
    return index


def parse_neurons(data: Any, where: str, *, allow_empty: bool = False) -> NeuronSet:
    """The one reader of neuron lists from files: ``[[layer, neuron], ...]`` with integer entries,
    no pair twice, and (unless ``allow_empty``) at least one pair.

    Raises:
        ValueError: naming ``where`` and the first bad entry.
    """
    if not isinstance(data, list):
        raise ValueError(f"{where} must be a list of [layer, neuron] pairs, not {type(data).__name__}")
    if not data and not allow_empty:
        raise ValueError(f"{where} is empty: a neuron set needs at least one [layer, neuron] pair")
    pairs: list[tuple[int, int]] = []
    for i, item in enumerate(data):
        try:
            if not isinstance(item, list) or len(item) != 2:
                raise ValueError("it is not a [layer, neuron] pair")
            pairs.append((_index(item[0]), _index(item[1])))
        except ValueError as err:
            raise ValueError(f"{where}[{i}] = {json.dumps(item)[:80]}: {err}; write non-negative integers") from None
    twice = [pair for pair, count in Counter(pairs).items() if count > 1]
    if twice:
        raise ValueError(f"{where} lists neuron {list(twice[0])} twice; list each neuron once")
    return NeuronSet(pairs)


class NeuronSet:
    """An ordered, hashable set of ``(layer, neuron)`` pairs.

    Order is kept (e.g. rank order from :meth:`NeuronScores.top`); equality and hashing ignore it.
    """

    __slots__ = ("_items", "_set")

    def __init__(self, neurons: Iterable[tuple[int, int]] = ()) -> None:
        items: list[tuple[int, int]] = []
        seen: set[tuple[int, int]] = set()
        for layer, neuron in neurons:
            try:
                key = (_index(layer), _index(neuron))
            except ValueError as err:
                raise ValueError(f"bad neuron ({layer!r}, {neuron!r}): {err}") from None
            if key not in seen:
                seen.add(key)
                items.append(key)
        self._items = tuple(items)
        self._set = frozenset(seen)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item: object) -> bool:
        return item in self._set

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NeuronSet) and self._set == other._set

    def __hash__(self) -> int:
        return hash(self._set)

    def __repr__(self) -> str:
        head = ", ".join(f"L{l}.{n}" for l, n in self._items[:5])
        return f"NeuronSet({len(self)} neurons: {head}{', ...' if len(self) > 5 else ''})"

    def __or__(self, other: NeuronSet) -> NeuronSet:
        return NeuronSet([*self._items, *other._items])

    def __and__(self, other: NeuronSet) -> NeuronSet:
        return NeuronSet(i for i in self._items if i in other._set)

    def __sub__(self, other: NeuronSet) -> NeuronSet:
        return NeuronSet(i for i in self._items if i not in other._set)

    def jaccard(self, other: NeuronSet) -> float:
        """|A ∩ B| / |A ∪ B| (1.0 for two empty sets)."""
        union = len(self._set | other._set)
        return len(self._set & other._set) / union if union else 1.0

    def by_layer(self) -> dict[int, torch.Tensor]:
        """Neuron indices per layer, ``{layer: LongTensor [k]}``, sorted by layer."""
        out: dict[int, list[int]] = {}
        for layer, neuron in self._items:
            out.setdefault(layer, []).append(neuron)
        return {layer: torch.tensor(out[layer], dtype=torch.long) for layer in sorted(out)}

    def to_mask(self, n_layers: int, n_neurons: int) -> torch.Tensor:
        """Boolean mask ``[n_layers, n_neurons]``."""
        mask = torch.zeros(n_layers, n_neurons, dtype=torch.bool)
        for layer, neuron in self._items:
            if layer >= n_layers or neuron >= n_neurons:
                raise ValueError(f"neuron {(layer, neuron)} is outside a [{n_layers} x {n_neurons}] model")
            mask[layer, neuron] = True
        return mask

    @classmethod
    def from_mask(cls, mask: torch.Tensor) -> NeuronSet:
        return cls((int(l), int(n)) for l, n in torch.nonzero(mask).tolist())

    def to_json(self, meta: dict[str, Any] | None = None) -> str:
        return json.dumps({"format": SET_FORMAT, "neurons": [list(i) for i in self._items], "meta": meta or {}})

    def save(self, path: str | os.PathLike[str], meta: dict[str, Any] | None = None) -> None:
        """Write JSON atomically (temporary file, then rename)."""
        _atomic_write_text(Path(path), self.to_json(meta))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> NeuronSet:
        """Read a file written by :meth:`save`; every entry is validated (:func:`parse_neurons`)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no neuron-set file at {path}")
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
            raise ValueError(f"{path}: not a readable neuron-set JSON file ({err})") from None
        if not isinstance(data, dict) or data.get("format") != SET_FORMAT:
            raise ValueError(f"{path}: expected a JSON object with format {SET_FORMAT!r} and a 'neurons' list "
                             "(write it with NeuronSet.save)")
        return parse_neurons(data.get("neurons"), f"{path}: neurons")


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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
            raise ValueError(f"by must be 'signed' or 'abs', not {by!r}")
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

        tensors = self._tensors()
        header: dict[str, Any] = {"format": SCORES_FORMAT, "meta": _stable(self.meta)}
        if self.control is not None:
            tensors.update(self.control._tensors("control."))
            header["control_meta"] = _stable(self.control.meta)
        # one metadata key: safetensors writes several in a random order, which would change the bytes
        meta = {"neuronedit": json.dumps(header, sort_keys=True)}
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            save_file(tensors, str(tmp), metadata=meta)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> NeuronScores:
        from safetensors import SafetensorError, safe_open

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no such scores file: {path}")
        try:
            with safe_open(str(path), framework="pt") as handle:
                header = handle.metadata() or {}
                tensors = {k: handle.get_tensor(k) for k in handle.keys()}
        except (SafetensorError, OSError) as err:
            raise ValueError(f"{path}: not a safetensors scores file ({err})") from None
        if "neuronedit" in header:
            try:
                header = json.loads(header["neuronedit"])
            except (json.JSONDecodeError, RecursionError) as err:
                raise ValueError(f"{path}: its metadata is not valid JSON ({err}); the file is damaged") from None
            if not isinstance(header, dict):
                raise ValueError(f"{path}: its metadata must be a JSON object; the file is damaged")
        if header.get("format") != SCORES_FORMAT or "scores" not in tensors:
            raise ValueError(f"{path}: not a neuronedit scores file (format {header.get('format')!r}); "
                             "write it with `neuronedit attribute` or NeuronScores.save")
        control = None
        if "control.scores" in tensors:
            control = cls(*_checked(tensors, "control.", path), _meta(header, "control_meta", path))
        return cls(*_checked(tensors, "", path), _meta(header, "meta", path), control)


def _stable(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if k not in VOLATILE_META}


def _meta(header: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    """``header[key]``: a JSON object, or a string holding one (files of version 0.1)."""
    meta = header.get(key, {})
    try:
        meta = json.loads(meta) if isinstance(meta, str) else meta
    except (json.JSONDecodeError, RecursionError) as err:
        raise ValueError(f"{path}: the {key!r} metadata is not valid JSON ({err}); the file is damaged") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: the {key!r} metadata must be a JSON object, not {type(meta).__name__}; "
                         "the file is damaged or was not written by neuronedit")
    return meta


def _checked(tensors: dict[str, torch.Tensor], prefix: str, path: Path) -> tuple[torch.Tensor, ...]:
    """``scores, std, consistency`` under ``prefix``: 2-D, one shape, finite scores."""
    scores = tensors[f"{prefix}scores"]
    if scores.dim() != 2 or scores.numel() == 0 or not scores.is_floating_point():
        raise ValueError(f"{path}: {prefix}scores must be a non-empty float tensor [layers, neurons], "
                         f"not {scores.dtype} {tuple(scores.shape)}; the file is damaged")
    out = [scores]
    for name in ("std", "consistency"):
        extra = tensors.get(f"{prefix}{name}")
        if extra is not None and extra.shape != scores.shape:
            raise ValueError(f"{path}: {prefix}{name} has shape {tuple(extra.shape)}, the scores "
                             f"{tuple(scores.shape)}; the file is damaged")
        out.append(extra)
    bad = int((~torch.isfinite(scores)).sum())
    if bad:
        raise ValueError(f"{path}: {bad} of {scores.numel()} {prefix}scores are NaN or infinite, so no ranking "
                         "of neurons is meaningful; recompute them (float32, fewer integration steps, or "
                         "check the data for empty inputs)")
    return tuple(out)
