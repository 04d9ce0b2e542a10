"""A self-contained ``report.html`` of a transfer analysis: summary, figures (embedded), tables, settings."""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path

import matplotlib.pyplot as plt

from .analysis.result import TransferResult
from .cache import atomic_file
from .plots import all_figures

__all__ = ["write_report"]

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; line-height: 1.45; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.6em 0; }
td, th { border: 1px solid #ccc; padding: 3px 7px; text-align: right; } th { background: #f3f3f3; }
img { max-width: 100%; } code, pre { background: #f6f6f6; padding: 2px 4px; }
.note { color: #555; font-size: 0.9em; }
"""


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def _cells_table(result: TransferResult) -> str:
    cells = result.cells()
    random = result.cells("random").set_index(["source", "target"])
    head = ("<tr><th>source</th><th>target</th><th>before</th><th>after</th><th>change (points)</th>"
            "<th>change in |bias−50|</th><th>random control after</th><th>vs control</th></tr>")
    rows = []
    for _, r in cells.iterrows():
        if r["target"] == "perplexity":
            rand = random.loc[(r["source"], "perplexity")]
            rows.append(f"<tr><td>{html.escape(r['source'])}</td><td>perplexity</td><td>{r['before']:.2f}</td>"
                        f"<td>{r['after']:.2f}</td><td>{r['delta']:+.1f}% [{r['delta_ci_low']:+.1f}, "
                        f"{r['delta_ci_high']:+.1f}]</td><td></td><td>{rand['after']:.2f} ({rand['delta']:+.1f}%)</td>"
                        "<td></td></tr>")
            continue
        rand = random.loc[(r["source"], r["target"])]
        rows.append(
            f"<tr><td>{html.escape(r['source'])}</td><td>{html.escape(r['target'])}</td>"
            f"<td>{r['before']:.1f} [{r['before_ci_low']:.1f}, {r['before_ci_high']:.1f}]</td>"
            f"<td>{r['after']:.1f} [{r['after_ci_low']:.1f}, {r['after_ci_high']:.1f}]</td>"
            f"<td>{r['delta']:+.1f} [{r['delta_ci_low']:+.1f}, {r['delta_ci_high']:+.1f}]</td>"
            f"<td>{r['abs_delta']:+.1f} [{r['abs_delta_ci_low']:+.1f}, {r['abs_delta_ci_high']:+.1f}]</td>"
            f"<td>{rand['after']:.1f}</td>"
            f"<td>{r['vs_control']:+.1f} [{r['vs_control_ci_low']:+.1f}, {r['vs_control_ci_high']:+.1f}]</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def write_report(result: TransferResult, out_dir: str | os.PathLike[str], *, command: str = "") -> Path:
    """Write figures (PNG + SVG), tables (CSV, JSON) and ``report.html`` into ``out_dir``.

    The HTML embeds its figures, so it can be mailed or archived alone.
    """
    out = Path(out_dir)
    result.save(out)
    figures = all_figures(result, out)
    for fig in figures.values():
        plt.close(fig)
    settings = json.dumps(result.settings, indent=1, default=str)
    summary = "".join(f"<li>{html.escape(line)}</li>" for line in result.summary())
    overlap = result.overlap[result.overlap["a"] < result.overlap["b"]]
    overlap_rows = "".join(f"<tr><td>{html.escape(r['a'])}</td><td>{html.escape(r['b'])}</td><td>{r['jaccard']:.3f}</td>"
                           f"<td>{int(r['shared'])}</td><td>{r['spearman']:.3f}</td></tr>" for _, r in overlap.iterrows())
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>neuronedit transfer report</title>
<style>{_STYLE}</style></head><body>
<h1>Cross-domain transfer: {html.escape(str(result.settings.get('model', '')))}</h1>
<p class="note">Bias measures are the share of held-out pairs (percent) where the model prefers the
stereotypical sentence; 50 means no preference. Changes are item-paired against the unedited model with
95% bootstrap intervals; "vs control" compares |bias − 50| after the edit with a random edit of the same
number of neurons per layer (negative = the located neurons did more). Perplexity is on text held out
from neuron selection.</p>
<h2>Summary</h2><ul>{summary}</ul>
<h2>Transfer matrix</h2>{_image(out / 'transfer_heatmap.png')}
{_cells_table(result)}
<h2>Dose-response</h2>{_image(out / 'dose_response.png')}
<h2>Neuron overlap between domains</h2>{_image(out / 'overlap_heatmap.png')}
<table><tr><th>a</th><th>b</th><th>Jaccard</th><th>shared</th><th>Spearman</th></tr>{overlap_rows}</table>
<h2>Layer profile</h2>{_image(out / 'layer_histogram.png')}
<h2>Settings</h2>
{f'<p>Command: <code>{html.escape(command)}</code></p>' if command else ''}
<pre>{html.escape(settings)}</pre>
<p class="note">Files: effects.csv (every cell and k), overlap.csv, layers.csv, results.json, figures as PNG and SVG.</p>
</body></html>
"""
    target = out / "report.html"
    with atomic_file(target) as tmp:
        tmp.write_text(body, encoding="utf-8")
    return target
