"""Figures of a transfer analysis (matplotlib): transfer heatmap, overlap heatmap, dose-response
curves and the layer profile. Each function returns the figure and, given ``path`` (without
suffix), writes ``path.png`` and ``path.svg``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from attributions.files import atomic_file

from ..analysis.transfer_result import TransferResult

__all__ = ["dose_response", "layer_histogram", "overlap_heatmap", "save_figure", "transfer_heatmap"]


_SVG_HASH_SALT = "neuronedit"
"""Seeds the ids of an SVG's clip paths and images (matplotlib draws random ones without it)."""
_METADATA: dict[str, dict[str, Any]] = {"svg": {"Date": None}, "pdf": {"CreationDate": None, "ModDate": None},
                                        "png": {}}
"""Per format, metadata left out of the file: no date (a PNG carries none)."""


def save_figure(fig: Figure, path: str | os.PathLike[str] | None,
                formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Write ``fig`` as ``path.<format>`` for each format (nothing when ``path`` is None), atomically.

    The one place figures are saved: the same figure gives the same bytes (a fixed SVG hash salt,
    no date; see :mod:`attributions.timings`)."""
    if path is None:
        return []
    path = Path(path)
    written = []
    for fmt in formats:
        target = path.with_suffix(f".{fmt}")
        with matplotlib.rc_context({"svg.hashsalt": _SVG_HASH_SALT}), atomic_file(target) as tmp:
            fig.savefig(tmp, format=fmt, dpi=150, bbox_inches="tight", metadata=_METADATA.get(fmt))
        written.append(target)
    return written


def _symmetric_norm(values: np.ndarray) -> TwoSlopeNorm:
    finite = values[np.isfinite(values)]
    bound = float(np.abs(finite).max()) if finite.size else 1.0
    bound = bound or 1.0
    return TwoSlopeNorm(vmin=-bound, vcenter=0.0, vmax=bound)


def transfer_heatmap(result: TransferResult, path: str | os.PathLike[str] | None = None, *,
                     benchmark: str | None = None) -> Figure:
    """Source x target heatmap on one benchmark (default: the first) of the change in its association
    score's distance from neutral (``abs_delta``: change in |bias - neutral|, negative = less biased),
    diverging colours centred at zero, each cell annotated with the change and its 95% interval;
    cells whose interval excludes zero are marked with *. Perplexity change per source is shown in
    the right-hand column."""
    benchmark = benchmark or result.benchmarks[0]
    cells = result.cells(benchmark=benchmark)
    sources, targets = result.sources, result.targets_of(benchmark)
    grid = np.full((len(sources), len(targets)), np.nan)
    labels = [["" for _ in targets] for _ in sources]
    for i, source in enumerate(sources):
        for j, target in enumerate(targets):
            row = cells[(cells["source"] == source) & (cells["target"] == target) & (cells["role"] == "bias")]
            if row.empty:
                continue
            r = row.iloc[0]
            low, high = r["abs_delta_ci_low"], r["abs_delta_ci_high"]
            grid[i, j] = r["abs_delta"]
            star = "*" if (low > 0 or high < 0) else ""
            digits = 2 if r["metric"] == "assoc_gap" else 1
            labels[i][j] = (f"{r['abs_delta']:+.{digits}f}{star}\n[{low:+.{digits}f}, {high:+.{digits}f}]\n"
                            f"{r['before']:.{digits}f}→{r['after']:.{digits}f} ({r['metric']})")
    fig, (ax, side) = plt.subplots(1, 2, figsize=(max(7.5, 2.0 * len(targets) + 3.2), 1.25 * len(sources) + 1.8),
                                   gridspec_kw={"width_ratios": [len(targets), 1.1]})
    norm = _symmetric_norm(grid)
    image = ax.imshow(grid, cmap="RdBu_r", norm=norm, aspect="auto")
    for i in range(len(sources)):
        for j in range(len(targets)):
            strong = np.isfinite(grid[i, j]) and abs(norm(grid[i, j]) - 0.5) > 0.3  # dark cell: white text
            ax.text(j, i, labels[i][j], ha="center", va="center", fontsize=8, color="white" if strong else "black")
    ax.set_xticks(range(len(targets)), targets)
    ax.set_yticks(range(len(sources)), sources)
    ax.set_xlabel(f"target bias on {benchmark} (held-out items)")
    ax.set_ylabel("source: neurons removed")
    unit = "change in |bias − neutral|"
    ax.set_title(f"{unit}, k = {result.k}; * = 95% interval excludes 0", fontsize=10)
    fig.colorbar(image, ax=ax, label=unit, shrink=0.85)
    ppl = cells[cells["target"] == "perplexity"].set_index("source")
    side.axis("off")
    side.set_title("perplexity", fontsize=10)
    for i, source in enumerate(sources):
        if source in ppl.index:
            cost = ppl.loc[source]
            side.text(0.5, 1 - (i + 0.5) / len(sources), f"{cost['delta']:+.1f}%\n[{cost['delta_ci_low']:+.1f}, "
                      f"{cost['delta_ci_high']:+.1f}]", ha="center", va="center", fontsize=8, transform=side.transAxes)
    fig.suptitle(f"Removing one bias's neurons: association scores on {benchmark} "
                 f"({result.settings.get('model', '')})", fontsize=11)
    save_figure(fig, path)
    return fig


def overlap_heatmap(result: TransferResult, path: str | os.PathLike[str] | None = None) -> Figure:
    """Two heatmaps: Jaccard overlap of the selected neuron sets and Spearman correlation of the scores."""
    names = result.sources
    fig, axes = plt.subplots(1, 2, figsize=(4.2 * 2, 3.6))
    for ax, column, title, cmap, norm in (
        (axes[0], "jaccard", f"Jaccard of the selected sets (k = {result.k})", "Purples", None),
        (axes[1], "spearman", "Spearman correlation of the scores", "RdBu_r",
         TwoSlopeNorm(vcenter=0.0, vmin=-1.0, vmax=1.0)),
    ):
        grid = np.full((len(names), len(names)), np.nan)
        for _, r in result.overlap.iterrows():
            if r["a"] in names and r["b"] in names:
                grid[names.index(r["a"]), names.index(r["b"])] = r[column]
        image = ax.imshow(grid, cmap=cmap, norm=norm, vmin=0 if norm is None else None,
                          vmax=1 if norm is None else None)
        for i in range(len(names)):
            for j in range(len(names)):
                ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=9)
        ax.set_xticks(range(len(names)), names)
        ax.set_yticks(range(len(names)), names)
        ax.set_title(title, fontsize=10)
        fig.colorbar(image, ax=ax, shrink=0.8, label=column)
    fig.suptitle("Do the bias domains share neurons?", fontsize=11)
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def dose_response(result: TransferResult, path: str | os.PathLike[str] | None = None) -> Figure:
    """Per source: every target's association score on the first benchmark (top, with 95% bands;
    dashed line at no bias) and perplexity (bottom) as the number of removed neurons grows."""
    benchmark = result.benchmarks[0]
    dose = result.dose()
    dose = dose[(dose["benchmark"] == benchmark) | (dose["role"] == "cost")]
    sources = result.sources
    fig, axes = plt.subplots(2, len(sources), figsize=(4.0 * len(sources), 5.6), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": [2, 1]})
    colours = dict(zip(result.targets, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    neutral = float(dose["neutral"].dropna().iloc[0]) if "neutral" in dose and dose["neutral"].notna().any() else 50.0
    for col, source in enumerate(sources):
        top, bottom = axes[0, col], axes[1, col]
        rows = dose[dose["source"] == source]
        for target in result.targets:
            t = rows[rows["target"] == target].sort_values("k")
            ks = np.concatenate([[0], t["k"].to_numpy()])
            value = np.concatenate([[t["before"].iloc[0]], t["after"].to_numpy()])
            low = np.concatenate([[t["before_ci_low"].iloc[0]], t["after_ci_low"].to_numpy()])
            high = np.concatenate([[t["before_ci_high"].iloc[0]], t["after_ci_high"].to_numpy()])
            top.plot(ks, value, marker="o", ms=3, color=colours[target], label=target)
            top.fill_between(ks, low, high, color=colours[target], alpha=0.15)
        top.axhline(neutral, color="grey", ls="--", lw=0.8)
        top.set_title(f"removing {source} neurons", fontsize=10)
        top.set_ylabel(f"{benchmark}: association" if col == 0 else "")
        p = rows[rows["target"] == "perplexity"].sort_values("k")
        if not p.empty:
            ks = np.concatenate([[0], p["k"].to_numpy()])
            bottom.plot(ks, np.concatenate([[0.0], p["delta"].to_numpy()]), marker="o", ms=3, color="black")
            bottom.fill_between(ks, np.concatenate([[0.0], p["delta_ci_low"].to_numpy()]),
                                np.concatenate([[0.0], p["delta_ci_high"].to_numpy()]), color="black", alpha=0.15)
        bottom.set_xscale("symlog", linthresh=10)
        bottom.set_xlabel("neurons removed (k)")
        bottom.set_ylabel("perplexity change (%)" if col == 0 else "")
        bottom.axhline(0, color="grey", lw=0.8)
    axes[0, 0].legend(title="target", fontsize=8)
    fig.suptitle("Dose-response: bias and perplexity as more neurons are removed", fontsize=11)
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def layer_histogram(result: TransferResult, path: str | os.PathLike[str] | None = None) -> Figure:
    """Selected neurons per layer, one bar series per source."""
    layers = result.layers
    sources = result.sources
    n_layers = int(layers["layer"].max()) + 1 if not layers.empty else 0
    fig, ax = plt.subplots(figsize=(max(6.0, 0.25 * n_layers + 2), 3.2))
    width = 0.8 / max(1, len(sources))
    for i, source in enumerate(sources):
        rows = layers[layers["source"] == source]
        ax.bar(rows["layer"].to_numpy() + (i - (len(sources) - 1) / 2) * width, rows["count"], width=width,
               label=source)
    ax.set_xlabel("layer")
    ax.set_ylabel(f"neurons among the top {result.k}")
    ax.set_title("Where the selected neurons sit", fontsize=10)
    ax.legend(title="source", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def all_figures(result: TransferResult, out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Write the four figures into ``out_dir``; returns ``{name: figure}``."""
    out = Path(out_dir)
    figures = {
        f"transfer_heatmap_{b}": transfer_heatmap(result, out / f"transfer_heatmap_{b}", benchmark=b)
        for b in result.benchmarks
    }
    save_figure(figures[f"transfer_heatmap_{result.benchmarks[0]}"], out / "transfer_heatmap")  # the main one
    figures |= {
        "overlap_heatmap": overlap_heatmap(result, out / "overlap_heatmap"),
        "dose_response": dose_response(result, out / "dose_response"),
        "layer_histogram": layer_histogram(result, out / "layer_histogram"),
    }
    return figures
