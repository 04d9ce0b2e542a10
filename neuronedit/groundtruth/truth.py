"""The ground truth of a planted model: which neurons carry which planted role, written as ``planted.json``
beside the checkpoint, and read back as untrusted input."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from attributions import NeuronSet
from attributions.errors import InputError
from attributions.files import atomic_file, read_json
from attributions.timings import split_timings, write_timings

__all__ = ["PLANTED_FORMAT", "PLANTED_NAME", "ROLES", "VARIANTS", "GroundTruth", "PlantedNeuron"]

PLANTED_NAME = "planted.json"
PLANTED_FORMAT = "neuronedit.planted/1"
ROLES = ("bias", "frequency", "knowledge")
"""``bias``: reads a group context, writes the stereotypical attribute (the mechanism to find);
``frequency``: fires before group terms and raises their logits (no association: a decoy the
association objective must not rank); ``knowledge``: writes definitional agreement such as
"The actress said that she" (a decoy the knowledge control must exclude)."""
VARIANTS = ("separate", "shared")
"""``separate``: each domain's bias neurons apart; ``shared``: one set reads every domain and writes one
attribute direction, so removing it for one domain must move the others."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) < 1e300


def _check_roles(neurons: list[PlantedNeuron], domains: list[str], variant: str,
                 fail: Callable[[str], InputError]) -> None:
    """Every domain has bias neurons, every neuron serves listed domains (shared bias neurons serve all)."""
    for n in neurons:
        served = n.domain.split("+")
        if not set(served) <= set(domains) or (n.role != "bias" and len(served) != 1):
            raise fail(f"neuron ({n.layer}, {n.neuron}) serves {n.domain!r}, which is not among the domains")
        if n.role == "bias" and variant == "shared" and served != domains:
            raise fail(f"shared bias neuron ({n.layer}, {n.neuron}) must serve {'+'.join(domains)}")
        if n.role == "bias" and variant == "separate" and len(served) != 1:
            raise fail(f"separate bias neuron ({n.layer}, {n.neuron}) must serve one domain")
    missing = [d for d in domains if not any(n.role == "bias" and d in n.domain.split("+") for n in neurons)]
    if missing:
        raise fail(f"no bias neuron serves {', '.join(missing)}")


@dataclass(frozen=True)
class PlantedNeuron:
    """One planted neuron: where, its role, the domain it serves (all of them, ``+``-joined, when
    shared) and its sign (+1 or -1: the two neurons of a pair read and write opposite directions)."""

    layer: int
    neuron: int
    role: str
    domain: str
    sign: int


@dataclass
class GroundTruth:
    """What was planted: the neurons, the variant, the target ``strength`` (association points on the
    domains' dev pairs) and per domain the ``gain`` found for it, the dev association ``before`` and
    ``after`` planting, and ``provenance`` (data, seed, model fingerprint, direction statistics)."""

    neurons: list[PlantedNeuron]
    variant: str
    domains: list[str]
    strength: float
    seed: int
    gain: dict[str, float] = field(default_factory=dict)
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def of(self, role: str = "bias", domain: str | None = None) -> NeuronSet:
        """The neurons of ``role`` serving ``domain`` (any domain when None; shared neurons serve each)."""
        return NeuronSet((n.layer, n.neuron) for n in self.neurons
                         if n.role == role and (domain is None or domain in n.domain.split("+")))

    def to_dict(self) -> dict[str, Any]:
        return {"format": PLANTED_FORMAT, **asdict(self)}

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write ``folder/planted.json`` (its durations go to ``timings.json``: :mod:`attributions.timings`)."""
        path = Path(folder) / PLANTED_NAME
        body, timings = split_timings(self.to_dict())
        with atomic_file(path) as tmp:
            tmp.write_text(json.dumps(body, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        write_timings(folder, PLANTED_NAME, timings)
        return path

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> GroundTruth:
        """Read ``folder/planted.json`` (or the file itself), checking every field."""
        path = Path(folder)
        path = path / PLANTED_NAME if path.is_dir() else path
        data = read_json(path, "ground truth", f"a planted model is the folder `neuronedit plant --out` wrote, "
                         f"with {PLANTED_NAME} beside its weights (plant it again if that file is damaged)")
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data: Any, where: str = PLANTED_NAME) -> GroundTruth:
        def fail(what: str) -> InputError:
            return InputError(f"{where}: {what}; it was not written by `neuronedit plant` (plant the model again)")

        if not isinstance(data, dict) or data.get("format") != PLANTED_FORMAT:
            raise fail(f"not a ground-truth record of format {PLANTED_FORMAT}")
        rows = data.get("neurons")
        if not isinstance(rows, list) or not rows:
            raise fail("'neurons' must be a non-empty list")
        neurons = []
        for i, row in enumerate(rows):
            if not isinstance(row, dict) or set(row) != {"layer", "neuron", "role", "domain", "sign"}:
                raise fail(f"neurons[{i}] must hold layer, neuron, role, domain and sign")
            ints = [row["layer"], row["neuron"], row["sign"]]
            if any(isinstance(v, bool) or not isinstance(v, int) for v in ints) or min(ints[:2]) < 0 \
                    or row["sign"] not in (1, -1) or row["role"] not in ROLES or not isinstance(row["domain"], str):
                raise fail(f"neurons[{i}] is not a planted neuron ({json.dumps(row)[:120]})")
            neurons.append(PlantedNeuron(**row))
        if len({(n.layer, n.neuron) for n in neurons}) != len(neurons):
            raise fail("a neuron is listed twice")
        if data.get("variant") not in VARIANTS:
            raise fail(f"'variant' must be one of {', '.join(VARIANTS)}")
        domains = data.get("domains")
        if not isinstance(domains, list) or not domains or not all(isinstance(d, str) for d in domains):
            raise fail("'domains' must be a non-empty list of names")
        if len(set(domains)) != len(domains) or (data["variant"] == "shared" and len(domains) < 2):
            raise fail("'domains' must be distinct, two or more for the shared variant")
        _check_roles(neurons, domains, data["variant"], fail)
        numbers: dict[str, Any] = {key: data.get(key) for key in ("gain", "before", "after")}
        for key, values in numbers.items():
            if not isinstance(values, dict) or set(values) != set(domains) or not all(
                    _is_number(v) and math.isfinite(v) for v in values.values()):
                raise fail(f"'{key}' must map each of the domains ({', '.join(domains)}) to a finite number")
        strength: Any = data.get("strength")
        seed: Any = data.get("seed")
        if not _is_number(strength) or not 0 < strength < 100:
            raise fail("'strength' must be association points in (0, 100)")
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
            raise fail("'seed' must be an integer in [0, 2**63)")
        provenance = data.get("provenance", {})
        if not isinstance(provenance, dict):
            raise fail("'provenance' must be an object")
        named = provenance.get("data", {})
        if not isinstance(named, dict) or not all(isinstance(v, str) for v in named.values()) \
                or not isinstance(provenance.get("model_spec", ""), str):
            raise fail("'provenance' must name its data per domain and its model as strings")
        return cls(neurons, data["variant"], list(domains), float(strength), seed, gain=dict(numbers["gain"]),
                   before=dict(numbers["before"]), after=dict(numbers["after"]), provenance=provenance)
