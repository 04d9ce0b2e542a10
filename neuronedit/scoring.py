"""Batched log-likelihood scoring of texts, optionally conditioned on a prefix.

Each request ``(prefix, text)`` is tokenized as ``[start] + prefix + text`` (pieces tokenized
separately, ``text`` with a leading space when there is a prefix); ``start`` is the tokenizer's
BOS token (EOS if it has none), so the first word of ``text`` is scored too. Only the tokens of
``text`` count. Requests run in length-sorted, padded batches; results do not depend on the
batch size or the padding side (tested against a one-at-a-time scorer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from attributions import LanguageModel

__all__ = [
    "TextScores", "encode_request", "is_masked_lm", "max_positions", "pll_shared_tokens", "score_texts",
    "start_token_id",
]


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


def start_token_id(tokenizer: object) -> int:
    """The token every scored sequence starts with (BOS, else EOS)."""
    for name in ("bos_token_id", "eos_token_id"):
        value = getattr(tokenizer, name, None)
        if value is not None:
            return int(value)
    raise ValueError("the tokenizer has neither a BOS nor an EOS token to start sequences with")


def max_positions(model: torch.nn.Module) -> int | None:
    config = model.config
    for name in ("max_position_embeddings", "n_positions", "n_ctx"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


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
    progress: bool = False,
    desc: str = "scoring",
) -> TextScores:
    """Score ``(prefix, text)`` requests; see the module docstring.

    Raises:
        ValueError: an empty text, or a request longer than the model's context (by index).
    """
    tokenizer, model = lm.tokenizer, lm.model
    encoded = [encode_request(tokenizer, prefix, text) for prefix, text in requests]
    limit = max_positions(model)
    for index, (ids, begin) in enumerate(encoded):
        if len(ids) <= begin:
            raise ValueError(f"request {index}: the text to score is empty")
        if limit is not None and len(ids) > limit:
            raise ValueError(f"request {index}: {len(ids)} tokens exceed the model's context of {limit}")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else start_token_id(tokenizer)
    device = next(model.parameters()).device
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i][0]))
    logprob = np.zeros(len(encoded), dtype=np.float64)
    n_tokens = np.zeros(len(encoded), dtype=np.int64)
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    for batch in tqdm(batches, desc=desc, disable=not progress, unit="batch"):
        width = max(len(encoded[i][0]) for i in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        scored = torch.zeros((len(batch), width), dtype=torch.bool)  # marks target positions (token t)
        for row, i in enumerate(batch):
            seq, begin = encoded[i]
            offset = width - len(seq) if padding_side == "left" else 0
            ids[row, offset : offset + len(seq)] = torch.tensor(seq)
            mask[row, offset : offset + len(seq)] = 1
            scored[row, offset + begin : offset + len(seq)] = True
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        logits = model(
            input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device)
        ).logits[:, :-1]  # [batch, width - 1, vocab]: predicts tokens 1..width-1
        targets = ids[:, 1:].to(device)
        target_mask = scored[:, 1:].to(device)
        logits = logits.float()
        token_lp = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)
        token_lp = torch.where(target_mask, token_lp, torch.zeros_like(token_lp))
        sums = token_lp.double().sum(dim=1).cpu().numpy()
        counts = target_mask.sum(dim=1).cpu().numpy()
        for row, i in enumerate(batch):
            logprob[i], n_tokens[i] = sums[row], counts[row]
    return TextScores(logprob=logprob, n_tokens=n_tokens)


def is_masked_lm(model: torch.nn.Module) -> bool:
    """True for encoder models scored by pseudo-log-likelihood (``*ForMaskedLM``)."""
    return type(model).__name__.endswith("ForMaskedLM")


@torch.no_grad()
def pll_shared_tokens(
    lm: LanguageModel, pairs: Sequence[tuple[str, str]], *, batch_size: int = 32, progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """CrowS-Pairs pseudo-log-likelihood for masked LMs (Nangia et al. 2020).

    For each pair, the tokens both sentences share (aligned with difflib, special tokens
    excluded) are masked one at a time; each sentence's score is the summed log-probability of
    its shared tokens. Only the unmodified tokens are scored, so neither sentence is favoured
    for containing rarer words.

    Returns:
        ``(first, second)``: ``[n_pairs]`` float64 scores of ``pairs[k][0]`` and ``pairs[k][1]``.
    """
    import difflib

    tokenizer, model = lm.tokenizer, lm.model
    if tokenizer.mask_token_id is None:
        raise ValueError("pseudo-log-likelihood needs a tokenizer with a mask token")
    special = set(tokenizer.all_special_ids) - {tokenizer.unk_token_id}
    jobs: list[tuple[int, int, list[int], int]] = []  # (pair, side, ids, masked position)
    for k, (first, second) in enumerate(pairs):
        ids = [tokenizer(first)["input_ids"], tokenizer(second)["input_ids"]]
        matcher = difflib.SequenceMatcher(a=ids[0], b=ids[1], autojunk=False)
        for block in matcher.get_matching_blocks():
            for offset in range(block.size):
                if ids[0][block.a + offset] in special:
                    continue
                jobs.append((k, 0, ids[0], block.a + offset))
                jobs.append((k, 1, ids[1], block.b + offset))
    scores = np.zeros((len(pairs), 2), dtype=np.float64)
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    chunks = [jobs[i : i + batch_size] for i in range(0, len(jobs), batch_size)]
    for chunk in tqdm(chunks, desc="pseudo-log-likelihood", disable=not progress, unit="batch"):
        width = max(len(ids) for _, _, ids, _ in chunk)
        batch = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, (_, _, ids, position) in enumerate(chunk):
            batch[row, : len(ids)] = torch.tensor(ids)
            mask[row, : len(ids)] = 1
            batch[row, position] = tokenizer.mask_token_id
        logits = model(input_ids=batch.to(device), attention_mask=mask.to(device)).logits.float()
        rows = torch.arange(len(chunk))
        positions = torch.tensor([job[3] for job in chunk])
        targets = torch.tensor([job[2][job[3]] for job in chunk])
        picked = torch.log_softmax(logits[rows, positions], dim=-1)[rows, targets].double().cpu().numpy()
        for (k, side, _, _), value in zip(chunk, picked):
            scores[k, side] += value
    return scores[:, 0], scores[:, 1]
