"""Synthetic edits that check the measures themselves.

:func:`logit_shift` adds constants to chosen tokens' logits at the positions whose *input* token is a
trigger. With the token that precedes a group word as trigger and the group word as target, it is
a frequency-only edit: the group word becomes more or less likely exactly where it is predicted and
nothing else changes, so an association score must not move. With a group word as trigger and an
attribute (or pronoun) as target, it plants an association, which the score must detect.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

import torch

from attributions.errors import InputError

if TYPE_CHECKING:
    from transformers import PreTrainedModel

from attributions import LanguageModel
from attributions.hooks import forward_hooks, pre_hooks

__all__ = ["logit_shift", "single_token"]


def single_token(lm: LanguageModel, text: str) -> int:
    """The id of ``text`` when it is one token (mind the leading space, e.g. ``" Black"``)."""
    ids = lm.tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) != 1:
        raise InputError(f"{text!r} is {len(ids)} tokens ({ids}), not one")
    return int(ids[0])


@contextmanager
def logit_shift(lm: LanguageModel, shifts: Mapping[int, float], triggers: Collection[int]) -> Iterator[None]:
    """Inside the block, add ``shifts[token]`` to the logit of ``token`` at every position whose input
    token is in ``triggers``; hooks are removed on exit, also after an exception.

    Works with every scoring path (``logits_to_keep``, key/value caches): the model's forward
    records the input ids and kept positions, the output-embedding hook shifts ``[batch, pos, vocab]``.
    """
    model = lm.model
    head = cast("PreTrainedModel", model).get_output_embeddings()
    if head is None:
        raise InputError("the model has no output embeddings to hook")
    trigger_ids = torch.tensor(sorted({int(t) for t in triggers}), dtype=torch.long)
    state: dict[str, Any] = {}

    def record(_module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        state["ids"] = kwargs.get("input_ids", args[0] if args else None)
        state["keep"] = kwargs.get("logits_to_keep", 0)

    def shift(_module: torch.nn.Module, _inputs: Any, logits: torch.Tensor) -> torch.Tensor:
        ids, keep = state["ids"], state["keep"]
        length = ids.shape[1]
        if isinstance(keep, int):
            positions = torch.arange(length)[-keep:] if keep else torch.arange(length)
        else:
            positions = keep.to("cpu")
        if logits.shape[1] != len(positions):
            raise RuntimeError(f"logits cover {logits.shape[1]} positions, expected {len(positions)}")
        fired = torch.isin(ids.to("cpu")[:, positions], trigger_ids).to(logits.device, logits.dtype)
        delta = torch.zeros(logits.shape[-1], dtype=logits.dtype, device=logits.device)
        for token, value in shifts.items():
            delta[int(token)] = value
        return logits + fired.unsqueeze(-1) * delta

    with pre_hooks([(model, record)], with_kwargs=True), forward_hooks([(head, shift)]):
        yield
