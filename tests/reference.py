"""Independent slow references the fast code is tested against."""

from __future__ import annotations

import torch


@torch.no_grad()
def naive_logprob(model, tokenizer, prefix: str, text: str) -> float:
    """One sequence, no padding, no batching, full log-softmax: sum log p(text tokens | start + prefix)."""
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    head = [start] + (tokenizer(prefix, add_special_tokens=False)["input_ids"] if prefix else [])
    tail = tokenizer((" " + text) if prefix else text, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([head + tail])
    logprobs = torch.log_softmax(model(ids).logits[0].double(), dim=-1)
    return float(sum(logprobs[len(head) + k - 1, tok] for k, tok in enumerate(tail)))


@torch.no_grad()
def naive_pll_equal_length(model, tokenizer, first: str, second: str) -> tuple[float, float]:
    """Masked-LM pseudo-log-likelihood of the positions where two equal-length token sequences agree,
    masking one position per forward pass."""
    a, b = tokenizer(first)["input_ids"], tokenizer(second)["input_ids"]
    assert len(a) == len(b)
    totals = []
    for ids in (a, b):
        total = 0.0
        for pos in range(len(ids)):
            if a[pos] != b[pos]:
                continue
            masked = list(ids)
            masked[pos] = tokenizer.mask_token_id
            logits = model(torch.tensor([masked])).logits[0, pos].double()
            total += float(torch.log_softmax(logits, -1)[ids[pos]])
        totals.append(total)
    return totals[0], totals[1]
