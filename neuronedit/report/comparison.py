"""The comparison report: a figure of bias reduction against cost and a self-contained ``compare.html``."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from attributions.files import atomic_file
from attributions.timings import split_timings

from ..analysis.comparison_result import Comparison
from .plots import save_figure
from .transfer import _STYLE, _image

__all__ = ["write_compare_report"]

_COLOURS = {"neuron edit": "tab:blue", "unlearning": "tab:orange", "baseline": "tab:green", "random": "tab:gray"}


def _bars(row: Any, name: str) -> list[list[float]]:
    value, low, high = (float(row[name + suffix]) for suffix in ("", "_ci_low", "_ci_high"))
    return [[max(value - low, 0.0)], [max(high - value, 0.0)]]


def _reduction_vs_cost(result: Comparison, source: str, path: str | os.PathLike[str] | None = None) -> Figure:
    """One point per method: x = perplexity change (%), y = change in |bias - neutral| on the source's
    held-out benchmark (negative = less biased), with the paired 95% intervals as bars."""
    rows = result.main_rows(source)
    cost = result.effects[(result.effects["source"] == source) & (result.effects["role"] == "cost")]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    placed: list[tuple[float, float]] = []
    x_span = max(float(cost["delta"].abs().max()), 1.0)
    y_span = max(float(rows["abs_delta"].abs().max()), 1.0)
    for _, r in rows.iterrows():
        c = cost[cost["method"] == r["method"]].iloc[0]
        colour = _COLOURS.get(str(r["family"]), "tab:purple")
        # a percentile interval need not contain its point: bars are clipped at the point
        ax.errorbar(c["delta"], r["abs_delta"], xerr=_bars(c, "delta"), yerr=_bars(r, "abs_delta"), fmt="o",
                    color=colour, capsize=3)
        point = (float(c["delta"]), float(r["abs_delta"]))
        near = sum(abs(point[0] - x) < 0.05 * x_span and abs(point[1] - y) < 0.05 * y_span for x, y in placed)
        placed.append(point)
        ax.annotate(str(r["method"]), point, textcoords="offset points", xytext=(5, 4 + 9 * near), fontsize=8)
    ax.axhline(0, color="black", lw=0.6)
    ax.axvline(0, color="black", lw=0.6)
    suite = result.main_suite(source)
    ax.set_xlabel("perplexity change on WikiText-2 (%)")
    ax.set_ylabel(f"change in |{source} bias − neutral|\n({suite}, held out; < 0 = less biased)")
    ax.set_title(f"{source}: bias reduction vs cost, 95% paired intervals")
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=f) for f, c in _COLOURS.items()]
    ax.legend(handles=handles, fontsize=7, loc="best")
    save_figure(fig, path)
    return fig


def table_html(table: Any) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in r) + "</tr>"
                   for r in table.itertuples(index=False))
    return f"<table><tr>{head}</tr>{rows}</table>"


def write_compare_report(result: Comparison, out_dir: str | os.PathLike[str], *, command: str = "") -> Path:
    """Write the tables (CSV, JSON), one figure per source (PNG + SVG) and ``compare.html`` into ``out_dir``."""
    out = Path(out_dir)
    result.save(out)
    sections = []
    for source in result.settings["domains"]:
        fig = _reduction_vs_cost(result, source, out / f"compare_{source}")
        plt.close(fig)
        matrix = result.pairwise_matrix(source).reset_index(names="a \\ b")
        suite = html.escape(result.main_suite(source))
        sections.append(f"<h2>Source: {html.escape(source)}</h2>{_image(out / f'compare_{source}.png')}"
                        f"{table_html(result.table(source))}<h3>Method against method ({suite}): |bias − neutral| "
                        f"of the column minus the row's, item-paired (negative = the column is less biased)</h3>"
                        f"{table_html(matrix)}")
    descriptions = "".join(f"<li><b>{html.escape(m)}</b>: {html.escape(d)} (saved as: "
                           f"{html.escape(result.settings['saved_as'][m])})</li>"
                           for m, d in result.settings["descriptions"].items())
    settings = json.dumps(split_timings(result.settings)[0], indent=1, default=str)  # durations: timings.json
    verdicts = "".join(f"<p class=\"verdict\">{html.escape(line)}</p>" for line in result.verdicts())
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>neuronedit method comparison</title>
<style>{_STYLE}</style></head><body>
<h1>Debiasing methods side by side: {html.escape(str(result.settings.get('model', '')))}</h1>
{verdicts}
<p class="note">Every method is fitted on the source domain's dev half only and evaluated on the same
held-out items. Bias columns give the change in |association score − neutral| (negative = less biased;
the association score cannot be moved by how often a group term is predicted), item-paired against the
unedited model with 95% bootstrap intervals; "vs neurons" is the method's |bias − neutral| minus the
neuron edit's on the same items (negative = the method did more). Other columns are the transfer row
(other benchmarks and biases), knowledge-probe accuracy kept (points), perplexity on WikiText-2 text no
method was fitted on, and StereoSet's LMS.</p>
<ul>{descriptions}</ul>
{''.join(sections)}
<h2>Settings</h2>
{f'<p>Command: <code>{html.escape(command)}</code></p>' if command else ''}
<pre>{html.escape(settings)}</pre>
<p class="note">Files: comparison.csv (every suite and method), comparison_table.csv, comparison.json,
figures as PNG and SVG; timings.json holds how long the run took (the only file that differs between runs).</p>
</body></html>
"""
    target = out / "compare.html"
    with atomic_file(target) as tmp:
        tmp.write_text(body, encoding="utf-8")
    return target
