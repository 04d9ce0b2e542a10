"""``TransferResult``: the tidy tables of a transfer analysis, saved as CSV and JSON."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from attributions import NeuronSet

from ..cache import atomic_file

__all__ = ["TransferResult"]


@dataclass
class TransferResult:
    """Results of :func:`~neuronedit.analysis.transfer_matrix`.

    Attributes:
        effects: one row per (source, k, edit, target): ``before``/``after`` values of the target's
            bias measure (perplexity for ``target == "perplexity"``) with intervals, ``delta``
            (points; percent for perplexity), ``abs_delta`` (change in |bias - 50|) and, for the
            selected edit at the main k, ``vs_control`` (|after - 50| minus the random control's),
            each with a paired bootstrap 95% interval. ``edit`` is ``selected`` or ``random``.
        overlap: Jaccard of the selected sets and Spearman correlation of the scores, per domain pair.
        layers: selected neurons per layer and source.
        settings: everything needed to reproduce the run, with the model's weight fingerprint.
        selected: the neuron set of each source at the main k.
    """

    effects: pd.DataFrame
    overlap: pd.DataFrame
    layers: pd.DataFrame
    settings: dict[str, Any]
    selected: dict[str, NeuronSet] = field(default_factory=dict)

    @property
    def k(self) -> int:
        return int(self.settings["k"])

    @property
    def sources(self) -> list[str]:
        return list(dict.fromkeys(self.effects["source"]))

    @property
    def targets(self) -> list[str]:
        return list(dict.fromkeys(t for t in self.effects["target"] if t != "perplexity"))

    def cells(self, edit: str = "selected") -> pd.DataFrame:
        """The rows of the matrix (main k) for ``edit`` (``selected`` or ``random``)."""
        frame = self.effects
        return frame[(frame["k"] == self.k) & (frame["edit"] == edit)].reset_index(drop=True)

    def matrix(self, value: str = "abs_delta", edit: str = "selected") -> pd.DataFrame:
        """Source x target table of ``value`` at the main k (targets include ``perplexity`` for ``delta``)."""
        cells = self.cells(edit)
        if value != "delta":
            cells = cells[cells["target"] != "perplexity"]
        table = cells.pivot(index="source", columns="target", values=value)
        order = [t for t in [*self.targets, "perplexity"] if t in table.columns]
        return table.loc[self.sources, order]

    def dose(self) -> pd.DataFrame:
        """Rows of the selected edits at every k (dose-response)."""
        return self.effects[self.effects["edit"] == "selected"].sort_values(["source", "k"]).reset_index(drop=True)

    def summary(self) -> list[str]:
        """One sentence per source: how its own bias, the other biases and perplexity moved."""
        lines = []
        selected_cells = self.cells()
        for source in self.sources:
            cells = selected_cells[selected_cells["source"] == source].set_index("target")
            random = self.cells("random")
            random = random[random["source"] == source].set_index("target")
            parts = []
            for target in self.targets:
                if target not in cells.index:
                    continue
                row = cells.loc[target]
                significant = row["abs_delta_ci_high"] < 0 or row["abs_delta_ci_low"] > 0
                beats = row.get("vs_control_ci_high", math.nan) < 0
                overshoot = (row["before"] - 50) * (row["after"] - 50) < 0 and abs(row["after"] - 50) > 5
                parts.append(
                    f"{target} {row['before']:.1f} -> {row['after']:.1f}{' (past 50: reversed)' if overshoot else ''} "
                    f"(|bias-50| {row['abs_delta']:+.1f} "
                    f"[{row['abs_delta_ci_low']:+.1f}, {row['abs_delta_ci_high']:+.1f}]"
                    f"{', significant' if significant else ''}{', beyond the random control' if beats else ''}; "
                    f"random {random.loc[target, 'after']:.1f})"
                )
            ppl = cells.loc["perplexity"] if "perplexity" in cells.index else None
            cost = (f"; perplexity {ppl['before']:.2f} -> {ppl['after']:.2f} ({ppl['delta']:+.1f}%, random "
                    f"{random.loc['perplexity', 'delta']:+.1f}%)" if ppl is not None else "")
            lines.append(f"Removing {self.k} {source} neurons: " + "; ".join(parts) + cost + ".")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {"settings": self.settings, "effects": self.effects.to_dict(orient="records"),
                "overlap": self.overlap.to_dict(orient="records"), "layers": self.layers.to_dict(orient="records"),
                "selected": {s: [list(n) for n in neurons] for s, neurons in self.selected.items()}}

    def save(self, out_dir: str | os.PathLike[str]) -> Path:
        """Write ``effects.csv``, ``overlap.csv``, ``layers.csv`` and ``results.json`` (all of it) to ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for name, frame in (("effects", self.effects), ("overlap", self.overlap), ("layers", self.layers)):
            with atomic_file(out / f"{name}.csv") as tmp:
                frame.to_csv(tmp, index=False)
        with atomic_file(out / "results.json") as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=1, default=float))
        return out

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TransferResult:
        """Read ``results.json`` (or the folder holding it)."""
        path = Path(path)
        data = json.loads((path / "results.json" if path.is_dir() else path).read_text())
        return cls(effects=pd.DataFrame(data["effects"]), overlap=pd.DataFrame(data["overlap"]),
                   layers=pd.DataFrame(data["layers"]), settings=data["settings"],
                   selected={s: NeuronSet(map(tuple, n)) for s, n in data["selected"].items()})
