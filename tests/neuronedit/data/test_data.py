"""Loaders on the project's own fixtures (and on ../shared/data when present), probes, splits."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from locations import FIXTURES

from neuronedit.data import DataFormatError, load, probe_pairs
from neuronedit.data.loaders import load_bbq, load_crows, load_stereoset, load_winobias

FIX = FIXTURES


def test_crows_loads_and_canonicalises_bias_types():
    items = load_crows(FIX / "crows_small.csv")
    assert len(items) == 6
    assert Counter(i.bias_type for i in items) == {"gender": 2, "race": 2, "socioeconomic": 1, "religion": 1}
    assert items[0].more.startswith("The nurse said that she") and items[0].less.endswith("he was tired.")
    assert items[4].meta["direction"] == "antistereo"


def test_crows_malformed(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("sent_more,sent_less,bias_type\na,b,gender\n")
    with pytest.raises(DataFormatError, match=r"bad.csv, line 1: header lacks column\(s\) \['stereo_antistereo'\]"):
        load_crows(bad)
    bad.write_text("sent_more,sent_less,stereo_antistereo,bias_type\na,b,stereo,gender\nc,d,sideways,race\n")
    with pytest.raises(DataFormatError, match="bad.csv, line 3: stereo_antistereo is 'sideways'"):
        load_crows(bad)


def test_stereoset_nested_and_flat_agree():
    flat = sorted(load_stereoset(FIX / "stereoset_flat.jsonl"), key=lambda i: i.target)
    nested = sorted(load_stereoset(FIX / "stereoset_nested.json"), key=lambda i: i.target)
    strip = [(i.kind, i.target, i.bias_type, i.prefix, i.stereotype, i.anti_stereotype, i.unrelated) for i in flat]
    assert strip == [(i.kind, i.target, i.bias_type, i.prefix, i.stereotype, i.anti_stereotype, i.unrelated)
                     for i in nested]
    inter = next(i for i in flat if i.kind == "intersentence")
    assert inter.prefix == "The engineer came to work." and inter.more == "He fixed the machine."
    intra = next(i for i in flat if i.target == "nurse")
    assert intra.prefix == "" and intra.less == "The nurse was rough."


def test_stereoset_malformed(tmp_path):
    bad = tmp_path / "s.jsonl"
    lines = (FIX / "stereoset_flat.jsonl").read_text().splitlines()
    bad.write_text(lines[0] + "\n" + lines[1].replace('"unrelated"', '"unrelatd"') + "\n")
    with pytest.raises(DataFormatError, match="s.jsonl, line 2: missing or empty field 'unrelated'"):
        load_stereoset(bad)
    bad.write_text(lines[0] + "\n{not json\n")
    with pytest.raises(DataFormatError, match="line 2: not valid JSON"):
        load_stereoset(bad)
    nested = json.loads((FIX / "stereoset_nested.json").read_text())
    del nested["data"]["intrasentence"][1]["sentences"][2]
    bad_nested = tmp_path / "dev.json"
    bad_nested.write_text(json.dumps(nested))
    with pytest.raises(DataFormatError, match=r"data.intrasentence\[1\]: no sentence with gold_label \['unrelated'\]"):
        load_stereoset(bad_nested)


def test_winobias_pairs_file_and_directory():
    items = load_winobias(FIX / "winobias")
    assert len(items) == 3 and all(i.bias_type == "gender" for i in items)
    assert items[0].more == "The mechanic called the nurse because he was late."
    assert items[0].less == "The mechanic called the nurse because she was late."
    assert items[2].more.endswith("he got his pay.")
    assert load_winobias(FIX / "winobias" / "anti_stereotyped_type9.txt.fixture") == items


def test_winobias_malformed(tmp_path):
    (tmp_path / "pro_stereotyped_type9.txt.x").write_text("1 [The cook] said [he] was done.\n2 no brackets\n")
    (tmp_path / "anti_stereotyped_type9.txt.x").write_text("1 [The cook] said [she] was done.\n")
    with pytest.raises(DataFormatError, match=r"pro_stereotyped_type9.txt.x, line 2: expected 'N sentence'"):
        load_winobias(tmp_path)
    (tmp_path / "pro_stereotyped_type9.txt.x").write_text("1 [The cook] said [he] was done.\n")
    (tmp_path / "anti_stereotyped_type9.txt.x").write_text("2 [The cook] said [she] was done.\n")
    with pytest.raises(DataFormatError, match="sentence numbers do not match"):
        load_winobias(tmp_path)


def test_bbq_biased_answer():
    items = load_bbq(FIX / "bbq_small.jsonl")
    assert [(i.ambiguous, i.negative, i.label, i.biased, i.unknown) for i in items] == [
        (True, True, 1, 2, 1),  # negative question: the stereotyped group (Muslim, ans2) is the biased answer
        (True, False, 1, 0, 1),  # non-negative: the other group is
        (False, True, 0, 2, 1),
        (False, False, 1, 2, 0),
    ]
    assert {i.bias_type for i in items} == {"religion"}


def test_bbq_malformed(tmp_path):
    record = json.loads((FIX / "bbq_small.jsonl").read_text().splitlines()[0])
    record["answer_info"]["ans1"] = ["Not known", "Hindu"]
    bad = tmp_path / "b.jsonl"
    bad.write_text(json.dumps(record) + "\n")
    with pytest.raises(DataFormatError, match="b.jsonl, line 1: answer_info must tag exactly one answer 'unknown'"):
        load_bbq(bad)


def test_text_and_empty_text(tmp_path):
    assert "paris" in load("text:" + str(FIX / "text_small.txt")).text
    (tmp_path / "empty.txt").write_text("  \n")
    with pytest.raises(DataFormatError, match="empty.txt: the file is empty"):
        load(f"text:{tmp_path / 'empty.txt'}")


@pytest.mark.parametrize("domain", ["gender", "race", "religion"])
def test_probes_are_minimal_pairs_split_by_word(domain):
    items = probe_pairs(domain)
    assert len(items) >= 200
    assert len({i.more for i in items}) == len(items)
    for item in items:
        more, less = item.more.split(), item.less.split()
        assert len(more) == len(less) and sum(a != b for a, b in zip(more, less)) == 1, item
    dev, test = load(f"probes:{domain}", split="dev"), load(f"probes:{domain}", split="test")
    assert len(dev) + len(test) == len(items) and min(len(dev), len(test)) >= 100
    assert not {i.meta["group"] for i in dev} & {i.meta["group"] for i in test}


def test_load_specs_filters_and_errors():
    with pytest.raises(ValueError, match="not KIND:PATH.*probes"):
        load("nonsense")
    with pytest.raises(ValueError, match="unknown probe domain 'age'"):
        load("probes:age")
    with pytest.raises(FileNotFoundError, match="no such file"):
        load("crows:/no/such.csv")
    crows = load(f"crows:{FIX / 'crows_small.csv'}", bias_type="race-color")
    assert len(crows) == 2 and crows.name == "crows"
    with pytest.raises(ValueError, match="no items of bias type 'age'; it has gender, race"):
        load(f"crows:{FIX / 'crows_small.csv'}", bias_type="age")


def test_shared_data_loads_and_splits_by_target(shared_data):
    stereo = load(f"stereoset:{shared_data / 'stereoset' / 'stereoset_dev_flat.jsonl'}")
    assert len(stereo) == 4229
    assert Counter(i.bias_type for i in stereo) == {"race": 1938, "profession": 1637, "gender": 497, "religion": 157}
    dev = load(stereo.spec, bias_type="gender", split="dev")
    test = load(stereo.spec, bias_type="gender", split="test")
    assert len(dev) + len(test) == 497 and min(len(dev), len(test)) > 150
    assert not {i.target.lower() for i in dev} & {i.target.lower() for i in test}
    assert len(load(f"winobias:{shared_data / 'winobias'}")) == 792
    assert len(load(f"bbq:{shared_data / 'bbq' / 'Religion.jsonl'}")) == 1200


def test_dataset_slices_keep_their_kind():
    probes = load("probes:race", split="test")
    part = probes[:10]
    assert len(part) == 10 and part.name == "probes-race" and part.split == "test"
    assert part[0] == probes[0]
