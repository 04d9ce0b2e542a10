"""Batched log-likelihood scoring of texts, optionally conditioned on a prefix.

Each request ``(prefix, text)`` is tokenized as ``[start] + prefix + text`` (pieces tokenized
separately, ``text`` with a leading space when there is a prefix); ``start`` is the tokenizer's
BOS token (EOS if it has none), so the first word of ``text`` is scored too. Only the tokens of
``text`` count. Requests run in length-sorted, padded batches; results do not depend on the
batch size or the padding side (tested against a one-at-a-time scorer).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from attributions import LanguageModel
from attributions.distributed import is_main, shard, sum_arrays
from attributions.errors import InputError
from attributions.forward import (
    accepts_logits_to_keep,
    input_device,
    logits_at,
    max_positions,
    pad_rows,
    start_token_id,
)

from .masked_scoring import pll_shared_tokens

__all__ = [
    "WHOLE_SEQUENCES",
    "TextScores",
    "context_limit",
    "encode_request",
    "is_masked_lm",
    "max_positions",
    "pll_shared_tokens",
    "score_encoded",
    "score_texts",
    "start_token_id",
]

WHOLE_SEQUENCES = "_neuronedit_whole_sequences"
"""Set on a model (by :func:`neuronedit.baselines.self_debiased`) whose forward pass needs each whole
input: the scorers then skip the shared-prefix key/value cache. Its value is how many positions the
forward pass adds to each input (a debiasing prefix), which the context limit must leave free."""


def context_limit(model: torch.nn.Module) -> int | None:
    """The longest input the scorers may pass: the model's context minus the positions a forward-pass
    edit adds (:data:`WHOLE_SEQUENCES`); None when the model has no fixed context."""
    limit = max_positions(model)
    return None if limit is None else limit - int(getattr(model, WHOLE_SEQUENCES, 0) or 0)


@dataclass
class TextScores:
    """Per-request results, in request order.

    Attributes:
        logprob: ``[n]`` summed log-probability of each text's tokens (float64).
        n_tokens: ``[n]`` how many tokens were scored.
    """

    logprob: np.ndarray
    n_tokens: np.ndarray

    @property
    def mean_logprob(self) -> np.ndarray:
        """``[n]`` length-normalised log-probability (per scored token)."""
        return self.logprob / np.maximum(self.n_tokens, 1)


def encode_request(tokenizer: object, prefix: str, text: str) -> tuple[list[int], int]:
    """Token ids ``[start] + prefix + text`` and the index where ``text`` starts."""
    ids = [start_token_id(tokenizer)]
    if prefix:
        ids += tokenizer(prefix, add_special_tokens=False)["input_ids"]  # type: ignore[operator]
        text = " " + text
    begin = len(ids)
    ids += tokenizer(text, add_special_tokens=False)["input_ids"]  # type: ignore[operator]
    return ids, begin


@torch.no_grad()
def score_texts(
    lm: LanguageModel,
    requests: Sequence[tuple[str, str]],
    *,
    batch_size: int = 32,
    padding_side: str = "right",
    share_prefix: bool = True,
    progress: bool = False,
    desc: str = "scoring",
) -> TextScores:
    """Score ``(prefix, text)`` requests; see the module docstring.

    With ``share_prefix`` (default), requests that begin with the same tokens (the three
    StereoSet options, BBQ answers after one context, the two sides of a minimal pair) run
    their common beginning once and reuse its key/value cache; the result is the same within
    float rounding. ``padding_side`` applies to the unshared path (``share_prefix=False``); the
    shared path pads on the right.

    Raises:
        ValueError: an empty text, or a request longer than the model's context (by index).
    """
    encoded = [encode_request(lm.tokenizer, prefix, text) for prefix, text in requests]
    return score_encoded(lm, encoded, batch_size=batch_size, padding_side=padding_side, share_prefix=share_prefix,
                         progress=progress, desc=desc)


@torch.no_grad()
def score_encoded(
    lm: LanguageModel,
    encoded: Sequence[tuple[list[int], int]],
    *,
    batch_size: int = 32,
    padding_side: str = "right",
    share_prefix: bool = True,
    progress: bool = False,
    desc: str = "scoring",
) -> TextScores:
    """Score token sequences ``(ids, begin)``: the summed log-probability of ``ids[begin:]`` given
    ``ids[:begin]`` (``ids[0]`` is the start token). :func:`score_texts` tokenizes and calls this; the
    association measures call it with sequences cut after the span they score."""
    model = lm.model
    limit = context_limit(model)
    for index, (ids, begin) in enumerate(encoded):
        if len(ids) <= begin:
            raise InputError(f"request {index}: the text to score is empty")
        if limit is not None and len(ids) > limit:
            raise InputError(f"request {index}: {len(ids)} tokens exceed the model's context of {limit}")
    pad = lm.pad_id
    if share_prefix and not is_masked_lm(model) and not getattr(model, WHOLE_SEQUENCES, 0):
        return _score_shared(model, encoded, pad, batch_size=batch_size, progress=progress, desc=desc)
    return _score_plain(model, encoded, pad, batch_size=batch_size, padding_side=padding_side,
                        progress=progress, desc=desc)


def _wide(logits: torch.Tensor) -> torch.Tensor:
    """Logits in float32, or float64 when the model computes in float64."""
    return logits.to(torch.promote_types(logits.dtype, torch.float32))


def _token_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p(target) from logits ``[..., vocab]`` and targets ``[...]``, in float32 (or float64)."""
    logits = _wide(logits)
    return logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)


def _lcp(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    k = 0
    while k < n and a[k] == b[k]:
        k += 1
    return k


def share_groups(encoded: Sequence[tuple[list[int], int]]) -> list[tuple[list[int], int]]:
    """Group requests that start with the same tokens: ``[(member indices, shared length)]``.

    Sequences are sorted; a group is a run of neighbours sharing at least as many leading tokens
    as its first two members do (and at least 3), at most 16 members. Every member keeps at least one token
    after the shared part. Singletons get ``shared = len - 1``.
    """
    order = sorted(range(len(encoded)), key=lambda i: encoded[i][0])
    groups: list[tuple[list[int], int]] = []
    k = 0
    while k < len(order):
        first = encoded[order[k]][0]
        members = [order[k]]
        need = _lcp(first, encoded[order[k + 1]][0]) if k + 1 < len(order) else 0
        if need >= 3:
            while k + len(members) < len(order) and len(members) < 16:
                nxt = order[k + len(members)]
                if _lcp(first, encoded[nxt][0]) < need:
                    break
                members.append(nxt)
        shared = min(need if len(members) > 1 else len(first), *(len(encoded[m][0]) - 1 for m in members))
        groups.append((members, shared))
        k += len(members)
    return groups


def _cache_kwarg(model: Any) -> str:
    """Name of the key/value cache argument and output field: ``cache`` where ``forward`` takes it
    (transformers 5.24 deprecates ``past_key_values`` with a FutureWarning, for removal in 5.40),
    else ``past_key_values`` (earlier 5.x releases)."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _score_shared(model: torch.nn.Module, encoded: Sequence[tuple[list[int], int]], pad: int, *,
                  batch_size: int, progress: bool, desc: str) -> TextScores:
    device = input_device(model)
    cache_name = _cache_kwarg(model)
    logprob = np.zeros(len(encoded), dtype=np.float64)
    n_tokens = np.array([len(ids) - begin for ids, begin in encoded], dtype=np.int64)
    def longest_rest(group: tuple[list[int], int]) -> int:
        return max(len(encoded[m][0]) for m in group[0]) - group[1]

    # the continuation pass is the larger one: batch groups of similar continuation length together
    groups = sorted(share_groups(encoded), key=lambda g: (-longest_rest(g), -g[1]))
    batches: list[list[tuple[list[int], int]]] = [[]]
    for group in groups:  # fill prefix batches up to `batch_size` member rows
        if batches[-1] and sum(len(m) for m, _ in batches[-1]) + len(group[0]) > batch_size:
            batches.append([])
        batches[-1].append(group)
    for _, batch in tqdm(shard(batches), desc=desc, disable=not (progress and is_main()), unit="batch"):
        ids, mask = pad_rows([encoded[members[0]][0][:shared] for members, shared in batch], pad)
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        needed = sorted({p for members, shared in batch
                         for p in range(min(max(encoded[m][1], 1) for m in members) - 1, shared)})
        column = {p: c for c, p in enumerate(needed)}
        keep = torch.tensor(needed, dtype=torch.long, device=device)  # may be empty: nothing scored in the prefix
        kwargs = {"logits_to_keep": keep} if accepts_logits_to_keep(model) else {}
        out = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device),
                    use_cache=True, **kwargs)
        logits = out.logits if kwargs else out.logits[:, keep]
        kept_lp = torch.log_softmax(_wide(logits), dim=-1)  # [groups, len(needed), vocab]
        # tokens inside the shared part that a member scores, and each member's first token after it
        rows, conts = [], []
        for row, (members, shared) in enumerate(batch):
            for m in members:
                seq, begin = encoded[m]
                for t in range(max(begin, 1), shared + 1):  # seq[shared] is predicted by the prefix pass too
                    logprob[m] += float(kept_lp[row, column[t - 1], seq[t]])
                if len(seq) - shared > 1:
                    rows.append(row)
                    conts.append((m, shared))
        if not conts:
            continue
        cache = out[cache_name]
        cache.reorder_cache(torch.tensor(rows, device=device))
        cont_width = max(len(encoded[m][0]) - 1 - shared for m, shared in conts)
        # inputs seq[shared:-1] predict seq[shared+1:]
        c_ids, c_mask = pad_rows([encoded[m][0][shared:-1] for m, shared in conts], pad)
        targets, _ = pad_rows([encoded[m][0][shared + 1 :] for m, shared in conts], 0)
        scored = torch.zeros((len(conts), cont_width), dtype=torch.bool)
        for r, (m, shared) in enumerate(conts):
            seq, begin = encoded[m]
            scored[r, max(0, begin - shared - 1) : len(seq) - 1 - shared] = True  # only tokens of the text count
        full_mask = torch.cat([mask[rows], c_mask], dim=1)
        c_pos = mask[rows].sum(dim=1, keepdim=True) + torch.arange(cont_width).unsqueeze(0)
        logits = model(input_ids=c_ids.to(device), attention_mask=full_mask.to(device),
                       position_ids=c_pos.to(device), use_cache=True, **{cache_name: cache}).logits
        token_lp = _token_logprobs(logits, targets.to(device))
        token_lp = torch.where(scored.to(device), token_lp, torch.zeros_like(token_lp))
        sums = token_lp.double().sum(dim=1).cpu().numpy()
        for r, (m, _) in enumerate(conts):
            logprob[m] += sums[r]
    (logprob,) = sum_arrays(logprob)  # each request was scored by one rank, zero elsewhere
    return TextScores(logprob=logprob, n_tokens=n_tokens)


def _score_plain(model: torch.nn.Module, encoded: Sequence[tuple[list[int], int]], pad: int, *, batch_size: int,
                 padding_side: str, progress: bool, desc: str) -> TextScores:
    device = input_device(model)
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i][0]))
    logprob = np.zeros(len(encoded), dtype=np.float64)
    n_tokens = np.zeros(len(encoded), dtype=np.int64)
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    for _, batch in tqdm(shard(batches), desc=desc, disable=not (progress and is_main()), unit="batch"):
        ids, mask = pad_rows([encoded[i][0] for i in batch], pad, side=padding_side)  # [batch, width]
        width = ids.shape[1]
        scored = torch.zeros((len(batch), width), dtype=torch.bool)  # marks target positions (token t)
        for row, i in enumerate(batch):
            seq, begin = encoded[i]
            offset = width - len(seq) if padding_side == "left" else 0
            scored[row, offset + begin : offset + len(seq)] = True
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        keep = torch.nonzero(scored[:, 1:].any(dim=0)).squeeze(1)  # logit columns that predict a scored token
        logits = logits_at(model, ids.to(device), mask.to(device), positions.to(device), keep.to(device))
        targets = ids[:, keep + 1].to(device)  # [batch, len(keep)]
        target_mask = scored[:, keep + 1].to(device)
        token_lp = _token_logprobs(logits, targets)
        token_lp = torch.where(target_mask, token_lp, torch.zeros_like(token_lp))
        sums = token_lp.double().sum(dim=1).cpu().numpy()
        counts = target_mask.sum(dim=1).cpu().numpy()
        for row, i in enumerate(batch):
            logprob[i], n_tokens[i] = sums[row], counts[row]
    logprob, n_tokens = sum_arrays(logprob, n_tokens)
    return TextScores(logprob=logprob, n_tokens=n_tokens)


def is_masked_lm(model: torch.nn.Module) -> bool:
    """True for encoder models scored by pseudo-log-likelihood (``*ForMaskedLM``)."""
    return type(model).__name__.endswith("ForMaskedLM")
