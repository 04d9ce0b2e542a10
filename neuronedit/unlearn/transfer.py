"""Unlearning as the edit of a transfer analysis: forget each source domain's dev pairs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from attributions import LanguageModel, NeuronSet

from ..edits.temporary import restoring
from .train import unlearn

__all__ = ["unlearning_edit"]


def unlearning_edit(method: str = "masked_token", *, confine: bool = False, **options: Any) -> Any:
    """An edit factory for :func:`neuronedit.analysis.transfer_matrix`: unlearn the source domain's
    attribution pairs with ``method`` (``options`` go to :func:`unlearn`), confined to the selected
    neurons when ``confine``; the model is restored when the block exits."""

    @contextmanager
    def edit(lm: LanguageModel, neurons: NeuronSet, domain: Any) -> Iterator[Any]:
        with restoring(lm):
            yield unlearn(lm, domain.attribution, method, neurons=neurons if confine else None, **options)

    edit.__name__ = f"unlearn:{method}{':confined' if confine else ''}"
    return edit
