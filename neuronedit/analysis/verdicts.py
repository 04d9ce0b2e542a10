"""One plain sentence per domain, above the detailed summary of report.html and compare.html.

A verdict reads the domain's own bias rows on the held-out suites: which moved beyond the random
control (the paired interval of the difference in |bias - neutral| wholly below 0), how far toward
neutral (share of the unedited distance removed), at what change in the domain's knowledge probes and
in perplexity. "No edit moved ..." is said whenever no suite clears the random control, however large
a raw change is.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

__all__ = ["moved_share", "verdict"]


def moved_share(row: Any) -> float:
    """Percent of the unedited distance to neutral the edit removed (negative: moved away); NaN at neutral."""
    distance = abs(float(row["before"]) - float(row.get("neutral", 50.0)))
    return -100.0 * float(row["abs_delta"]) / distance if distance > 0 else math.nan


def _percent(share: float) -> str:
    """``share`` as a whole percent, without a sign on a value that rounds to 0."""
    return f"{round(share) or 0:.0f}%"


def _beyond(row: Any, column: str) -> bool:
    high = row.get(f"{column}_ci_high", math.nan)
    return isinstance(high, (int, float)) and not math.isnan(high) and high < 0


def _knowledge(rows: pd.DataFrame, domain: str) -> str:
    known = rows[(rows["role"] == "knowledge") & (rows["target"] == domain)]
    return f" at {float(known.iloc[0]['delta']):+.1f} knowledge points" if len(known) else ""


def _perplexity(rows: pd.DataFrame) -> str:
    cost = rows[rows["role"] == "cost"]
    return f" and {float(cost.iloc[0]['delta']):+.1f}% perplexity" if len(cost) else ""


def verdict(domain: str, edits: dict[str, pd.DataFrame], *, control: str = "vs_random") -> str:
    """The sentence for ``domain`` from the effect rows of each edit (name -> its rows, at one size).

    ``control`` names the columns holding each bias row's comparison with the random control
    (``vs_random`` in transfer, where each edit has its own layer-matched random edit).
    """
    moved: list[tuple[float, str, str]] = []  # (share, edit, suite)
    best: tuple[float, str, str] | None = None
    for name, rows in edits.items():
        own = rows[(rows["role"] == "bias") & (rows["target"] == domain)]
        for _, row in own.iterrows():
            share = moved_share(row)
            if math.isnan(share):
                continue
            entry = (share, name, str(row["suite"]))
            if _beyond(row, control):
                moved.append(entry)
            if best is None or share > best[0]:
                best = entry
    if not moved:
        if best is None:
            return f"{domain}: no held-out {domain} bias could be read."
        share, name, suite = best
        rows = edits[name]
        return (f"{domain}: no edit moved held-out {domain} bias beyond the random control (the largest change: "
                f"{name} moved {suite} {_percent(share)} of the way to neutral{_knowledge(rows, domain)}).")
    share, name, suite = max(moved)
    suites = sorted({s for _, n, s in moved if n == name})
    rows = edits[name]
    return (f"{domain}: {name} moved held-out {domain} bias beyond the random control on {', '.join(suites)} "
            f"({suite} {_percent(share)} of the way to neutral{_knowledge(rows, domain)}{_perplexity(rows)}).")
