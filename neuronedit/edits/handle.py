"""The model handle every edit function takes: a :class:`~attributions.LanguageModel`."""

from __future__ import annotations

import warnings

from torch import nn

from attributions import LanguageModel

__all__ = ["as_language_model"]


def as_language_model(model: LanguageModel | nn.Module) -> LanguageModel:
    """``model`` itself when it is a :class:`LanguageModel`.

    A bare Hugging Face module is still accepted for one release, with a DeprecationWarning: it
    is wrapped without a tokenizer (so a saved checkpoint has none) and named after its config's
    ``_name_or_path``. Wrap it yourself with ``LanguageModel(module, tokenizer)``.
    """
    if isinstance(model, LanguageModel):
        return model
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a LanguageModel (neuronedit.load_model(...)), not {type(model).__name__}")
    warnings.warn("edit functions take a LanguageModel: pass neuronedit.load_model(...) or "
                  "LanguageModel(module, tokenizer) instead of the bare module (accepted until the next release)",
                  DeprecationWarning, stacklevel=3)
    name = str(getattr(getattr(model, "config", None), "_name_or_path", "") or "")
    return LanguageModel(model, None, name=name)
