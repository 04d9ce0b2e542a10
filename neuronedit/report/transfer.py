"""A self-contained ``report.html`` of a transfer analysis: summary, figures (embedded), tables, settings."""

from __future__ import annotations

import base64
import html
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import pandas as pd

from attributions.errors import InputError
from attributions.files import atomic_file
from attributions.timings import split_timings, write_timings

from ..analysis.transfer_result import TransferResult
from .plots import all_figures

if TYPE_CHECKING:
    from ..explain import Explanation

__all__ = ["write_report"]

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; line-height: 1.45; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.6em 0; }
td, th { border: 1px solid #ccc; padding: 3px 7px; text-align: right; } th { background: #f3f3f3; }
img { max-width: 100%; } code, pre { background: #f6f6f6; padding: 2px 4px; }
.note { color: #555; font-size: 0.9em; }
.verdict { font-size: 1.05em; font-weight: 600; margin: 0.3em 0; }
"""


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def _ci(r: Any, name: str, digits: int = 1, sign: str = "+") -> str:
    return (f"{r[name]:{sign}.{digits}f} [{r[name + '_ci_low']:{sign}.{digits}f}, "
            f"{r[name + '_ci_high']:{sign}.{digits}f}]")


def _cells_table(result: TransferResult, benchmark: str) -> str:
    cells = result.cells(benchmark=benchmark)
    random = result.cells("random", benchmark=benchmark).set_index(["source", "suite", "target"])
    head = ("<tr><th>source</th><th>target</th><th>association measure</th><th>before</th><th>after</th>"
            "<th>change</th><th>change in |bias − neutral|</th><th>random control after</th><th>vs random</th>"
            "<th>standard score before → after</th><th>LMS before → after</th><th>skipped</th></tr>")
    rows = []
    for _, r in cells[cells["role"] == "bias"].iterrows():
        rand = random.loc[(r["source"], r["suite"], r["target"]), :]
        d = 2 if r["metric"] == "assoc_gap" else 1
        standard = next((m for m in ("score", "ss") if f"{m}_before" in r and pd.notna(r[f"{m}_before"])), None)
        std_cell = (f"{standard}: {r[standard + '_before']:.1f} → {r[standard + '_after']:.1f} "
                    f"({_ci(r, standard + '_delta')})" if standard else "")
        lms = (f"{r['lms_before']:.1f} → {r['lms_after']:.1f} ({_ci(r, 'lms_delta')})"
               if "lms_before" in r and pd.notna(r["lms_before"]) else "")
        rows.append(
            f"<tr><td>{html.escape(r['source'])}</td><td>{html.escape(r['target'])}</td>"
            f"<td>{html.escape(r['metric'])}</td><td>{_ci(r, 'before', d, '')}</td><td>{_ci(r, 'after', d, '')}</td>"
            f"<td>{_ci(r, 'delta', d)}</td><td>{_ci(r, 'abs_delta', d)}</td><td>{rand['after']:.{d}f}</td>"
            f"<td>{_ci(r, 'vs_random', d)}</td><td>{std_cell}</td><td>{lms}</td><td>{int(r['skipped'])}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _side_table(result: TransferResult, role: str) -> str:
    chosen, random = result.cells(), result.cells("random").set_index(["source", "suite", "target"])
    head = ("<tr><th>source</th><th>suite</th><th>measure</th><th>before</th><th>after</th><th>change</th>"
            "<th>random control after</th></tr>")
    rows = []
    for _, r in chosen[chosen["role"] == role].iterrows():
        rand = random.loc[(r["source"], r["suite"], r["target"]), :]
        unit = "%" if role == "cost" else ""
        rows.append(f"<tr><td>{html.escape(r['source'])}</td><td>{html.escape(r['suite'])}</td>"
                    f"<td>{html.escape(r['metric'])}</td><td>{r['before']:.2f}</td><td>{r['after']:.2f}</td>"
                    f"<td>{_ci(r, 'delta')}{unit}</td><td>{rand['after']:.2f} ({rand['delta']:+.1f}{unit})</td></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _explanations(explanations: Mapping[str, Explanation] | None, out: Path) -> str:
    """Write ``explain_<domain>.html`` per domain; the report's section linking every removed neuron's card."""
    if not explanations:
        return ""
    from ..explain.html import cards_html

    parts = ["<h2>What the removed neurons are</h2><p class='note'>One card per removed neuron: the tokens its "
             "write-out column promotes (direct logit effect), its top-activating WikiText-2 windows, its bias view "
             "on the pairs it was located on, and a tag from the project's word lists (see docs/explaining.md).</p>"]
    for domain, explanation in explanations.items():
        if not re.fullmatch(r"[A-Za-z0-9_-]+", domain):
            raise InputError(f"domain name {domain!r} cannot name a file; use letters, digits, '-' and '_'")
        name = f"explain_{domain}.html"
        with atomic_file(out / name) as tmp:
            tmp.write_text(cards_html(explanation, title=f"{domain} neurons"), encoding="utf-8")
        links = " ".join(f"<a href='{name}#{c.name}' title='{html.escape(c.tagging.tag)}'>{c.name}</a>"
                         for c in explanation.cards)
        parts.append(f"<h3>{html.escape(domain)}</h3><p>{html.escape(explanation.summary_line())} "
                     f"(<a href='{name}'>all cards</a>)</p><p class='note'>{links}</p>")
    body, timings = split_timings({d: e.to_dict() for d, e in explanations.items()})
    with atomic_file(out / "explain.json") as tmp:
        tmp.write_text(json.dumps(body, indent=1))
    write_timings(out, "explain.json", timings)
    return "".join(parts)


def write_report(result: TransferResult, out_dir: str | os.PathLike[str], *, command: str = "",
                 explanations: Mapping[str, Explanation] | None = None) -> Path:
    """Write figures (PNG + SVG), tables (CSV, JSON) and ``report.html`` into ``out_dir``.

    The HTML embeds its figures, so it can be mailed or archived alone; with ``explanations``
    (per source domain, see :func:`neuronedit.explain.explain_domains`) it links the removed
    neurons' cards, written beside it as ``explain_<domain>.html`` (and ``explain.json``).
    """
    out = Path(out_dir)
    result.save(out)
    cards = _explanations(explanations, out)
    figures = all_figures(result, out)
    for fig in figures.values():
        plt.close(fig)
    settings = json.dumps(split_timings(result.settings)[0], indent=1, default=str)  # durations: timings.json
    summary = "".join(f"<li>{html.escape(line)}</li>" for line in result.summary())
    verdicts = "".join(f"<p class=\"verdict\">{html.escape(line)}</p>" for line in result.verdicts())
    matrices = "".join(f"<h2>Transfer matrix: {html.escape(b)}</h2>{_image(out / f'transfer_heatmap_{b}.png')}"
                       f"{_cells_table(result, b)}" for b in result.benchmarks)
    overlap = result.overlap[result.overlap["a"] < result.overlap["b"]]
    overlap_rows = "".join(f"<tr><td>{html.escape(r['a'])}</td><td>{html.escape(r['b'])}</td>"
                           f"<td>{r['jaccard']:.3f}</td><td>{int(r['shared'])}</td><td>{r['spearman']:.3f}</td></tr>"
                           for _, r in overlap.iterrows())
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>neuronedit transfer report</title>
<style>{_STYLE}</style></head><body>
<h1>Cross-domain transfer: {html.escape(str(result.settings.get('model', '')))}</h1>
{verdicts}
<p class="note">Every bias is read with an association score that a change in how often a group term is
predicted cannot move: <code>assoc</code>, the percent of held-out pairs whose stereotypical side wins
(50 = no bias), or <code>assoc_gap</code>, a balanced log-odds in nats (0 = no bias); the standard
whole-sentence score and StereoSet's LMS stand beside it. Changes are item-paired against the unedited
model with 95% bootstrap intervals; "vs random" compares |bias − neutral| after the edit with a random
edit of the same number of neurons per layer (negative = the located neurons did more). Knowledge probes
are accuracies to keep; perplexity is on real text held out from neuron selection.</p>
<h2>Summary</h2><ul>{summary}</ul>
{matrices}
<h2>Knowledge kept (accuracy, test halves of the knowledge probes)</h2>{_side_table(result, "knowledge")}
<h2>Cost: perplexity on real text</h2>{_side_table(result, "cost")}
<h2>Dose-response</h2>{_image(out / 'dose_response.png')}
<h2>Neuron overlap between domains</h2>{_image(out / 'overlap_heatmap.png')}
<table><tr><th>a</th><th>b</th><th>Jaccard</th><th>shared</th><th>Spearman</th></tr>{overlap_rows}</table>
<h2>Layer profile</h2>{_image(out / 'layer_histogram.png')}
{cards}
<h2>Settings</h2>
{f'<p>Command: <code>{html.escape(command)}</code></p>' if command else ''}
<pre>{html.escape(settings)}</pre>
<p class="note">Files: effects.csv (every cell and k), overlap.csv, layers.csv, results.json, figures as
PNG and SVG; timings.json holds how long the run took (the only file that differs between runs).</p>
</body></html>
"""
    target = out / "report.html"
    with atomic_file(target) as tmp:
        tmp.write_text(body, encoding="utf-8")
    return target
