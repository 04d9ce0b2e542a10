"""Built-in knowledge probes (neuronedit.data.knowledge): sizes, splits, minimal pairs. No model."""

from __future__ import annotations

from collections import Counter

import pytest

from neuronedit.data import load, probe_pairs
from neuronedit.data.knowledge import (
    ETHNIC_GROUPS,
    GENDERED_NOUNS,
    KNOWLEDGE_DOMAINS,
    RELIGION_TERMS,
    knowledge_pairs,
)

SIZES = {"gender": (280, 340), "race": (150, 250), "religion": (150, 250)}


def _diff_span(more: str, less: str) -> tuple[list[str], list[str]]:
    """The differing words of two sentences after removing their common prefix and suffix."""
    a, b = more.split(), less.split()
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    end = 0
    while end < min(len(a), len(b)) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    return a[start:len(a) - end], b[start:len(b) - end]


def test_domains_exported():
    assert KNOWLEDGE_DOMAINS == ("gender", "race", "religion")


@pytest.mark.parametrize("domain", KNOWLEDGE_DOMAINS)
def test_sizes_ids_and_fields(domain):
    items = knowledge_pairs(domain)
    low, high = SIZES[domain]
    assert low <= len(items) <= high
    assert len({i.id for i in items}) == len(items)
    assert len({i.more for i in items}) == len(items)
    for item in items:
        assert item.bias_type == domain and item.source == f"probes:knowledge-{domain}"
        assert item.id.startswith(f"knowledge-{domain}-") and item.id.endswith(f"-{item.meta['template']}")
        assert item.meta["split"] in ("dev", "test") and item.prefix == ""
    assert probe_pairs(f"knowledge-{domain}") == items


@pytest.mark.parametrize("domain", KNOWLEDGE_DOMAINS)
def test_splits_are_balanced_and_disjoint(domain):
    items = knowledge_pairs(domain)
    dev, test = load(f"probes:knowledge-{domain}", split="dev"), load(f"probes:knowledge-{domain}", split="test")
    assert len(dev) + len(test) == len(items)
    assert abs(len(dev) - len(test)) <= 0.1 * len(items)
    assert dev.name == f"probes-knowledge-{domain}" and dev.split == "dev"
    assert {i.meta["split"] for i in dev} == {"dev"} and {i.meta["split"] for i in test} == {"test"}
    assert not {i.meta["group"] for i in dev} & {i.meta["group"] for i in test}


@pytest.mark.parametrize("domain", KNOWLEDGE_DOMAINS)
def test_pairs_differ_in_one_contiguous_span(domain):
    if domain == "gender":
        terms = {"she", "he"}
    elif domain == "religion":
        terms = set(RELIGION_TERMS)
    else:
        terms = {g for g, _, _ in ETHNIC_GROUPS}
    for item in knowledge_pairs(domain):
        more, less = _diff_span(item.more, item.less)
        assert len(more) == len(less) == 1, item  # one word replaced, nothing else
        assert more[0] in terms and less[0] in terms and more != less, item
        if domain != "gender":
            group, fact = item.meta["group"].split(":", 1)
            assert more[0] == group, item
            # The group term comes first, the fact after it, on both sides.
            assert item.more.index(f"{group} ") < item.more.rindex(fact), item
            assert item.less.index(f"{less[0]} ") < item.less.rindex(fact), item


def test_gender_is_balanced_and_correct():
    items = knowledge_pairs("gender")
    counts = Counter((i.meta["split"], i.meta["gender"]) for i in items)
    assert counts[("dev", "female")] == counts[("dev", "male")] > 0
    assert counts[("test", "female")] == counts[("test", "male")] > 0
    female = {f for f, _ in GENDERED_NOUNS}
    male = {m for _, m in GENDERED_NOUNS}
    for item in items:
        noun = item.meta["group"]
        assert noun in female | male
        assert item.meta["gender"] == ("female" if noun in female else "male")
        pronoun = " she " if item.meta["gender"] == "female" else " he "
        assert pronoun in f" {item.more} ".replace(",", " ").replace(".", " ")
        assert f" {noun} " in f" {item.more} ".replace(",", " ")
    # A noun pair goes wholly to one half: halves share neither noun of a pair.
    split_of_pair = {}
    for item in items:
        assert split_of_pair.setdefault(item.meta["pair"], item.meta["split"]) == item.meta["split"]
    assert len(split_of_pair) == len(GENDERED_NOUNS)


def test_contrast_group_rotates():
    for domain in ("race", "religion"):
        items = knowledge_pairs(domain)
        contrasts = Counter(_diff_span(i.more, i.less)[1][0] for i in items)
        assert len(contrasts) >= 5
        assert max(contrasts.values()) <= 0.4 * len(items)


def test_load_and_unknown_domain():
    test = load("probes:knowledge-religion", split="test")
    assert len(test) > 50 and all(i.meta["split"] == "test" for i in test)
    assert load("probes:knowledge-gender", split="dev")[0].source == "probes:knowledge-gender"
    with pytest.raises(ValueError, match="unknown probe domain 'knowledge-age'.*knowledge-gender, knowledge-race, "
                                         "knowledge-religion"):
        probe_pairs("knowledge-age")
    with pytest.raises(ValueError, match="unknown probe domain 'age'; choose one of gender, race, religion"):
        load("probes:age")
    with pytest.raises(ValueError, match="unknown knowledge domain 'age'"):
        knowledge_pairs("age")
