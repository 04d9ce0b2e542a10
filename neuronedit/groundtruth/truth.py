"""The ground truth of a planted model: which neurons carry which planted role, written as ``planted.json``
beside the checkpoint, and read back as untrusted input."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from attributions import NeuronSet
from attributions.errors import InputError
from attributions.files import atomic_file, read_json_text
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
        if not path.is_file():
            raise InputError(f"{path} not found: a planted model is the folder `neuronedit plant --out` wrote, "
                             f"with {PLANTED_NAME} beside its weights")
        try:
            data = json.loads(read_json_text(path, "ground truth"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise InputError(f"{path} is not JSON ({err}); plant the model again") from None
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
        numbers: dict[str, Any] = {key: data.get(key) for key in ("gain", "before", "after")}
        for key, values in numbers.items():
            if not isinstance(values, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                       and math.isfinite(v) for v in values.values()):
                raise fail(f"'{key}' must map domains to finite numbers")
        strength, seed = data.get("strength"), data.get("seed")
        if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not math.isfinite(strength):
            raise fail("'strength' must be a finite number")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise fail("'seed' must be an integer")
        provenance = data.get("provenance", {})
        if not isinstance(provenance, dict):
            raise fail("'provenance' must be an object")
        return cls(neurons, data["variant"], list(domains), float(strength), seed, gain=dict(numbers["gain"]),
                   before=dict(numbers["before"]), after=dict(numbers["after"]), provenance=provenance)
