"""The one-sentence verdict per domain: it says "no edit moved" unless a suite clears the random control."""

from __future__ import annotations

import math

import pandas as pd

from neuronedit.analysis.verdicts import moved_share, verdict


def _rows(winobias_high: float, stereoset_high: float = 0.3) -> pd.DataFrame:
    bias = {"role": "bias", "target": "gender", "neutral": 50.0}
    return pd.DataFrame([
        {**bias, "suite": "stereoset", "before": 60.0, "abs_delta": -2.0, "vs_random_ci_high": stereoset_high},
        {**bias, "suite": "winobias", "before": 70.0, "abs_delta": -11.4, "vs_random_ci_high": winobias_high},
        {**bias, "suite": "probes-race", "target": "race", "before": 58.0, "abs_delta": -8.0,
         "vs_random_ci_high": -1.0},
        {"role": "knowledge", "target": "gender", "suite": "probes-knowledge-gender", "before": 90.0,
         "abs_delta": math.nan, "delta": -7.5},
        {"role": "cost", "target": "perplexity", "suite": "text", "before": 20.0, "abs_delta": math.nan, "delta": 0.4},
    ])


def test_a_suite_beyond_the_random_control_is_named_with_its_share_and_costs() -> None:
    line = verdict("gender", {"removing 50 gender neurons": _rows(winobias_high=-0.5)})
    assert line == ("gender: removing 50 gender neurons moved held-out gender bias beyond the random control on "
                    "winobias (winobias 57% of the way to neutral at -7.5 knowledge points and +0.4% perplexity).")


def test_no_suite_beyond_the_control_says_so_even_with_a_large_raw_change() -> None:
    line = verdict("gender", {"leace": _rows(winobias_high=0.2)})
    assert line.startswith("gender: no edit moved held-out gender bias beyond the random control")
    assert "leace moved winobias 57% of the way to neutral at -7.5 knowledge points" in line
    assert "race" not in line  # another domain's row that cleared its control does not count for gender


def test_a_zero_share_reads_0_percent() -> None:
    rows = _rows(winobias_high=0.2).assign(abs_delta=[0.0, 0.0, 0.0, float("nan"), float("nan")])  # share -0.0
    assert "moved stereoset 0% of the way" in verdict("gender", {"edit": rows})


def test_share_is_of_the_unedited_distance() -> None:
    assert moved_share({"before": 70.0, "neutral": 50.0, "abs_delta": -5.0}) == 25.0
    assert moved_share({"before": -0.4, "neutral": 0.0, "abs_delta": 0.2}) == -50.0
    assert math.isnan(moved_share({"before": 50.0, "neutral": 50.0, "abs_delta": 0.0}))
