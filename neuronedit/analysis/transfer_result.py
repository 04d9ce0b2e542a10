"""``TransferResult``: the tidy tables of a transfer analysis, saved as CSV and JSON."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from attributions import NeuronScores, NeuronSet
from attributions.errors import InputError
from attributions.files import atomic_file, read_json_fields
from attributions.timings import split_timings, write_timings

if TYPE_CHECKING:
    from ..measure.evaluation import Evaluation

__all__ = ["TransferResult"]


@dataclass
class TransferResult:
    """Results of :func:`~neuronedit.analysis.transfer_matrix`.

    Attributes:
        effects: one row per (source, k, edit, suite, target) with the columns of
            :func:`~neuronedit.analysis.edit_effects`: ``benchmark`` and ``role`` (bias, knowledge,
            cost), the primary (association) measure ``before``/``after`` with intervals, ``delta``,
            ``abs_delta`` (change in |bias - neutral|) and, for the selected edit at the main k,
            ``vs_random`` against the random control, each with a paired bootstrap 95% interval;
            the standard score and LMS beside it. ``edit`` is ``selected`` or ``random``.
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
    scores: dict[str, NeuronScores] = field(default_factory=dict, repr=False)
    baseline: Evaluation | None = field(default=None, repr=False, compare=False)  # in memory, not saved
    """The attribution scores of each source (in memory only; not saved)."""

    @property
    def k(self) -> int:
        return int(self.settings["k"])

    @property
    def sources(self) -> list[str]:
        return list(dict.fromkeys(self.effects["source"]))

    @property
    def benchmarks(self) -> list[str]:
        """Benchmarks with bias targets, in the order evaluated (e.g. stereoset, winobias, probes)."""
        bias = self.effects[self.effects["role"] == "bias"]
        return list(dict.fromkeys(bias["benchmark"]))

    def targets_of(self, benchmark: str) -> list[str]:
        rows = self.effects[(self.effects["role"] == "bias") & (self.effects["benchmark"] == benchmark)]
        return list(dict.fromkeys(rows["target"]))

    @property
    def targets(self) -> list[str]:
        """The bias targets of the first benchmark."""
        return self.targets_of(self.benchmarks[0]) if self.benchmarks else []

    def cells(self, edit: str = "selected", benchmark: str | None = None) -> pd.DataFrame:
        """The rows at the main k for ``edit`` (``selected`` or ``random``); with ``benchmark``, its bias
        rows and the perplexity rows only."""
        frame = self.effects
        frame = frame[(frame["k"] == self.k) & (frame["edit"] == edit)]
        if benchmark is not None:
            frame = frame[(frame["benchmark"] == benchmark) | (frame["role"] == "cost")]
        return frame.reset_index(drop=True)

    def matrix(self, value: str = "abs_delta", edit: str = "selected", benchmark: str | None = None) -> pd.DataFrame:
        """Source x target table of ``value`` at the main k on one benchmark (default: the first);
        ``value="delta"`` adds the perplexity column."""
        cells = self.cells(edit, benchmark or self.benchmarks[0])
        cells = cells[(cells["role"] == "bias") | ((cells["role"] == "cost") & (value == "delta"))]
        table = cells.pivot(index="source", columns="target", values=value)
        order = [t for t in [*self.targets_of(benchmark or self.benchmarks[0]), "perplexity"] if t in table.columns]
        return table.loc[self.sources, order]

    def knowledge(self, edit: str = "selected") -> pd.DataFrame:
        """Source x knowledge domain: change in knowledge accuracy (points) at the main k."""
        cells = self.cells(edit)
        cells = cells[cells["role"] == "knowledge"]
        if cells.empty:
            return pd.DataFrame(index=self.sources)
        return cells.pivot(index="source", columns="target", values="delta").loc[self.sources]

    def dose(self) -> pd.DataFrame:
        """Rows of the selected edits at every k (dose-response)."""
        return self.effects[self.effects["edit"] == "selected"].sort_values(["source", "k"]).reset_index(drop=True)

    def _describe(self, row: Any, random: Any) -> str:
        unit = " nats" if row["metric"] == "assoc_gap" else ""
        neutral = row.get("neutral", 50.0)
        significant = row["abs_delta_ci_high"] < 0 or row["abs_delta_ci_low"] > 0
        beats = row.get("vs_random_ci_high", math.nan) < 0
        spread = abs(row["before"] - neutral) or 1.0
        overshoot = ((row["before"] - neutral) * (row["after"] - neutral) < 0
                     and abs(row["after"] - neutral) > 0.1 * spread)
        return (f"{row['target']} {row['before']:.2f} -> {row['after']:.2f}{unit}"
                f"{' (past ' + format(neutral, 'g') + ': reversed)' if overshoot else ''} "
                f"(|bias-{neutral:g}| {row['abs_delta']:+.2f} [{row['abs_delta_ci_low']:+.2f}, "
                f"{row['abs_delta_ci_high']:+.2f}]{', significant' if significant else ''}"
                f"{', beyond the random control' if beats else ''}; random {random['after']:.2f})")

    def verdicts(self) -> list[str]:
        """One plain sentence per source (:func:`~neuronedit.analysis.verdicts.verdict`), at the main k."""
        from .verdicts import verdict

        cells = self.cells()
        return [verdict(source, {f"removing {self.k} {source} neurons": cells[cells["source"] == source]})
                for source in self.sources]

    def summary(self) -> list[str]:
        """One sentence per source and benchmark: how each bias moved, then knowledge and perplexity."""
        lines = []
        for source in self.sources:
            chosen, random = self.cells(), self.cells("random")
            chosen, random = chosen[chosen["source"] == source], random[random["source"] == source]
            parts = []
            for benchmark in self.benchmarks:
                rows = chosen[(chosen["benchmark"] == benchmark) & (chosen["role"] == "bias")]
                described = [self._describe(r, random[(random["suite"] == r["suite"]) &
                                                      (random["target"] == r["target"])].iloc[0])
                             for _, r in rows.iterrows()]
                parts.append(f"{benchmark}: " + "; ".join(described))
            known = chosen[chosen["role"] == "knowledge"]
            if not known.empty:
                parts.append("knowledge " + ", ".join(f"{r['target']} {r['before']:.1f} -> {r['after']:.1f}"
                                                       for _, r in known.iterrows()))
            ppl = chosen[chosen["role"] == "cost"]
            if not ppl.empty:
                p, q = ppl.iloc[0], random[random["role"] == "cost"].iloc[0]
                parts.append(f"perplexity {p['before']:.2f} -> {p['after']:.2f} ({p['delta']:+.1f}%, random "
                             f"{q['delta']:+.1f}%)")
            lines.append(f"Removing {self.k} {source} neurons: " + " | ".join(parts) + ".")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {"settings": self.settings, "effects": self.effects.to_dict(orient="records"),
                "overlap": self.overlap.to_dict(orient="records"), "layers": self.layers.to_dict(orient="records"),
                "selected": {s: [list(n) for n in neurons] for s, neurons in self.selected.items()}}

    def save(self, out_dir: str | os.PathLike[str]) -> Path:
        """Write ``effects.csv``, ``overlap.csv``, ``layers.csv`` and ``results.json`` (all of it but the
        durations, which go to ``timings.json``: :mod:`attributions.timings`) to ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for name, frame in (("effects", self.effects), ("overlap", self.overlap), ("layers", self.layers)):
            with atomic_file(out / f"{name}.csv") as tmp:
                frame.to_csv(tmp, index=False)
        body, timings = split_timings(self.to_dict())
        with atomic_file(out / "results.json") as tmp:
            tmp.write_text(json.dumps(body, indent=1, default=float))
        write_timings(out, "results.json", timings)
        return out

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TransferResult:
        """Read ``results.json`` (or the folder holding it)."""
        path = Path(path)
        path = path / "results.json" if path.is_dir() else path
        fix = "give the folder `neuronedit transfer` wrote"
        data = read_json_fields(path, "results file", fix, {"effects": list, "overlap": list, "layers": list,
                                                            "settings": dict, "selected": dict})
        try:
            return cls(effects=pd.DataFrame(data["effects"]), overlap=pd.DataFrame(data["overlap"]),
                       layers=pd.DataFrame(data["layers"]), settings=data["settings"],
                       selected={s: NeuronSet(map(tuple, n)) for s, n in data["selected"].items()})
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(f"{path}: its tables or neuron sets are damaged ({str(err)[:80]}); {fix}") from None
