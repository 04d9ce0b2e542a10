"""``Recovery``: the tables of a recovery run, the checks against the targets, and its files."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from attributions import NeuronSet
from attributions.files import atomic_file
from attributions.timings import split_timings, write_timings

from .truth import GroundTruth

__all__ = ["TARGETS", "Recovery"]

TARGETS = {"auroc": 0.95, "recall": 0.8, "removed": 90.0, "perplexity": 0.5, "frequency_rank": 200}
"""Stated before any run (the ground-truth issue): the default pipeline's AUROC and the recall of its
selection, the share of the planted increase its edit removes on the held-out locating benchmark
(percent), the most perplexity it may add (percent), and the rank the frequency decoy must stay below."""


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


@dataclass
class Recovery:
    """Results of :func:`~neuronedit.groundtruth.recover`.

    Attributes:
        ranking: one row per (domain, method): ``auroc``, ``precision_at_k``, ``recall_at_k``, the
            ``ranks`` of the planted neurons and ``decoy_ranks``; for the default method also
            ``selected_precision``/``selected_recall`` of the selection rule's set and the decoys it kept.
        removal: one row per (source, edit, bias suite): the planted ``increase`` (planted - unplanted) and
            the ``share`` of it the edit removes (percent), with 95% intervals; ``edit`` is ``located``
            (the default pipeline's top-k), ``planted`` (the planted set) or ``random`` (layer-matched).
        effects: the rows of :func:`~neuronedit.analysis.edit_effects` (as ``transfer``'s table) for each
            source and edit, item-paired against the planted model; ``vs_random`` for the located and
            planted edits.
    """

    ranking: pd.DataFrame
    removal: pd.DataFrame
    effects: pd.DataFrame
    truth: GroundTruth
    settings: dict[str, Any]
    located: dict[str, NeuronSet] = field(default_factory=dict)
    seconds: float = 0.0

    def _default(self, domain: str) -> dict[str, Any]:
        rows = self.ranking[(self.ranking["domain"] == domain) & (self.ranking["method"]
                                                                    == self.settings["default_method"])]
        return rows.iloc[0].to_dict()

    def _effect(self, source: str, edit: str, target: str) -> dict[str, Any] | None:
        frame = self.effects
        rows = frame[(frame["source"] == source) & (frame["edit"] == edit) & (frame["role"] == "bias")
                     & (frame["bias_type"] == target) & (frame["suite"] == self.suite_of(target))]
        return {str(key): value for key, value in rows.iloc[0].items()} if len(rows) else None

    def suite_of(self, domain: str) -> str:
        """The held-out suite of ``domain`` that planting and locating drew on (the test half of the data, listed
        first for each domain: ``stereoset``, or ``probes-gender`` for the probes)."""
        rows = self.removal[self.removal["bias_type"] == domain]
        return str(rows["suite"].iloc[0]) if len(rows) else ""

    def checks(self) -> list[dict[str, Any]]:
        """One row per check (``domain``, ``check``, ``value``, ``target``, ``passed``): the targets of
        :data:`TARGETS` for each source, and the transfer verdict (``shared``: the located edit of each
        source moves every other domain's planted bias beyond the random control; ``separate``: it does not)."""
        out: list[dict[str, Any]] = []
        cost = self.effects[self.effects["role"] == "cost"]
        for domain in self.truth.domains:
            row = self._default(domain)
            out.append({"domain": domain, "check": "AUROC of the default method", "value": row["auroc"],
                        "target": f">= {TARGETS['auroc']}", "passed": bool(row["auroc"] >= TARGETS["auroc"])})
            recall = row.get("selected_recall", float("nan"))
            out.append({"domain": domain, "check": f"recall of the selected {self.settings['k']}",
                        "value": recall, "target": f">= {TARGETS['recall']}",
                        "passed": bool(_finite(recall) and recall >= TARGETS["recall"])})
            frequency = [rank for name, rank in row["decoy_ranks"].items() if name.startswith("frequency")]
            if frequency:
                out.append({"domain": domain, "check": "rank of the frequency decoy", "value": min(frequency),
                            "target": f"> {TARGETS['frequency_rank']}",
                            "passed": bool(min(frequency) > TARGETS["frequency_rank"])})
            if any(n.role == "knowledge" and domain in n.domain.split("+") for n in self.truth.neurons):
                kept = [d for d in row.get("decoys_selected", []) if d.startswith("knowledge")]
                out.append({"domain": domain, "check": "knowledge decoys selected", "value": len(kept),
                            "target": "0", "passed": not kept})
            removal, suite = self.removal, self.suite_of(domain)
            share = removal[(removal["source"] == domain) & (removal["edit"] == "located")
                            & (removal["bias_type"] == domain) & (removal["suite"] == suite)]
            value = float(share["share"].iloc[0]) if len(share) else float("nan")
            out.append({"domain": domain, "check": "held-out share of the planted increase removed (%)",
                        "value": value, "target": f">= {TARGETS['removed']:g}",
                        "passed": bool(_finite(value) and value >= TARGETS["removed"])})
            ppl = cost[(cost["source"] == domain) & (cost["edit"] == "located")]
            if len(ppl):
                delta = float(ppl["delta"].iloc[0])
                out.append({"domain": domain, "check": "perplexity change of the located edit (%)", "value": delta,
                            "target": f"<= +{TARGETS['perplexity']}", "passed": bool(delta <= TARGETS["perplexity"])})
            for other in self.truth.domains:
                effect = self._effect(domain, "located", other) if other != domain else None
                if effect is None:
                    continue
                beyond = bool(effect.get("vs_random_ci_high", math.nan) < 0)
                expected = self.truth.variant == "shared"
                out.append({"domain": domain, "check": f"moves planted {other} bias beyond the random control",
                            "value": effect.get("vs_random", math.nan), "target": "yes" if expected else "no",
                            "passed": beyond == expected})
        return out

    def summary(self) -> list[str]:
        """Plain sentences: per domain, what the default pipeline found and removed, and the checks."""
        lines = []
        k = self.settings["k"]
        for domain in self.truth.domains:
            row = self._default(domain)
            others = self.ranking[self.ranking["domain"] == domain]
            methods = ", ".join(f"{r['method']} {r['auroc']:.3f}" for _, r in others.iterrows())
            removed = self.removal[(self.removal["source"] == domain) & (self.removal["bias_type"] == domain)
                                   & (self.removal["suite"] == self.suite_of(domain))]
            shares = "; ".join(f"{r['edit']} {r['share']:.0f}% [{r['share_ci_low']:.0f}, {r['share_ci_high']:.0f}]"
                               for _, r in removed.iterrows())
            rise = removed.iloc[0] if len(removed) else None
            lines.append(
                f"{domain}: {row['planted']} planted bias neurons; AUROC {methods}; the default selection keeps "
                f"{row.get('selected_recall', float('nan')) * row['planted']:.0f} of them in its {k}. "
                + (f"Held-out {rise['suite']} association {rise['unplanted']:.2f} unplanted, {rise['planted']:.2f} "
                   f"planted ({rise['increase']:+.2f} [{rise['increase_ci_low']:+.2f}, "
                   f"{rise['increase_ci_high']:+.2f}]); "
                   f"share of the increase removed by zeroing: {shares}." if rise is not None else ""))
        failed = [c for c in self.checks() if not c["passed"]]
        lines.append("All checks passed." if not failed else "Checks failed: " + "; ".join(
            f"{c['domain']}: {c['check']} = {c['value']:.3g} (target {c['target']})" if _finite(c["value"])
            else f"{c['domain']}: {c['check']} (target {c['target']})" for c in failed) + ".")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {"settings": self.settings, "truth": self.truth.to_dict(), "checks": self.checks(),
                "ranking": self.ranking.to_dict(orient="records"), "removal": self.removal.to_dict(orient="records"),
                "effects": self.effects.to_dict(orient="records"),
                "located": {d: [list(n) for n in s] for d, s in self.located.items()}, "seconds": self.seconds}

    def save(self, out_dir: str | os.PathLike[str]) -> Path:
        """Write ``recovery.json`` (durations: ``timings.json``), ``ranking.csv``, ``removal.csv``,
        ``effects.csv`` and ``checks.csv`` to ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        tables = {"ranking": self.ranking.drop(columns=["seconds"], errors="ignore"), "removal": self.removal,
                  "effects": self.effects, "checks": pd.DataFrame(self.checks())}
        for name, frame in tables.items():
            with atomic_file(out / f"{name}.csv") as tmp:
                frame.to_csv(tmp, index=False)
        body, timings = split_timings(self.to_dict())
        with atomic_file(out / "recovery.json") as tmp:
            tmp.write_text(json.dumps(body, indent=1, default=float, sort_keys=True) + "\n", encoding="utf-8")
        write_timings(out, "recovery.json", timings)
        return out
