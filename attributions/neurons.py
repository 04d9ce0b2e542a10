"""Results of attribution: :class:`NeuronScores` (a score per neuron) and :class:`NeuronSet`."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import torch

__all__ = ["NeuronScores", "NeuronSet"]

SET_FORMAT = "neuronedit.neuronset/1"
SCORES_FORMAT = "neuronedit.scores/1"


class NeuronSet:
    """An ordered, hashable set of ``(layer, neuron)`` pairs.

    Order is kept (e.g. rank order from :meth:`NeuronScores.top`); equality and hashing ignore it.
    """

    __slots__ = ("_items", "_set")

    def __init__(self, neurons: Iterable[tuple[int, int]] = ()) -> None:
        items: list[tuple[int, int]] = []
        seen: set[tuple[int, int]] = set()
        for layer, neuron in neurons:
            key = (int(layer), int(neuron))
            if key[0] < 0 or key[1] < 0:
                raise ValueError(f"negative layer or neuron index {key}")
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
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}: not a readable neuron-set JSON file ({err})") from None
        if not isinstance(data, dict) or data.get("format") != SET_FORMAT or not isinstance(data.get("neurons"), list):
            raise ValueError(f"{path}: expected a JSON object with format {SET_FORMAT!r} and a 'neurons' list")
        try:
            return cls((l, n) for l, n in data["neurons"])
        except (TypeError, ValueError) as err:
            raise ValueError(f"{path}: 'neurons' must be [layer, neuron] pairs of non-negative integers ({err})") from None


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
        """One safetensors file: tensors plus JSON metadata (no pickle). Written atomically."""
        from safetensors.torch import save_file

        tensors = self._tensors()
        meta = {"format": SCORES_FORMAT, "meta": json.dumps(self.meta)}
        if self.control is not None:
            tensors.update(self.control._tensors("control."))
            meta["control_meta"] = json.dumps(self.control.meta)
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
        if header.get("format") != SCORES_FORMAT or "scores" not in tensors:
            raise ValueError(f"{path}: not a neuronedit scores file (format {header.get('format')!r})")
        control = None
        if "control.scores" in tensors:
            control = cls(tensors["control.scores"], tensors.get("control.std"), tensors.get("control.consistency"),
                          json.loads(header.get("control_meta", "{}")))
        return cls(tensors["scores"], tensors.get("std"), tensors.get("consistency"),
                   json.loads(header.get("meta", "{}")), control)
