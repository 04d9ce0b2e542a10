"""Self-Debias: scores under the edit equal a hand computation from separate plain and prefixed runs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from tiny_models import tiny_lm

from neuronedit.baselines import debias_prefix, rescale, self_debiased
from neuronedit.measure.scoring import WHOLE_SEQUENCES, encode_request, score_texts

REQUESTS = [("the nurse said that", "she was home"), ("", "the man was lazy"), ("the doctor said", "he was at work")]


def _hand_logprob(lm, prefixes: list[list[int]], prefix: str, text: str, decay: float, epsilon: float) -> float:
    """Sum over the text's tokens of log p~, from one-at-a-time forward passes and plain Python arithmetic."""
    ids, begin = encode_request(lm.tokenizer, prefix, text)
    with torch.no_grad():
        plain = torch.softmax(lm.model(input_ids=torch.tensor([ids])).logits[0].double(), -1)
        runs = [lm.model(input_ids=torch.tensor([ids[:1] + p + ids[1:]])).logits[0, len(p):] for p in prefixes]
        biased = [torch.softmax(r.double(), -1) for r in runs]
    total = 0.0
    for t in range(begin, len(ids)):
        p = plain[t - 1].tolist()
        most = [max(b[t - 1][w].item() for b in biased) for w in range(len(p))]
        alpha = [1.0 if p[w] >= most[w] else max(math.exp(decay * (p[w] - most[w])), epsilon) for w in range(len(p))]
        norm = sum(a * q for a, q in zip(alpha, p))
        total += math.log(alpha[ids[t]] * p[ids[t]] / norm)
    return total


@pytest.mark.parametrize("domains", [["gender"], ["gender", "religion"]])
def test_scores_equal_hand_computation(domains: list[str]) -> None:
    lm = tiny_lm()
    prefixes = [lm.tokenizer(debias_prefix(d) + "\n", add_special_tokens=False)["input_ids"] for d in domains]
    with self_debiased(lm, domains, decay=50.0, epsilon=0.01):
        got = score_texts(lm, REQUESTS, batch_size=2).logprob
        assert getattr(lm.model, WHOLE_SEQUENCES)
    want = [_hand_logprob(lm, prefixes, p, t, 50.0, 0.01) for p, t in REQUESTS]
    assert got == pytest.approx(want, abs=1e-4)
    plain = score_texts(lm, REQUESTS).logprob
    assert abs(plain - got).max() > 1e-3  # the rescaling changed something: the check bites


def test_left_padding_and_batch_size_give_the_same_scores() -> None:
    lm = tiny_lm()
    with self_debiased(lm):
        right = score_texts(lm, REQUESTS, batch_size=3, share_prefix=False).logprob
        left = score_texts(lm, REQUESTS, batch_size=3, share_prefix=False, padding_side="left").logprob
        single = score_texts(lm, REQUESTS, batch_size=1).logprob
    assert left == pytest.approx(right, abs=1e-4)
    assert single == pytest.approx(right, abs=1e-4)


def test_rescale_leaves_a_distribution_no_prefix_raises_unchanged() -> None:
    logits = torch.randn(4, 11, dtype=torch.float64)
    assert torch.allclose(rescale(logits, [logits - 5.0]), torch.log_softmax(logits, -1))  # prefixed = plain
    far = torch.full((4, 11), -1e4, dtype=torch.float64)
    far[:, 0] = 0.0  # a prefixed run certain of token 0: far below epsilon's floor, token 0 gets factor 0.01
    out = rescale(logits, [far])
    p = torch.softmax(logits, -1)
    factor = torch.ones_like(p)
    factor[:, 0] = torch.clamp(torch.exp(50 * (p[:, 0] - 1.0)), min=0.01)
    assert torch.allclose(out, torch.log(factor * p / (factor * p).sum(-1, keepdim=True)))


def test_restored_after_exception_and_masked_lm_refused() -> None:
    lm = tiny_lm()
    before = score_texts(lm, REQUESTS).logprob
    with pytest.raises(KeyError), self_debiased(lm):
        raise KeyError("boom")
    assert not hasattr(lm.model, WHOLE_SEQUENCES)
    assert not lm.model._forward_hooks and not lm.model._forward_hooks_with_kwargs
    assert (score_texts(lm, REQUESTS).logprob == before).all()
    with pytest.raises(ValueError, match="causal"), self_debiased(tiny_lm("bert")):
        pass


def test_input_without_start_token_gets_the_prefix_in_front() -> None:
    """A perplexity window starts mid-text: the prefix goes in front, logits align from its end on."""
    lm = tiny_lm()
    ids = lm.tokenizer("the nurse said that she was home", add_special_tokens=False)["input_ids"]
    prefix = lm.tokenizer(debias_prefix("gender") + "\n", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        plain = lm.model(input_ids=torch.tensor([ids])).logits[0]
        prefixed = lm.model(input_ids=torch.tensor([prefix + ids])).logits[0, len(prefix):]
        with self_debiased(lm):
            got = lm.model(input_ids=torch.tensor([ids])).logits[0]
    assert torch.allclose(got, rescale(plain, [prefixed]), atol=1e-5)


def test_context_left_for_the_prefix_and_nested_blocks() -> None:
    from neuronedit.measure.language import window_losses
    from neuronedit.measure.scoring import score_encoded

    lm = tiny_lm("gpt2")  # 64 positions
    start = lm.tokenizer.eos_token_id
    long = [([start] + [5] * 63, 1)]
    with self_debiased(lm) as edited:
        width = getattr(lm.model, WHOLE_SEQUENCES)
        with pytest.raises(ValueError, match="exceed the model's context"):
            score_encoded(edited, long)
        losses = window_losses(edited, " ".join(["the nurse said that she was home"] * 20), window=64, stride=32)
        assert np.isfinite(losses["nll"]).all()
        with self_debiased(lm, ["race"]):
            assert getattr(lm.model, WHOLE_SEQUENCES) > width
            score_encoded(edited, [([start, 5, 6, 7], 1)])
        assert getattr(lm.model, WHOLE_SEQUENCES) == width  # the inner block restored the outer's flag
    assert not hasattr(lm.model, WHOLE_SEQUENCES)
