"""The batched scorer against the one-at-a-time reference, batch sizes and padding sides."""

from __future__ import annotations

import numpy as np
import pytest
import tiny_models
from reference import naive_logprob
from tiny_models import tiny_tokenizer

from neuronedit.measure.scoring import score_texts

REQUESTS = [
    ("", "the nurse said that she was home"),
    ("", "he is"),
    ("the doctor said", "he was at work"),
    ("", "people work in the city of paris and france"),
    ("a man", "she"),
    ("", "they"),
    ("", "the nurse said that he was home"),
    ("the doctor said", "he was at home"),
    ("the doctor said", "she was at work"),
    ("the doctor said that", "he"),
    ("", "the nurse said that she was home"),
    ("the doctor said he", "she was"),  # shares a beginning with #9 that ends inside both prefixes
]
N_TOKENS = [7, 2, 4, 9, 1, 1, 7, 4, 4, 1, 7, 2]


@pytest.fixture(scope="module", params=["llama", "gpt2", "opt"])
def tiny_lm(request):
    """Overrides conftest's `tiny_lm`: every test that uses it runs on three architectures."""
    return tiny_models.tiny_lm(request.param, name=request.param)


@pytest.mark.parametrize("share", [True, False])
@pytest.mark.parametrize("batch_size,side", [(1, "right"), (2, "right"), (4, "left"), (64, "left"), (64, "right")])
def test_batched_equals_naive(tiny_lm, batch_size, side, share):
    scores = score_texts(tiny_lm, REQUESTS, batch_size=batch_size, padding_side=side, share_prefix=share)
    expected = [naive_logprob(tiny_lm.model, tiny_lm.tokenizer, p, t) for p, t in REQUESTS]
    np.testing.assert_allclose(scores.logprob, expected, atol=1e-4, rtol=0)
    assert scores.n_tokens.tolist() == N_TOKENS


def test_share_groups_cover_every_request_once():
    from neuronedit.measure.scoring import encode_request, share_groups

    tok = tiny_tokenizer()
    tok.bos_token = "[EOS]"
    encoded = [encode_request(tok, p, t) for p, t in REQUESTS]
    groups = share_groups(encoded)
    members = sorted(m for group, _ in groups for m in group)
    assert members == list(range(len(REQUESTS)))
    for group, shared in groups:
        first = encoded[group[0]][0]
        assert all(encoded[m][0][:shared] == first[:shared] and len(encoded[m][0]) > shared for m in group)
    assert any(len(group) >= 2 and shared >= 4 for group, shared in groups), "shared beginnings are found"


def test_empty_and_too_long_requests_are_named(tiny_lm):
    with pytest.raises(ValueError, match="request 1: the text to score is empty"):
        score_texts(tiny_lm, [("", "he"), ("", "")])
    too_long = " ".join(["the"] * 3000)
    with pytest.raises(ValueError, match="request 0: .* exceed the model's context"):
        score_texts(tiny_lm, [("", too_long)])


@pytest.mark.parametrize("arch", ["bert", "roberta"])
def test_masked_lm_pll_equals_naive_loop(arch):
    from reference import naive_pll_equal_length

    from neuronedit.measure.scoring import pll_shared_tokens

    lm = tiny_models.tiny_lm(arch, bos=False, name=arch)
    pairs = [("the nurse said that she was home", "the nurse said that he was home"),
             ("the black man was lazy", "the white man was lazy"), ("she", "he")]
    first, second = pll_shared_tokens(lm, pairs, batch_size=4)
    for k, (a, b) in enumerate(pairs):
        ref = naive_pll_equal_length(lm.model, lm.tokenizer, a, b)
        assert first[k] == pytest.approx(ref[0], abs=1e-4) and second[k] == pytest.approx(ref[1], abs=1e-4)
    assert first[2] == second[2] == 0.0  # nothing shared, nothing scored


def test_evaluate_uses_pll_for_masked_lms():
    from neuronedit.measure.evaluation import evaluate

    lm = tiny_models.tiny_lm("bert", bos=False, name="bert")
    out = evaluate(lm, ["probes:gender"], n_boot=20, progress=False).to_dict()
    assert out["probes-gender"]["gender"]["n"] == 300


def test_group_whose_shared_part_ends_inside_every_prefix(tiny_lm):
    requests = [("the doctor said that", "he"), ("the doctor said he", "she was")]
    scores = score_texts(tiny_lm, requests)
    expected = [naive_logprob(tiny_lm.model, tiny_lm.tokenizer, p, t) for p, t in requests]
    np.testing.assert_allclose(scores.logprob, expected, atol=1e-4, rtol=0)
