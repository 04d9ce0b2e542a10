"""Hostile inputs for the data loaders: folders, binary and non-UTF-8 files, BOMs, wrong JSON types,
malformed CSV rows, and a ``text:`` corpus streamed only as far as ``max_tokens`` needs."""

from __future__ import annotations

import dataclasses
import gzip
import itertools
import json
from pathlib import Path

import pytest
from locations import FIXTURES

from neuronedit.data import DataFormatError, TextCorpus, load
from neuronedit.data.loaders import load_bbq, load_crows, load_stereoset, load_text
from neuronedit.data.neutral import heldout_corpus
from neuronedit.measure.language import token_ids, window_losses
from neuronedit.measure.suites import text_results

FIX = FIXTURES
BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x00\x01" * 64
BBQ_RECORD = json.loads((FIX / "bbq_small.jsonl").read_text().splitlines()[0])
FLAT_RECORD = json.loads((FIX / "stereoset_flat.jsonl").read_text().splitlines()[0])
NESTED = json.loads((FIX / "stereoset_nested.json").read_text())

pytestmark = pytest.mark.tiny_lm(bos=False, name="tiny")  # the module's `tiny_lm` fixture (conftest.py)


def _bpe_tokenizer():
    """A byte-level BPE tokenizer trained on the spot (merges across spaces and newlines, like GPT-2's)."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    sample = (FIX / "text_small.txt").read_text() + "\n\n = Heading = \n\n  two  spaces\r\n"
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator([sample] * 20, vocab_size=400, min_frequency=1, show_progress=False)
    return PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer)


# 1. A folder where a file is expected.
@pytest.mark.parametrize("kind", ["crows", "stereoset", "bbq", "text"])
def test_folder_is_refused(tmp_path, kind):
    with pytest.raises(DataFormatError, match=f"{tmp_path}: is a folder, not a file; give the path of"):
        load(f"{kind}:{tmp_path}")


def test_missing_or_odd_paths_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no such file: .*nope.csv \(check the path"):
        load(f"crows:{tmp_path / 'nope.csv'}")
    with pytest.raises(FileNotFoundError, match=r"no such file: ~no_such_user_x/a.txt \(no user's home folder"):
        load("text:~no_such_user_x/a.txt")
    for kind in ("crows", "text"):
        with pytest.raises(DataFormatError, match=r"a{300}: cannot be opened \(File name too long\); check the path"):
            load(f"{kind}:{tmp_path / ('a' * 300)}")
    with pytest.raises(DataFormatError, match="/dev/null: is not a regular file"):
        load("bbq:/dev/null")


# 2. Binary and non-UTF-8 data.
@pytest.mark.parametrize("kind", ["crows", "stereoset", "bbq", "text"])
def test_binary_file_is_refused_with_its_name(tmp_path, kind):
    bad = tmp_path / f"blob.{kind}"
    bad.write_bytes(BINARY)
    with pytest.raises(DataFormatError, match=rf"blob\.{kind}, line 1: not UTF-8 text .*must be UTF-8"):
        load(f"{kind}:{bad}")


def test_latin1_byte_names_its_line(tmp_path):
    bad = tmp_path / "latin1.csv"
    bad.write_bytes((FIX / "crows_small.csv").read_bytes() + b"9,Caf\xe9 one,Caf\xe9 two,stereo,race,x,a0,x\n")
    message = r"latin1.csv, line 8: not UTF-8 text \(byte 0xe9 at offset \d+ .*must be UTF-8"
    with pytest.raises(DataFormatError, match=message):
        load_crows(bad)
    jsonl = tmp_path / "latin1.jsonl"
    jsonl.write_bytes((json.dumps(FLAT_RECORD) + "\n").encode() * 3 + b'{"target": "caf\xe9"}\n')
    with pytest.raises(DataFormatError, match=r"latin1.jsonl, line 4: not UTF-8 text"):
        load_stereoset(jsonl)
    nested = tmp_path / "latin1.json"
    nested.write_bytes(json.dumps(NESTED, indent=1).encode() + b" " * 5000 + b"\n\xe9\n")
    lines = nested.read_bytes().count(b"\n")
    with pytest.raises(DataFormatError, match=f"latin1.json, line {lines}: not UTF-8 text"):
        load_stereoset(nested)
    wino = tmp_path / "wino"
    wino.mkdir()
    (wino / "pro_stereotyped_type1.txt").write_text("1 [The cook] said [he] was done.\n")
    (wino / "anti_stereotyped_type1.txt").write_bytes(b"1 [The cook] said [sh\xe9] was done.\n")
    with pytest.raises(DataFormatError, match="anti_stereotyped_type1.txt, line 1: not UTF-8 text"):
        load(f"winobias:{wino}")


def test_utf16_and_bad_gzip_are_refused(tmp_path):
    utf16 = tmp_path / "utf16.txt"
    utf16.write_bytes("hello world\n".encode("utf-16-le"))
    with pytest.raises(DataFormatError, match="utf16.txt, line 1: .*NUL.*must be UTF-8"):
        load_text(utf16)
    fake = tmp_path / "fake.csv.gz"
    fake.write_bytes(b"sent_more,sent_less\n")
    with pytest.raises(DataFormatError, match="fake.csv.gz: not a readable gzip file"):
        load_crows(fake)
    hidden = tmp_path / "hidden.csv"
    hidden.write_bytes(gzip.compress((FIX / "crows_small.csv").read_bytes()))
    with pytest.raises(DataFormatError, match="hidden.csv, line 1: not UTF-8 .*gzip-compressed: name it hidden.csv.gz"):
        load_crows(hidden)


# 3. A UTF-8 byte-order mark is accepted.
def test_bom_is_accepted(tmp_path):
    bom = b"\xef\xbb\xbf"
    cases = {"crows.csv": (load_crows, FIX / "crows_small.csv"),
             "flat.jsonl": (load_stereoset, FIX / "stereoset_flat.jsonl"),
             "nested.json": (load_stereoset, FIX / "stereoset_nested.json"),
             "bbq.jsonl": (load_bbq, FIX / "bbq_small.jsonl")}
    for name, (loader, plain) in cases.items():
        (tmp_path / name).write_bytes(bom + plain.read_bytes())
        with_bom, without = loader(tmp_path / name), loader(plain)
        assert [dataclasses.replace(i, source="") for i in with_bom] == [dataclasses.replace(i, source="")
                                                                          for i in without], name
    (tmp_path / "t.txt").write_bytes(bom + b"the cat\n")
    assert load_text(tmp_path / "t.txt").text == "the cat\n"


# 4. Wrong JSON types, caught at load time with the item and field.
def _jsonl(tmp_path: Path, record: object, name: str = "bad.jsonl") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(FLAT_RECORD if "stereo" in name else BBQ_RECORD) + "\n" + json.dumps(record) + "\n")
    return path


@pytest.mark.parametrize("change, message", [
    ({"target": 5}, r"line 2: field 'target' must be a string, not a number \(5\)"),
    ({"stereotype": ["a"]}, "line 2: field 'stereotype' must be a string, not a list"),
    ({"context": {"x": 1}}, "line 2: field 'context' must be a string, not an object"),
])
def test_stereoset_flat_wrong_types(tmp_path, change, message):
    with pytest.raises(DataFormatError, match=message):
        load_stereoset(_jsonl(tmp_path, {**FLAT_RECORD, **change}, "stereo.jsonl"))
    with pytest.raises(DataFormatError, match="line 2: expected a JSON object .* not a list"):
        load_stereoset(_jsonl(tmp_path, [FLAT_RECORD], "stereo.jsonl"))


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["data"].update(intrasentence={"a": 1}), "data.intrasentence must be a list, not an object"),
    (lambda d: d["data"]["intrasentence"].__setitem__(0, ["x"]), r"data.intrasentence\[0\] must be an object"),
    (lambda d: d["data"]["intrasentence"][0].update(target=7), r"data.intrasentence\[0\].target must be a string"),
    (lambda d: d["data"]["intrasentence"][0].update(sentences="x"),
     r"data.intrasentence\[0\].sentences must be a list"),
    (lambda d: d["data"]["intrasentence"][1]["sentences"][0].update(gold_label=1),
     r"data.intrasentence\[1\].sentences\[0\].gold_label must be a string, not a number"),
    (lambda d: d["data"]["intrasentence"][1]["sentences"].__setitem__(2, "s"),
     r"data.intrasentence\[1\].sentences\[2\] must be an object"),
    (lambda d: d.update(data=[1]), "expected StereoSet JSON: an object with a 'data' object"),
    (lambda d: d["data"]["intrasentence"][0].pop("context"),
     r"data.intrasentence\[0\]: missing or empty field 'context'"),
])
def test_stereoset_nested_wrong_types(tmp_path, edit, message):
    document = json.loads(json.dumps(NESTED))
    edit(document)
    (tmp_path / "dev.json").write_text(json.dumps(document, indent=1))
    with pytest.raises(DataFormatError, match=message):
        load_stereoset(tmp_path / "dev.json")


@pytest.mark.parametrize("change, message", [
    ({"label": 7}, "line 2: label must be 0, 1 or 2 .* not 7"),
    ({"label": True}, "line 2: field 'label' must be a whole number, not true/false"),
    ({"label": "1"}, "line 2: field 'label' must be a whole number, not a string"),
    ({"label": 1.5}, "line 2: field 'label' must be a whole number, not a number"),
    ({"answer_info": ["a"]}, "line 2: field 'answer_info' must be an object, not a list"),
    ({"answer_info": {"ans0": [3], "ans1": ["x", "unknown"], "ans2": ["y"]}},
     "line 2: answer_info.ans0 must be a non-empty list of strings"),
    ({"additional_metadata": []}, "line 2: field 'additional_metadata' must be an object, not a list"),
    ({"additional_metadata": {"stereotyped_groups": "Muslim"}},
     "line 2: additional_metadata.stereotyped_groups must be a list of strings"),
    ({"ans1": 5}, "line 2: field 'ans1' must be a string, not a number"),
    ({"question_polarity": "maybe"}, "line 2: question_polarity is 'maybe', not neg/nonneg"),
    ({"category": None}, "line 2: missing or empty field 'category'"),
])
def test_bbq_wrong_types(tmp_path, change, message):
    with pytest.raises(DataFormatError, match=message):
        load_bbq(_jsonl(tmp_path, {**BBQ_RECORD, **change}))


def test_json_hostile_values(tmp_path):
    deep = tmp_path / "deep.jsonl"
    deep.write_text("[" * 100_000 + "\n")
    with pytest.raises(DataFormatError, match="deep.jsonl, line 1: not valid JSON"):
        load_bbq(deep)
    huge = tmp_path / "huge.jsonl"
    huge.write_text('{"label": ' + "1" * 5000 + "}\n")
    with pytest.raises(DataFormatError, match="huge.jsonl, line 1: not valid JSON"):
        load_bbq(huge)


# 5. Malformed CrowS rows.
@pytest.mark.parametrize("row, message", [
    ("a,b,stereo,gender,extra", "line 3: 5 fields, but the header has 4; quote fields that contain commas"),
    ("a,b,stereo", "line 3: 3 fields, but the header has 4"),
    ('"a' + "x" * 200_000 + ',b,stereo,gender', "line 3: malformed CSV"),
])
def test_crows_malformed_rows(tmp_path, row, message):
    bad = tmp_path / "rows.csv"
    bad.write_text(f"sent_more,sent_less,stereo_antistereo,bias_type\nc,d,stereo,race\n{row}\n")
    with pytest.raises(DataFormatError, match=f"rows.csv, {message}"):
        load_crows(bad)


def test_crows_empty_file(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataFormatError, match="empty.csv: the file is empty; expected a CrowS-Pairs CSV"):
        load_crows(tmp_path / "empty.csv")


# 6. text: streaming bounded by max_tokens.
def test_text_loads_lazily_and_streams_only_a_prefix(tmp_path, tiny_lm):
    big = tmp_path / "big.txt"
    big.write_bytes(b"the cat sat on the mat .\n" * 200_000 + b"caf\xe9\n")  # 5 MB, bad byte at the end
    corpus = load(f"text:{big}")  # checks the start only
    result = text_results(tiny_lm, corpus, {"window": 16, "stride": 8, "max_tokens": 40, "progress": False})
    assert result[0].extra["tokens"] == 39
    with pytest.raises(DataFormatError, match=r"big.txt, line 200001: not UTF-8 text \(byte 0xe9"):
        _ = corpus.text  # reading the text reaches the bad byte


def test_streamed_ids_equal_whole_text_ids():
    tok = _bpe_tokenizer()
    text = (FIX / "text_small.txt").read_text() * 40 + "\n\n = Heading = \n\n  two  spaces\n" * 30
    whole = tok(text, add_special_tokens=False)["input_ids"]
    for size, limit in [(7, 1), (7, 50), (13, 333), (1000, 777), (50, len(whole)), (50, len(whole) + 5)]:
        pieces = (text[i:i + size] for i in range(0, len(text), size))
        assert token_ids(tok, pieces, limit).tolist() == whole[:limit], (size, limit)
    endless = itertools.repeat("the cat sat .\n\n")
    assert token_ids(tok, endless, 25).tolist() == tok("the cat sat .\n\n" * 20)["input_ids"][:25]


def test_file_corpus_scores_like_the_in_memory_text(tmp_path, tiny_lm):
    opts = {"window": 16, "stride": 8, "progress": False}
    for repeats, limits in [(3000, [30]), (8, [None, 10_000])]:  # streamed prefix; whole file
        text = " ".join(["the nurse said that she was at work in the city"] * repeats)
        (tmp_path / "c.txt").write_text(text)
        corpus = load_text(tmp_path / "c.txt")
        memory = TextCorpus(text=text, id="c.txt", source=str(tmp_path / "c.txt"))
        for limit in limits:
            streamed, held = (text_results(tiny_lm, c, {**opts, "max_tokens": limit}) for c in (corpus, memory))
            assert all((streamed[0].data[k] == held[0].data[k]).all() for k in ("nll", "correct", "count"))
            assert streamed[0].item_ids == held[0].item_ids and streamed[0].extra == held[0].extra
        assert corpus == memory and corpus.text == text


@pytest.mark.parametrize("limit", [-5, 0, 2.5, True])
def test_bad_max_tokens_are_refused(tiny_lm, limit):
    with pytest.raises(ValueError, match=f"max_tokens must be a positive whole number of tokens.*not {limit!r}"):
        window_losses(tiny_lm, "the cat sat on the mat", max_tokens=limit)
    with pytest.raises(ValueError, match="max_tokens must be a positive whole number"):
        text_results(tiny_lm, heldout_corpus(), {"max_tokens": limit})  # one text per line: no limit, still checked
