"""Objectives encode examples into scored rows: unscorable inputs reported by index, spans that pick tokens."""

from __future__ import annotations

import pytest
from tiny_models import tiny_lm

from attributions import ForgetLoss, LanguageModeling, PairPreference, TokenContrast, attribute

PROMPTS = ["the nurse said that", "the engineer said", "the doctor said that she was at work and"]
PAIRS = [("the nurse said that she was home", "the nurse said that he was home"),
         ("he is at work", "she is at work"), ("the man was lazy", "the woman was lazy")]


def test_unscorable_inputs_are_reported_by_index():
    lm = tiny_lm("llama")
    encoded = PairPreference([("he", "he"), ("", "she"), PAIRS[0]]).encode(lm.tokenizer, max_len=64)
    assert encoded.kept == [2]
    assert encoded.skipped == [(0, "the two sentences tokenize identically"), (1, "empty sentence")]
    long = " ".join(["the"] * 100)
    assert ForgetLoss([long, "he was"]).encode(lm.tokenizer, max_len=64).skipped[0][1].startswith("longer than")
    with pytest.raises(ValueError, match="no example can be scored"):
        LanguageModeling([""]).encode(lm.tokenizer)
    with pytest.raises(ValueError, match="single tokens"):
        TokenContrast(PROMPTS, " he she", " she").encode(lm.tokenizer)
    scores = attribute(lm, PairPreference([("he", "he"), PAIRS[0]]), "activation")
    assert scores.meta["n_examples"] == 1 and scores.meta["skipped"] == [[0, "the two sentences tokenize identically"]]


def test_forget_spans_and_diff_span_select_tokens():
    lm = tiny_lm("llama")
    text = "the nurse said that she was home"
    rows = ForgetLoss([text], spans=[[(20, 23)]]).encode(lm.tokenizer).rows
    assert [lm.tokenizer.convert_ids_to_tokens(t) for _, t, _ in rows[0].terms] == ["she"]
    pair = PairPreference([PAIRS[0]], span="diff").encode(lm.tokenizer).rows
    assert [[lm.tokenizer.convert_ids_to_tokens(t) for _, t, _ in r.terms] for r in pair] == [["she"], ["he"]]
    assert [w for _, _, w in pair[1].terms] == [-1.0]
    tail = PairPreference([("the black man was poor", "the white man was poor")], span="tail").encode(lm.tokenizer)
    assert [[lm.tokenizer.convert_ids_to_tokens(t) for _, t, _ in r.terms] for r in tail.rows] == [
        ["man", "was", "poor"], ["man", "was", "poor"]]  # what follows the group term, not the term itself
    skipped = PairPreference([("the man was black", "the man was white"), PAIRS[0]], span="tail").encode(lm.tokenizer)
    assert skipped.skipped == [(0, "the two sentences share no tokens after the difference")]
