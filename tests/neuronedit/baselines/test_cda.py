"""CDA: swapped texts equal a hand-written list; the fine-tune follows the unlearning budget rules and
is undone exactly by ``restoring``."""

from __future__ import annotations

import torch
from tiny_models import tiny_lm

from neuronedit.baselines import cda, cda_texts, counterfactual_texts
from neuronedit.data.groups import GROUPS, group_of, swap_groups
from neuronedit.edits.temporary import restoring

HAND = [
    ("He gave her book to his Mother.", "gender", "She gave his book to her Father."),
    ("The KING and his sons", "gender", "The QUEEN and her daughters"),
    ("Mr Smith met the actress herself", "gender", "Mrs Smith met the actor himself"),
    ("She saw him at home.", "gender", "He saw her at home."),
    ("The Muslim family went to the mosque", "religion", "The Jewish family went to the synagogue"),
    ("A black neighbor and a white one", "race", "A white neighbor and a asian one"),
    ("Nothing to swap here, whatsoever.", "gender", "Nothing to swap here, whatsoever."),
]


def test_swaps_equal_a_hand_written_list() -> None:
    for text, domain, want in HAND:
        assert swap_groups(text, domain) == want


def test_groups_rotate_and_return() -> None:
    text = "the christian priest read the bible in church"
    n = len(GROUPS["religion"])
    assert swap_groups(text, "religion", n) == text
    assert swap_groups(swap_groups("he saw his wife", "gender"), "gender") == "he saw his wife"
    assert group_of("the man and the woman", "gender") is None
    assert group_of("the men", "gender") == 0 and group_of("the women", "gender") == 1


def test_counterfactual_texts_are_two_sided() -> None:
    assert counterfactual_texts(["the man was lazy", "no group words", "she was home"], "gender") == [
        "the man was lazy", "the woman was lazy", "she was home", "he was home"]
    texts = cda_texts("gender", max_texts=20)
    assert len(texts) == 20
    assert all(group_of(a, "gender") != group_of(b, "gender") for a, b in zip(texts[::2], texts[1::2]))


def test_fine_tune_is_recorded_and_restored_exactly() -> None:
    lm = tiny_lm()
    before = {n: p.detach().clone() for n, p in lm.model.named_parameters()}
    texts = counterfactual_texts(["the man was lazy at work", "he lived in paris", "the man said that he was rich"],
                                 "gender")
    with restoring(lm):
        edit = cda(lm, texts=texts, lr=1e-3, steps=4, batch_size=2, max_retain_ppl_increase=None)
        changed = any(not torch.equal(p, before[n]) for n, p in lm.model.named_parameters())
    assert changed
    assert edit.mode == "unlearn" and edit.provenance["method"] == "cda" and edit.provenance["baseline"] == "cda"
    assert edit.provenance["texts"] == 6 and edit.delta_sha256
    assert all(torch.equal(p, before[n]) for n, p in lm.model.named_parameters())
