"""``n_top`` is bounded by the windows read: asking for a billion contexts allocates no more than there are."""

from __future__ import annotations

from tiny_models import tiny_lm

from attributions import NeuronSet
from neuronedit.explain.contexts import contexts_of, top_contexts


def test_n_top_is_bounded_by_the_number_of_windows() -> None:
    lm = tiny_lm()
    windows = [[3, 4, 5, 6], [7, 8, 9], [10, 11, 12, 13, 14]]
    neurons = NeuronSet([(0, 1), (1, 2)])
    huge = top_contexts(lm, neurons, windows, n_top=10**6)  # the old code kept [neurons, n_top] tables
    assert huge.values.shape == (2, 3)
    exact = top_contexts(lm, neurons, windows, n_top=3)
    assert contexts_of(lm, huge, windows) == contexts_of(lm, exact, windows)
