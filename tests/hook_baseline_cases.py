"""The baselines' cases of test_hook_hygiene.py (LEACE's fit and erasers, Self-Debias), kept apart for size."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hook_checks import Boom

from attributions import LanguageModel

REQUESTS = [("the nurse said that", "she was home"), ("the doctor said", "he was at work")]


def _score(lm: LanguageModel) -> Any:
    from neuronedit.measure.scoring import score_texts

    return score_texts(lm, REQUESTS)


GENDERED = ["the man was lazy at work", "he lived in paris", "the nurse said that he was home", "she is rich"]
LEACE_FIT = "neuronedit.baselines.leace:_Replay.__init__"
LEACE_ERASED = "neuronedit.baselines.leace:erased"
SELF_DEBIAS = "neuronedit.baselines.self_debias:self_debiased"


def fit_leace_(lm: LanguageModel) -> Any:
    from neuronedit.baselines import fit_leace

    return fit_leace(lm, GENDERED, "gender")


def fit_leace_case(lm: LanguageModel, boom: bool) -> None:
    """Fitting records each block's arguments in a pass that stops before the last block, never reaching
    the head: the exception run makes the first block raise in that pass (the recording hooks in place)."""
    block = lm.sites[0].block
    original, calls = block.forward, [0]

    def forward(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == 1:
            raise Boom("raised inside the first block")
        return original(*args, **kwargs)

    if boom:
        block.forward = forward
    try:
        fit_leace_(lm)
    finally:
        if boom:
            del block.forward
    assert calls[0] >= 1 or not boom


def erased_block(lm: LanguageModel) -> Any:
    from neuronedit.baselines import erased

    return erased(lm, fit_leace_(lm))


def self_debiased_(lm: LanguageModel) -> Any:
    from neuronedit.baselines import self_debiased

    return self_debiased(lm, ["gender", "race"])


def second_call() -> Callable[[LanguageModel], bool]:
    """True from the second forward pass on: the exception rises in the hook's own (prefixed) pass."""
    calls = [0]

    def when(_lm: LanguageModel) -> bool:
        calls[0] += 1
        return calls[0] >= 2

    return when


def self_debiased_score(lm: LanguageModel) -> Any:
    with self_debiased_(lm):
        return _score(lm)


