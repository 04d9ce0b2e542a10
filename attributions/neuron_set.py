"""A set of neurons: :class:`NeuronSet`, its JSON file, and the checks of neuron indices
(:func:`parse_neurons` for files, :meth:`NeuronSet.check_fits` against a model's layer widths)."""

from __future__ import annotations

import json
import operator
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from .errors import InputError
from .files import atomic_file, read_json

__all__ = ["NeuronSet", "parse_neurons"]

SET_FORMAT = "neuronedit.neuronset/1"
_MAX_INDEX = 2**31 - 1  # no model has more layers or neurons per layer; bigger numbers are damage


def _index(value: Any) -> int:
    """``value`` as a layer or neuron index: an integer (Python, numpy or torch; not a bool, not a
    float) in ``[0, _MAX_INDEX]``; raises ValueError otherwise."""
    if isinstance(value, bool):
        raise InputError(f"{value!r} is a bool, not an index")
    try:
        index = operator.index(value)
    except TypeError:
        raise InputError(f"{value!r} is not an integer") from None
    if not 0 <= index <= _MAX_INDEX:
        raise InputError(f"{index} is outside 0..{_MAX_INDEX}")
    return index


def parse_neurons(data: Any, where: str, *, allow_empty: bool = False) -> NeuronSet:
    """The one reader of neuron lists from files: ``[[layer, neuron], ...]`` with integer entries,
    no pair twice, and (unless ``allow_empty``) at least one pair.

    Raises:
        ValueError: naming ``where`` and the first bad entry.
    """
    if not isinstance(data, list):
        raise InputError(f"{where} must be a list of [layer, neuron] pairs, not {type(data).__name__}")
    if not data and not allow_empty:
        raise InputError(f"{where} is empty: a neuron set needs at least one [layer, neuron] pair")
    pairs: list[tuple[int, int]] = []
    for i, item in enumerate(data):
        try:
            if not isinstance(item, list) or len(item) != 2:
                raise InputError("it is not a [layer, neuron] pair")
            pairs.append((_index(item[0]), _index(item[1])))
        except ValueError as err:
            raise InputError(f"{where}[{i}] = {json.dumps(item)[:80]}: {err}; write non-negative integers") from None
    twice = [pair for pair, count in Counter(pairs).items() if count > 1]
    if twice:
        raise InputError(f"{where} lists neuron {list(twice[0])} twice; list each neuron once")
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
                raise InputError(f"bad neuron ({layer!r}, {neuron!r}): {err}") from None
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
        head = ", ".join(f"L{layer}.{n}" for layer, n in self._items[:5])
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

    def check_fits(self, widths: Sequence[int], where: str = "neuron set") -> None:
        """The one range check of neurons against a model: layer ``i`` has ``widths[i]`` neurons.

        Raises:
            ValueError: naming ``where``, the first neuron (in set order) the model does not have,
                and the valid range.
        """
        for layer, neuron in self._items:
            if layer >= len(widths):
                raise InputError(f"{where}: neuron {[layer, neuron]} is out of range: there is no layer {layer}, "
                                 f"the model has {len(widths)} layers (0..{len(widths) - 1})")
            if neuron >= widths[layer]:
                raise InputError(f"{where}: neuron {[layer, neuron]} is out of range: layer {layer} has "
                                 f"{widths[layer]} neurons (0..{widths[layer] - 1})")

    def to_mask(self, n_layers: int, n_neurons: int) -> torch.Tensor:
        """Boolean mask ``[n_layers, n_neurons]``.

        Raises:
            ValueError: a neuron is outside the mask (:meth:`check_fits`).
        """
        self.check_fits([n_neurons] * n_layers)
        mask = torch.zeros(n_layers, n_neurons, dtype=torch.bool)
        for layer, neuron in self._items:
            mask[layer, neuron] = True
        return mask

    def to_json(self, meta: dict[str, Any] | None = None) -> str:
        return json.dumps({"format": SET_FORMAT, "neurons": [list(i) for i in self._items], "meta": meta or {}})

    def save(self, path: str | os.PathLike[str], meta: dict[str, Any] | None = None) -> None:
        """Write JSON atomically (temporary file, then rename)."""
        with atomic_file(path) as tmp:
            tmp.write_text(self.to_json(meta))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> NeuronSet:
        """Read a file written by :meth:`save`; every entry is validated (:func:`parse_neurons`)."""
        path = Path(path)
        data = read_json(path, "neuron set", "give a file written by NeuronSet.save")
        if not isinstance(data, dict) or data.get("format") != SET_FORMAT:
            raise InputError(f"{path}: expected a JSON object with format {SET_FORMAT!r} and a 'neurons' list "
                             "(write it with NeuronSet.save)")
        return parse_neurons(data.get("neurons"), f"{path}: neurons")
