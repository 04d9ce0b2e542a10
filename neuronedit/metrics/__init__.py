"""Bias and language-modelling metrics with bootstrap intervals."""

from .bias import TIE, bbq_stats, pair_stats, stereoset_stats
from .bootstrap import Interval, bootstrap, paired_bootstrap
from .language import lm_stats, window_losses

__all__ = [
    "TIE", "Interval", "bbq_stats", "bootstrap", "lm_stats", "pair_stats", "paired_bootstrap",
    "stereoset_stats", "window_losses",
]
