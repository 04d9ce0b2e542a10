"""What an edit is: the :class:`Edit` record, the errors of editing, and the ``neuronedit.json``
manifest codec that makes edits replayable.

A manifest lists the edits applied to a base checkpoint, in order. Each edit names the weight
fingerprint of the model it was applied to, the neurons, the mode (``prune``, ``zero``,
``scale``, ``mean``, ``compact`` or ``unlearn``) and its parameters, and where it came from
(method, objective, data file hashes, k, selection rule, seed). Loading validates every field
and says which one is wrong.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attributions import NeuronSet
from attributions.errors import InputError
from attributions.files import atomic_file, read_json
from attributions.neuron_set import parse_neurons
from attributions.timings import split_timings, write_timings

from .._version import __version__

__all__ = ["DELTA_MODES", "MANIFEST_FORMAT", "MANIFEST_NAME", "MODES", "Edit", "EditError", "ManifestError",
           "load_manifest", "parse_manifest", "save_manifest"]

MANIFEST_FORMAT = "neuronedit.manifest/2"
MANIFEST_NAME = "neuronedit.json"
MODES = ("prune", "zero", "scale", "mean", "compact", "unlearn", "plant")
DELTA_MODES = ("unlearn", "plant")
"""Modes whose weights are a stored delta (an unlearning update; a planted mechanism, see neuronedit.groundtruth)."""
_DELTA_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,120}\.safetensors")
"""A weight-delta file is a plain name in the manifest's folder: no separators, no ``..``, not hidden."""
_FINGERPRINT = re.compile(r"[0-9a-f]{16}")
SHA256 = re.compile(r"[0-9a-f]{64}")


class ManifestError(InputError):
    """A manifest is malformed or does not fit the model; the message names the field."""


class EditError(InputError):
    """An edit cannot be applied to this model; the message says what to use instead."""


@dataclass(frozen=True)
class Edit:
    """One edit of a model's weights.

    Attributes:
        neurons: the edited neurons (for ``unlearn``: those the update was confined to, may be empty).
        mode: ``prune`` (write-out and read-in zeroed), ``zero`` (write-out zeroed), ``scale``
            (write-out times ``factor``), ``mean`` (write-out folded into the output bias at the
            neuron's mean activation ``values[i]``), ``compact`` (neurons removed, narrower MLP) or
            ``unlearn`` or ``plant`` (a weight delta stored in the file ``delta``: an unlearning update,
            a planted mechanism).
        factor: the ``scale`` factor, when one applies to every neuron.
        values: per neuron, in ``neurons`` order, the mean activation (``mean``) or the factor (``scale``
            with a factor per neuron, e.g. a learned mask's gate values; ``factor`` is then None).
        base_model: the model spec the edit was made on.
        base_fingerprint: :func:`attributions.weights_fingerprint` of the model before the edit.
        provenance: method, objective, data hashes, k, rule, seed, ... (free-form JSON).
        delta: for ``unlearn`` and ``plant``, the file (next to the manifest) holding the weight delta.
        delta_sha256: SHA-256 of that file.
    """

    neurons: NeuronSet
    mode: str
    factor: float | None = None
    values: tuple[float, ...] | None = None
    base_model: str = ""
    base_fingerprint: str = ""
    provenance: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    delta: str | None = None
    delta_sha256: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ManifestError(f"edit mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.mode == "scale" and (self.factor is None) == (self.values is None):
            raise ManifestError("a scale edit needs either one factor or one factor per neuron ('values'), "
                                f"not {'both' if self.factor is not None else 'neither'}")
        if self.factor is not None and not math.isfinite(self.factor):
            raise ManifestError(f"a scale edit needs a finite factor, not {self.factor!r}")
        if self.mode == "mean" and self.values is None:
            raise ManifestError(f"a mean edit needs one mean value per neuron ({len(self.neurons)}), got None")
        if self.values is not None:
            what = "mean value" if self.mode == "mean" else "factor"
            if len(self.values) != len(self.neurons):
                raise ManifestError(f"a {self.mode} edit needs one {what} per neuron ({len(self.neurons)}), "
                                    f"got {len(self.values)}")
            if not all(math.isfinite(v) for v in self.values):
                raise ManifestError(f"{what}s must be finite numbers")
        if self.mode != "scale" and self.factor is not None:
            raise ManifestError(f"a {self.mode} edit takes no factor (only scale edits do), not {self.factor!r}")
        if self.mode not in ("mean", "scale") and self.values is not None:
            raise ManifestError(f"a {self.mode} edit takes no values (only mean and scale edits do)")
        if self.mode in DELTA_MODES:
            if not isinstance(self.delta, str) or not _DELTA_NAME.fullmatch(self.delta) or ".." in self.delta:
                raise ManifestError(f"a {self.mode} edit's 'delta' must be the plain name of a .safetensors file "
                                    f"next to the manifest (letters, digits, '.', '_', '-'), not {self.delta!r}")
            if not isinstance(self.delta_sha256, str) or not SHA256.fullmatch(self.delta_sha256):
                raise ManifestError(f"a {self.mode} edit needs the SHA-256 of its weight delta ('delta_sha256', 64 hex "
                                    f"digits), not {self.delta_sha256!r}")
        elif self.delta is not None or self.delta_sha256 is not None:
            raise ManifestError(f"a {self.mode} edit has no weight delta: 'delta' and 'delta_sha256' must be null")
        if self.base_fingerprint and not _FINGERPRINT.fullmatch(self.base_fingerprint):
            raise ManifestError("base_fingerprint must be the 16 hex digits of attributions.weights_fingerprint, not "
                                f"{self.base_fingerprint[:40]!r}")

    @property
    def id(self) -> str:
        """Content hash (16 hex digits) of every field that changes what is applied or to which weights:
        neurons, mode, factor, values, delta file and hash, and the base weights' fingerprint."""
        core = {"neurons": [list(n) for n in self.neurons], "mode": self.mode, "factor": self.factor,
                "values": list(self.values) if self.values is not None else None, "delta": self.delta,
                "delta_sha256": self.delta_sha256, "base_fingerprint": self.base_fingerprint}
        return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "mode": self.mode, "neurons": [list(n) for n in self.neurons], "factor": self.factor,
            "values": list(self.values) if self.values is not None else None, "base_model": self.base_model,
            "base_fingerprint": self.base_fingerprint, "provenance": self.provenance, "delta": self.delta,
            "delta_sha256": self.delta_sha256,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "edit") -> Edit:
        """Validate and build; raises :class:`ManifestError` naming the bad field."""
        if not isinstance(data, dict):
            raise ManifestError(f"{where} must be a JSON object, not {type(data).__name__}")
        for key in ("mode", "neurons", "base_fingerprint"):
            if key not in data:
                raise ManifestError(f"{where} lacks the required field {key!r}")
        if not isinstance(data["mode"], str):
            raise ManifestError(f"{where}.mode must be a string")
        try:
            neurons = parse_neurons(data["neurons"], f"{where}.neurons", allow_empty=data["mode"] in DELTA_MODES)
        except ValueError as err:
            raise ManifestError(str(err)) from None
        factor = data.get("factor")
        if factor is not None:
            factor = _finite(factor, f"{where}.factor must be a finite number or null")
        values = data.get("values")
        if values is not None:
            if not isinstance(values, list):
                raise ManifestError(f"{where}.values must be a list of finite numbers or null")
            values = tuple(_finite(v, f"{where}.values must be a list of finite numbers or null") for v in values)
        for key in ("base_model", "base_fingerprint"):
            if not isinstance(data.get(key, ""), str):
                raise ManifestError(f"{where}.{key} must be a string, not {type(data[key]).__name__}: the manifest "
                                    "was changed by hand or damaged; use the neuronedit.json the toolkit wrote")
        for key in ("delta", "delta_sha256"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise ManifestError(f"{where}.{key} must be a string or null")
        provenance = data.get("provenance") or {}
        if not isinstance(provenance, dict):
            raise ManifestError(f"{where}.provenance must be a JSON object")
        try:
            edit = cls(neurons=neurons, mode=data["mode"], factor=factor,
                       values=values, base_model=data.get("base_model", ""),
                       base_fingerprint=data["base_fingerprint"], provenance=provenance, delta=data.get("delta"),
                       delta_sha256=data.get("delta_sha256"))
        except ManifestError as err:
            raise ManifestError(f"{where}: {err}") from None
        if "id" not in data:
            raise ManifestError(f"{where} lacks its 'id' (the content hash that detects hand edits): the manifest "
                                "was changed by hand or damaged; use the neuronedit.json that `neuronedit edit`/"
                                "`unlearn`/`apply` wrote")
        if data["id"] != edit.id:
            raise ManifestError(f"{where}.id is {data['id']!r} but the edit's content hashes to {edit.id!r}: "
                                "the manifest was changed by hand or damaged")
        return edit


def _finite(value: Any, message: str) -> float:
    """``value`` as a finite float; ``message`` (naming the field) for a bool, a non-number or one that
    does not fit a float (a 400-digit integer)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ManifestError(f"{message}, not a {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond 1.8e308
        number = math.inf
    if not math.isfinite(number):
        raise ManifestError(f"{message}, not {'a number beyond 1.8e308' if isinstance(value, int) else value}; "
                            "the manifest was changed by hand or damaged")
    return number


def save_manifest(edits: Sequence[Edit], path: str | os.PathLike[str], *, timings: bool = False) -> Path:
    """Write ``edits`` (in application order) as a manifest, atomically: the same edits give the same bytes.

    Durations in the provenance (``seconds``) are left out; with ``timings`` they go to ``timings.json``
    beside the manifest (the rule: :mod:`attributions.timings`)."""
    path = Path(path)
    body, taken = split_timings({"format": MANIFEST_FORMAT, "package_version": __version__,
                                 "edits": [e.to_dict() for e in edits]})
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(body, indent=1))
    if timings:
        write_timings(path.parent, path.name, taken)
    return path


def load_manifest(path: str | os.PathLike[str]) -> list[Edit]:
    """Read and validate a manifest (a file, or a checkpoint directory holding ``neuronedit.json``)."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    data = read_json(path, "manifest", "it should be the neuronedit.json that `neuronedit edit`/`unlearn` wrote",
                     ManifestError)
    return parse_manifest(data, str(path))


def parse_manifest(data: Any, where: str = "manifest") -> list[Edit]:
    """Validate a decoded manifest; raises :class:`ManifestError` naming the bad field."""
    if not isinstance(data, dict):
        raise ManifestError(f"{where} must be a JSON object")
    if data.get("format") != MANIFEST_FORMAT:
        raise ManifestError(f"{where} has format {data.get('format')!r}; this version reads {MANIFEST_FORMAT!r}")
    edits = data.get("edits")
    if not isinstance(edits, list) or not edits:
        raise ManifestError(f"{where} must list at least one edit under 'edits'")
    parsed = [Edit.from_dict(item, f"{where}: edits[{i}]") for i, item in enumerate(edits)]
    ids = [edit.id for edit in parsed]
    if len(set(ids)) != len(ids):
        twice = next(i for i in ids if ids.count(i) > 1)
        raise ManifestError(f"{where} lists edit {twice} twice; an edit is applied once, so the manifest was "
                            "changed by hand or damaged: restore it")
    return parsed
