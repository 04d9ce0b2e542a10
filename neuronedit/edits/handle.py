"""The model handle every edit function takes: a :class:`~attributions.LanguageModel`."""

from __future__ import annotations

from typing import Any

from attributions import LanguageModel

__all__ = ["as_language_model"]


def as_language_model(model: Any) -> LanguageModel:
    """``model`` itself when it is a :class:`LanguageModel`; a TypeError naming the fix otherwise."""
    if isinstance(model, LanguageModel):
        return model
    raise TypeError(f"edit functions take a LanguageModel, not {type(model).__name__}: pass "
                    "neuronedit.load_model(...) or LanguageModel(module, tokenizer)")
