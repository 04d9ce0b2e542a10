"""Self-Debias (Schick, Udupa and Schuetze, 2021) for causal LMs, as a scoring-time edit.

Inside :func:`self_debiased` every forward pass of the model also runs each input with a debiasing
prefix ("the following text discriminates against people because of their gender:" and a line
break) inserted after its start token (in front of the first token when the input has none, as a
perplexity window), and the next-token distribution ``p`` is rescaled where a prefixed run makes a
token more likely::

    delta(w) = p(w | x) - max_prefix p(w | prefix, x)
    alpha(w) = 1 if delta >= 0 else max(exp(decay * delta), epsilon)
    p~(w | x) = alpha(w) p(w | x) / sum_v alpha(v) p(v | x)

The model's logits are replaced by ``log p~`` (computed in log space, so log-softmax returns them
unchanged). The paper's decay constant is 50; epsilon 0.01 floors the factor. Nothing about the
weights changes, so there is nothing to save: the edit exists only inside the block. Whole sequences
are needed, so the scorers skip their shared-prefix cache while it is active, and leave room in the
context for the prefix (:data:`~neuronedit.measure.scoring.WHOLE_SEQUENCES`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from attributions import LanguageModel
from attributions.errors import InputError
from attributions.hooks import forward_hooks

from ..edits.handle import as_language_model
from ..measure.scoring import WHOLE_SEQUENCES, is_masked_lm, max_positions, start_token_id

__all__ = ["debias_prefix", "rescale", "self_debiased"]

_DECAY = 50.0
_EPSILON = 0.01

_ATTRIBUTE = {"gender": "gender", "race": "race or color", "religion": "religion"}


def debias_prefix(domain: str) -> str:
    """The debiasing prefix of a bias domain (the paper's template)."""
    attribute = _ATTRIBUTE.get(domain, domain)
    return f"The following text discriminates against people because of their {attribute}:"


def rescale(logits: torch.Tensor, prefixed: Sequence[torch.Tensor], decay: float = _DECAY,
            epsilon: float = _EPSILON) -> torch.Tensor:
    """Self-debiased log-probabilities ``[..., vocab]`` from the plain ``logits`` and those of each
    prefixed run (same shape), all in float32 or wider."""
    log_p = torch.log_softmax(logits, dim=-1)
    biased = torch.stack([torch.softmax(q, dim=-1) for q in prefixed]).amax(dim=0)
    delta = (log_p.exp() - biased).clamp(max=0.0)  # only tokens a prefix makes more likely are lowered
    log_alpha = (decay * delta).clamp(min=math.log(epsilon))
    return torch.log_softmax(log_p + log_alpha, dim=-1)


def _insert(ids: torch.Tensor, mask: torch.Tensor, prefix: torch.Tensor,
            start: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``ids`` ``[rows, length]`` with ``prefix`` inserted after each row's first attended token when that
    is the ``start`` token, else in front of it. Either way position ``t`` of a row is position
    ``t + len(prefix)`` of the result from its first attended token on."""
    rows, length = ids.shape
    width = len(prefix)
    first = mask.long().argmax(dim=1)  # index of the first attended token (0 with right padding)
    out = torch.empty((rows, length + width), dtype=ids.dtype, device=ids.device)
    out_mask = torch.empty((rows, length + width), dtype=mask.dtype, device=mask.device)
    for r in range(rows):
        cut = int(first[r]) + int(ids[r, first[r]] == start)
        out[r] = torch.cat([ids[r, :cut], prefix.to(ids.device), ids[r, cut:]])
        out_mask[r] = torch.cat([mask[r, :cut], torch.ones(width, dtype=mask.dtype, device=mask.device), mask[r, cut:]])
    return out, out_mask


def _debias_hook(prefixes: list[torch.Tensor], start: int, decay: float, epsilon: float) -> Any:
    busy = [False]

    def hook(module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Any:
        if busy[0]:
            return None
        if any(kwargs.get(name) is not None for name in ("past_key_values", "cache", "inputs_embeds")):
            raise RuntimeError("self-debiasing needs whole input ids: no key/value cache, no input embeddings")
        ids = kwargs.get("input_ids", args[0] if args else None)
        if not isinstance(ids, torch.Tensor):
            raise RuntimeError("self-debiasing needs the model called with input ids")
        mask = kwargs.get("attention_mask")
        mask = torch.ones_like(ids) if mask is None else mask
        keep = kwargs.get("logits_to_keep", 0)
        runs = []
        busy[0] = True
        try:
            for prefix in prefixes:
                width = len(prefix)
                new_ids, new_mask = _insert(ids, mask, prefix, start)
                limit = max_positions(module)
                if limit is not None and new_ids.shape[1] > limit:
                    raise InputError(f"{ids.shape[1]} tokens and a {width}-token debiasing prefix exceed the "
                                     f"model's context of {limit}: score shorter inputs")
                extra: dict[str, Any] = {}
                if kwargs.get("position_ids") is not None:
                    extra["position_ids"] = (new_mask.cumsum(dim=1) - 1).clamp(min=0)
                if isinstance(keep, torch.Tensor):
                    extra["logits_to_keep"] = keep + width
                elif keep:
                    extra["logits_to_keep"] = keep
                logits = module(input_ids=new_ids, attention_mask=new_mask, use_cache=False, **extra).logits
                runs.append(logits if isinstance(keep, torch.Tensor) or keep else logits[:, width:])
        finally:
            busy[0] = False
        plain = output.logits
        wide = torch.promote_types(plain.dtype, torch.float32)
        output.logits = rescale(plain.to(wide), [r.to(wide) for r in runs], decay, epsilon).to(wide)
        return output

    return hook


@contextmanager
def self_debiased(model: LanguageModel, domains: Sequence[str] = ("gender",), *, decay: float = _DECAY,
                  epsilon: float = _EPSILON) -> Iterator[LanguageModel]:
    """Inside the block, the model's outputs are self-debiased with the prefixes of ``domains``; the
    hook and the flag are removed on exit, also after an exception."""
    lm = as_language_model(model)
    if is_masked_lm(lm.model):
        raise InputError("Self-Debias rescales next-token distributions: it needs a causal LM, not a masked LM")
    texts = [debias_prefix(d) for d in domains]
    if not texts:
        raise InputError("give at least one domain")
    encoded = [torch.tensor(lm.tokenizer(t + "\n", add_special_tokens=False)["input_ids"], dtype=torch.long)
               for t in texts]
    hook = _debias_hook(encoded, start_token_id(lm.tokenizer), decay, epsilon)
    previous = getattr(lm.model, WHOLE_SEQUENCES, 0)  # nested blocks: their prefixes add up
    with forward_hooks([(lm.model, hook)], with_kwargs=True):
        setattr(lm.model, WHOLE_SEQUENCES, previous + max(len(e) for e in encoded))
        try:
            yield lm
        finally:
            if previous:
                setattr(lm.model, WHOLE_SEQUENCES, previous)
            else:
                delattr(lm.model, WHOLE_SEQUENCES)
