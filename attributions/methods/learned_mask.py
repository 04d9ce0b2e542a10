"""The learned mask as an attribution method: :func:`attributions.masking.learn_mask` behind ``attribute()``.

Unlike the per-batch methods it trains over all batches at once, so ``attribute()`` hands it the
whole run (it is marked ``trains``). Its options are :class:`~attributions.masking.MaskOptions`'
fields plus ``retain`` (texts) and ``keep`` (objectives) for the text and knowledge terms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any

from ..masking import MaskOptions, learn_mask
from ..model import LanguageModel
from ..objectives import Objective
from ..scores import NeuronScores

__all__ = ["LearnedMask", "learned_mask"]


class LearnedMask:
    """A callable marked ``trains = True``: ``attribute()`` calls it once with the whole objective."""

    trains = True
    options = ("retain", "keep", "on_step", *(f.name for f in fields(MaskOptions)))

    def __call__(self, lm: LanguageModel, objective: Objective, *, batch_size: int = 16, seed: int = 0,
                 progress: bool = False, checkpoint: Any = None, checkpoint_every: int = 20, label: str | None = None,
                 retain: Sequence[str] = (), keep: Sequence[Objective] = (),
                 on_step: Callable[[int, dict[str, float]], None] | None = None, **options: Any) -> NeuronScores:
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise TypeError(f"attribution method 'learned_mask' takes no option {unknown[0]}= "
                            f"(its options: {', '.join(f'{n}=' for n in self.options)})")
        return learn_mask(lm, objective, retain=retain, keep=keep, options=MaskOptions(**options),
                          batch_size=batch_size, seed=seed, progress=progress, checkpoint=checkpoint,
                          checkpoint_every=checkpoint_every, label=label, on_step=on_step)


learned_mask = LearnedMask()
