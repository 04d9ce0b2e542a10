"""``Comparison``: the effects table of :func:`~neuronedit.analysis.compare_methods`, its summary, and its files."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from attributions.errors import InputError
from attributions.files import atomic_file, read_json_fields
from attributions.timings import split_timings, write_timings

__all__ = ["Comparison"]


def _fmt(value: float, low: float, high: float, digits: int = 2) -> str:
    if any(isinstance(x, float) and math.isnan(x) for x in (value, low, high)):
        return ""
    return f"{value:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"


@dataclass
class Comparison:
    """Results of :func:`~neuronedit.analysis.compare_methods`.

    Attributes:
        effects: one row per (source, method, suite, target) with the columns of
            :func:`~neuronedit.analysis.edit_effects` (``abs_delta``: change in |bias - neutral|, negative
            = less biased; ``delta`` for knowledge in points and perplexity in percent; paired 95%
            intervals) and ``vs_neurons`` (|after - neutral| of the method minus that of the neuron edit).
        pairwise: see below.
        settings: how it was run, with the model's weight fingerprint and each method's fit time.
    """

    effects: pd.DataFrame
    settings: dict[str, Any]
    pairwise: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Every ordered pair of methods (``a``, ``b``) on each source's held-out benchmark: ``diff`` =
    |bias - neutral| of ``b`` minus that of ``a``, item-paired, with a 95% interval."""

    @property
    def methods(self) -> list[str]:
        return list(dict.fromkeys(self.effects["method"]))

    def main_suite(self, source: str) -> str:
        """The held-out suite of the source's own benchmark (the first evaluated for that bias)."""
        rows = self.effects[(self.effects["role"] == "bias") & (self.effects["target"] == source)]
        return str(rows["suite"].iloc[0])

    def main_rows(self, source: str) -> pd.DataFrame:
        """Per method, the row of the source's own held-out benchmark."""
        e = self.effects
        return e[(e["source"] == source) & (e["suite"] == self.main_suite(source)) & (e["target"] == source)]

    def table(self, source: str | None = None) -> pd.DataFrame:
        """One row per method: the source bias on its held-out benchmark (association after, change in
        distance from neutral, against the neuron edit), every other bias suite's change in distance,
        the knowledge probes' change in accuracy, the perplexity change and StereoSet's LMS change."""
        source = source or self.settings["domains"][0]
        e = self.effects[self.effects["source"] == source]
        main = self.main_suite(source)
        out = []
        for method in self.methods:
            m = e[e["method"] == method]
            row: dict[str, Any] = {"method": method}
            first = m[(m["suite"] == main) & (m["target"] == source)].iloc[0]
            row[f"{main}/{source} after"] = round(float(first["after"]), 2)
            row[f"{main}/{source} |bias| change"] = _fmt(first["abs_delta"], first["abs_delta_ci_low"],
                                                          first["abs_delta_ci_high"])
            if "vs_neurons" in m and not pd.isna(first.get("vs_neurons")):
                row["vs neurons"] = _fmt(first["vs_neurons"], first["vs_neurons_ci_low"], first["vs_neurons_ci_high"])
            else:
                row["vs neurons"] = ""
            for _, r in m[(m["role"] == "bias") & ~((m["suite"] == main) & (m["target"] == source))].iterrows():
                row[f"{r['suite']}/{r['target']}"] = _fmt(r["abs_delta"], r["abs_delta_ci_low"], r["abs_delta_ci_high"])
            for _, r in m[m["role"] == "knowledge"].iterrows():
                row[f"knowledge {r['target']} (points)"] = _fmt(r["delta"], r["delta_ci_low"], r["delta_ci_high"], 1)
            cost = m[m["role"] == "cost"]
            if len(cost):
                c = cost.iloc[0]
                row["perplexity %"] = _fmt(c["delta"], c["delta_ci_low"], c["delta_ci_high"], 1)
            if "lms_delta" in first and not pd.isna(first["lms_delta"]):
                row["LMS change"] = _fmt(first["lms_delta"], first["lms_delta_ci_low"], first["lms_delta_ci_high"], 1)
            out.append(row)
        return pd.DataFrame(out)

    def verdicts(self) -> list[str]:
        """One plain sentence per source (:func:`~neuronedit.analysis.verdicts.verdict`): a method counts as
        beyond the random control where its item-paired |bias - neutral| on the source's held-out benchmark is
        below that of the ``random`` method (the pairwise interval wholly below 0)."""
        from .verdicts import verdict

        lines = []
        for source in dict.fromkeys(self.effects["source"]):
            edits = {}
            for method in self.methods:
                if method == "random":
                    continue
                rows = self.effects[(self.effects["source"] == source) & (self.effects["method"] == method)].copy()
                vs = (self.pairwise[(self.pairwise["source"] == source) & (self.pairwise["a"] == "random")
                                    & (self.pairwise["b"] == method)] if len(self.pairwise) else self.pairwise)
                rows["vs_random_ci_high"] = float("nan")
                if len(vs):
                    main = (rows["suite"] == vs.iloc[0]["suite"]) & (rows["target"] == source)
                    rows.loc[main, "vs_random_ci_high"] = float(vs.iloc[0]["diff_ci_high"])
                edits[method] = rows
            line = verdict(source, edits)
            if "random" not in self.methods:
                line = line.rstrip(".") + " (no random control was run)."
            lines.append(line)
        return lines

    def pairwise_matrix(self, source: str) -> pd.DataFrame:
        """Rows ``a``, columns ``b``: ``diff [low, high]`` (negative = the column's method less biased)."""
        p = self.pairwise[self.pairwise["source"] == source] if len(self.pairwise) else self.pairwise
        cells = {(r["a"], r["b"]): _fmt(r["diff"], r["diff_ci_low"], r["diff_ci_high"]) for _, r in p.iterrows()}
        methods = self.methods
        return pd.DataFrame([[cells.get((a, b), "") for b in methods] for a in methods], index=methods,
                            columns=methods)

    def to_dict(self) -> dict[str, Any]:
        records = json.loads(self.effects.to_json(orient="records"))  # NaN -> null
        pairs = json.loads(self.pairwise.to_json(orient="records")) if len(self.pairwise) else []
        return {"settings": self.settings, "effects": records, "pairwise": pairs}

    def save(self, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
        """Write ``comparison.csv`` (effects), ``comparison_table.csv`` (summary per source) and
        ``comparison.json``, each atomically; returns their paths. The durations go to ``timings.json``
        (:mod:`attributions.timings`)."""
        out = Path(out_dir)
        paths = {"effects": out / "comparison.csv", "table": out / "comparison_table.csv",
                 "json": out / "comparison.json"}
        with atomic_file(paths["effects"]) as tmp:
            self.effects.to_csv(tmp, index=False)
        tables = [self.table(s).assign(source=s) for s in self.settings["domains"]]
        with atomic_file(paths["table"]) as tmp:
            pd.concat(tables).to_csv(tmp, index=False)
        body, timings = split_timings(self.to_dict())
        with atomic_file(paths["json"]) as tmp:
            tmp.write_text(json.dumps(body, indent=1) + "\n")
        write_timings(out, paths["json"].name, timings)
        return paths

    @classmethod
    def load(cls, out_dir: str | os.PathLike[str]) -> Comparison:
        """Read a saved comparison (``comparison.json``)."""
        path, fix = Path(out_dir) / "comparison.json", "give the folder `neuronedit compare` wrote"
        data = read_json_fields(path, "comparison file", fix, {"effects": list, "settings": dict})
        try:
            return cls(effects=pd.DataFrame(data["effects"]), settings=data["settings"],
                       pairwise=pd.DataFrame(data.get("pairwise", [])))
        except (TypeError, ValueError) as err:
            raise InputError(f"{path}: its tables are damaged ({str(err)[:80]}); {fix}") from None
