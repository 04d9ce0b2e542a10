"""CrowS-Pairs pseudo-log-likelihood scoring for masked LMs (BERT, RoBERTa)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from attributions import LanguageModel
from attributions.distributed import is_main, shard, sum_arrays
from attributions.errors import InputError
from attributions.forward import input_device, pad_rows

__all__ = ["pll_shared_tokens"]


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
    tokenizer, model = lm.tokenizer, lm.model
    if tokenizer.mask_token_id is None:
        raise InputError("pseudo-log-likelihood needs a tokenizer with a mask token")
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
    device = input_device(model)
    pad = lm.pad_id
    chunks = [jobs[i : i + batch_size] for i in range(0, len(jobs), batch_size)]
    quiet = not (progress and is_main())
    for _, chunk in tqdm(shard(chunks), desc="pseudo-log-likelihood", disable=quiet, unit="batch"):
        batch, mask = pad_rows([ids for _, _, ids, _ in chunk], pad)  # [chunk, width]
        for row, (_, _, _, position) in enumerate(chunk):
            batch[row, position] = tokenizer.mask_token_id
        logits = model(input_ids=batch.to(device), attention_mask=mask.to(device)).logits.float()
        rows = torch.arange(len(chunk))
        positions = torch.tensor([job[3] for job in chunk])
        targets = torch.tensor([job[2][job[3]] for job in chunk])
        picked = torch.log_softmax(logits[rows, positions], dim=-1)[rows, targets].double().cpu().numpy()
        for (k, side, _, _), value in zip(chunk, picked):
            scores[k, side] += value
    (scores,) = sum_arrays(scores)
    return scores[:, 0], scores[:, 1]
