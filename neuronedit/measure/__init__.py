"""Where bias is measured: scoring texts, the benchmark suites, metrics with bootstrap intervals, evaluation.

- :mod:`.scoring`, :mod:`.masked_scoring`: log-probabilities of continuations (causal and masked LMs).
- :mod:`.completion`: next-token log-probability gaps.
- :mod:`.bias_stats`, :mod:`.association`, :mod:`.language`, :mod:`.bootstrap`: the metrics.
- :mod:`.suites`: each benchmark's per-item results; :mod:`.evaluation`: :func:`~.evaluation.evaluate`;
  :mod:`.paired`: item-paired effects of a change (:func:`~.paired.paired_effect`, :func:`~.paired.paired_effects`).
- :mod:`.diagnostics`: synthetic edits that check the measures themselves.

This face loads only the metrics (below); import the other modules by name.
"""

from .bias_stats import TIE, bbq_stats, pair_stats, stereoset_stats
from .bootstrap import Interval, bootstrap, paired_bootstrap
from .language import lm_stats, window_losses

__all__ = [
    "TIE", "Interval", "bbq_stats", "bootstrap", "lm_stats", "pair_stats", "paired_bootstrap",
    "stereoset_stats", "window_losses",
]
