"""``recovery.html``: the recovery checks of a planted model in one page (tables only, no figures)."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

import pandas as pd

from attributions.files import atomic_file
from attributions.timings import split_timings

from ..groundtruth.recovery_result import Recovery
from .comparison import table_html
from .transfer import _STYLE

__all__ = ["write_recovery_report"]


def _rounded(frame: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    return frame.apply(lambda col: col.round(digits) if col.dtype.kind == "f" else col)


def write_recovery_report(result: Recovery, out_dir: str | os.PathLike[str], *, command: str = "") -> Path:
    """Write the recovery tables (:meth:`Recovery.save`) and ``recovery.html`` into ``out_dir``."""
    out = result.save(out_dir)
    ranking = result.ranking.drop(columns=["ranks", "seconds"], errors="ignore")
    removal = result.removal[["source", "edit", "neurons", "suite", "bias_type", "unplanted", "planted", "edited",
                              "increase", "increase_ci_low", "increase_ci_high", "share", "share_ci_low",
                              "share_ci_high"]]
    effects = result.effects
    transfer = effects[(effects["edit"] == "located") & (effects["role"] == "bias")][
        ["source", "suite", "bias_type", "before", "after", "abs_delta", "abs_delta_ci_low", "abs_delta_ci_high",
         "vs_random", "vs_random_ci_low", "vs_random_ci_high"]]
    cost = effects[effects["role"] != "bias"][["source", "edit", "suite", "bias_type", "before", "after", "delta",
                                               "delta_ci_low", "delta_ci_high"]]
    settings = json.dumps(split_timings(result.settings)[0], indent=1, default=str)
    summary = "".join(f"<p>{html.escape(line)}</p>" for line in result.summary())
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>neuronedit recovery</title>
<style>{_STYLE}</style></head><body>
<h1>Recovery of a planted bias: {html.escape(str(result.settings.get('model', '')))}</h1>
{summary}
<p class="note">A known bias mechanism was planted in chosen neurons ({html.escape(result.truth.variant)} variant,
+{result.truth.strength:g} association points on the dev pairs). Each method scores every MLP neuron on the dev
pairs; AUROC is the chance that a planted neuron outranks one that is not. The located set (default method,
selection rule and control), the planted set and a layer-matched random set are zeroed and every held-out suite
is scored; the share is the part of the planted increase (planted − unplanted) that the edit removes, with 95%
bootstrap intervals over the same item resamples of the three models.</p>
<h2>Checks</h2>{table_html(_rounded(pd.DataFrame(result.checks())))}
<h2>Finding: how each method ranks the planted neurons</h2>{table_html(_rounded(ranking))}
<h2>Removal on held-out suites</h2>{table_html(_rounded(removal, 2))}
<h2>Transfer: the located edit of each source on every bias (vs_random &lt; 0: beyond the random control)</h2>
{table_html(_rounded(transfer, 2))}
<h2>Cost: knowledge (points) and perplexity (%)</h2>{table_html(_rounded(cost, 2))}
<h2>Settings</h2>
{f'<p>Command: <code>{html.escape(command)}</code></p>' if command else ''}
<pre>{html.escape(settings)}</pre>
<p class="note">Files: recovery.json, checks.csv, ranking.csv, removal.csv, effects.csv, planted.json;
timings.json holds the durations (the only file that differs between runs).</p>
</body></html>
"""
    target = out / "recovery.html"
    with atomic_file(target) as tmp:
        tmp.write_text(body, encoding="utf-8")
    return target
