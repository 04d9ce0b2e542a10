"""The development data shipped in the package (neuronedit/data/bundled) and gzip-transparent loaders."""

from __future__ import annotations

import dataclasses
import gzip
import shutil
from collections import Counter
from pathlib import Path

import pytest
from locations import FIXTURES

from neuronedit.data import load, parse_spec
from neuronedit.data.bundled import BUNDLED, BUNDLED_ROOT, bundled_path, verify_bundled
from neuronedit.data.loaders import load_crows, load_stereoset, load_text, load_winobias

FIX = FIXTURES


def _gzip_copy(src: Path, dest: Path) -> Path:
    dest.write_bytes(gzip.compress(src.read_bytes(), compresslevel=9, mtime=0))
    return dest


def _without_source(items):
    return [dataclasses.replace(i, source="") for i in items]


@pytest.fixture(scope="module")
def bundled_stereoset():
    return load("stereoset:bundled")


def test_bundled_files_match_their_checksums():
    verify_bundled()
    assert set(BUNDLED) == {"stereoset", "winobias", "text"}
    assert all(p.exists() and BUNDLED_ROOT in p.parents for p in BUNDLED.values())
    for licence in ("stereoset/LICENSE.md", "winobias/LICENSE", "wikitext2/LICENSE.md", "README.md"):
        assert (BUNDLED_ROOT / licence).is_file()


def test_verify_detects_a_changed_byte_in_a_stored_file(tmp_path):
    root = shutil.copytree(BUNDLED_ROOT, tmp_path / "bundled")
    verify_bundled(root)
    target = root / "winobias" / "male_occupations.txt"
    data = bytearray(target.read_bytes())
    data[0] ^= 1
    target.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="winobias/male_occupations.txt does not match its SHA-256"):
        verify_bundled(root)


def test_verify_checks_the_uncompressed_content_and_completeness(tmp_path):
    root = shutil.copytree(BUNDLED_ROOT, tmp_path / "bundled")
    sums = (root / "SHA256SUMS").read_text()
    gz = root / "winobias" / "pro_stereotyped_type1.txt.dev.gz"
    # Other content in the .gz: the stored-file line catches it ...
    _gzip_copy(root / "winobias" / "male_occupations.txt", gz)
    with pytest.raises(ValueError, match=r"pro_stereotyped_type1\.txt\.dev\.gz does not match"):
        verify_bundled(root)
    # ... and with the .gz line removed, the uncompressed-content line still catches it.
    (root / "SHA256SUMS").write_text(
        "\n".join(line for line in sums.splitlines() if not line.endswith("pro_stereotyped_type1.txt.dev.gz")))
    with pytest.raises(ValueError, match=r"pro_stereotyped_type1\.txt\.dev\.gz \(uncompressed content\) does not"):
        verify_bundled(root)
    shutil.copy(BUNDLED_ROOT / "winobias" / gz.name, gz)
    with pytest.raises(ValueError, match=r"pro_stereotyped_type1\.txt\.dev\.gz not listed"):
        verify_bundled(root)
    (root / "SHA256SUMS").write_text(sums)
    (root / "stereoset" / "LICENSE.md").unlink()
    with pytest.raises(ValueError, match="stereoset/LICENSE.md listed in .* is missing"):
        verify_bundled(root)


def test_bare_kind_and_kind_bundled_are_the_same(bundled_stereoset):
    assert parse_spec("stereoset") == parse_spec("stereoset:bundled") == ("stereoset", "bundled")
    assert parse_spec("winobias") == ("winobias", "bundled") and parse_spec("text") == ("text", "bundled")
    assert load("stereoset") == bundled_stereoset
    assert load("winobias") == load("winobias:bundled")
    assert load("text") == load("text:bundled")


def test_bundled_counts(bundled_stereoset):
    assert len(bundled_stereoset) == 4229
    counts = Counter(i.bias_type for i in bundled_stereoset)
    assert (counts["gender"], counts["race"], counts["religion"]) == (497, 1938, 157)
    assert len(load("stereoset", bias_type="gender")) == 497
    wino = load("winobias")
    assert len(wino) == 792 and {i.bias_type for i in wino} == {"gender"}
    assert bundled_path("winobias").is_dir()


def test_bundled_text_corpus_identity():
    corpus = load("text:bundled")
    assert corpus.id == "wikitext2-valid" and corpus.source == "bundled:wikitext2/valid.txt"
    assert corpus.text.lstrip().startswith("= Homarus gammarus =")


def test_bundled_equals_shared_copies(shared_data, bundled_stereoset):
    shared = load(f"stereoset:{shared_data / 'stereoset' / 'stereoset_dev_flat.jsonl'}")
    assert _without_source(bundled_stereoset) == _without_source(shared)
    wino_shared = load(f"winobias:{shared_data / 'winobias'}")
    assert _without_source(load("winobias")) == _without_source(wino_shared)  # same ids, so the same splits
    assert [i.id for i in load("winobias", split="test")] == [i.id for i in load(
        f"winobias:{shared_data / 'winobias'}", split="test")]
    assert load("text:bundled").text == (shared_data / "wikitext2" / "valid.txt").read_text(encoding="utf-8")


def test_gz_crows_and_text_load_like_the_plain_files(tmp_path):
    crows = FIX / "crows_small.csv"
    assert _without_source(load_crows(_gzip_copy(crows, tmp_path / "crows.csv.gz"))) == _without_source(
        load_crows(crows))
    plain = tmp_path / "corpus.txt"
    plain.write_text("First line , with <unk> .\n\n = Heading = \nüñí line\n", encoding="utf-8")
    gz_corpus, plain_corpus = load_text(_gzip_copy(plain, tmp_path / "corpus.txt.gz")), load_text(plain)
    assert (gz_corpus.text, gz_corpus.id) == (plain_corpus.text, plain_corpus.id) == (plain.read_text("utf-8"),
                                                                                      "corpus.txt")
    assert load(f"text:{tmp_path / 'corpus.txt.gz'}").text == plain_corpus.text


def test_gz_stereoset_nested_and_winobias_folder(tmp_path):
    nested = FIX / "stereoset_nested.json"
    gz_nested = _gzip_copy(nested, tmp_path / "nested.json.gz")
    assert _without_source(load_stereoset(gz_nested)) == _without_source(load_stereoset(nested))
    # A folder holding both plain and .gz copies counts each file once.
    folder = shutil.copytree(BUNDLED_ROOT / "winobias", tmp_path / "wino")
    with gzip.open(folder / "pro_stereotyped_type1.txt.dev.gz", "rb") as src:
        (folder / "pro_stereotyped_type1.txt.dev").write_bytes(src.read())
    with gzip.open(folder / "anti_stereotyped_type1.txt.dev.gz", "rb") as src:
        (folder / "anti_stereotyped_type1.txt.dev").write_bytes(src.read())
    items = load_winobias(folder)
    assert len(items) == 792 and len({i.id for i in items}) == 792
    assert _without_source(items) == _without_source(load("winobias"))


@pytest.mark.parametrize("spec, message", [
    ("bbq:bundled", r"no bundled copy of 'bbq'.*exists for stereoset, winobias, text"),
    ("bbq", r"no bundled copy of 'bbq'.*exists for stereoset, winobias, text"),
    ("crows:bundled", r"no bundled copy of 'crows'.*KIND:bundled"),
    ("nonsense:bundled", r"not KIND:PATH, KIND:bundled or probes:DOMAIN"),
])
def test_bad_specs_say_what_is_accepted(spec, message):
    with pytest.raises(ValueError, match=message):
        load(spec)


def test_missing_path_points_to_the_bundled_copy():
    with pytest.raises(FileNotFoundError, match=r"no such file: nonexistent.*stereoset:bundled"):
        load("stereoset:nonexistent")
    with pytest.raises(ValueError, match="bundled data exists for stereoset, winobias, text"):
        bundled_path("bbq")


def test_provenance_hashes_the_bundled_copies():
    from neuronedit.data.bundled import BUNDLED
    from neuronedit.data.provenance import data_hashes
    from neuronedit.model.cache import file_sha256

    hashes = data_hashes("stereoset", "stereoset:bundled", "probes:gender")
    assert hashes["stereoset"] == hashes["stereoset:bundled"] == file_sha256(BUNDLED["stereoset"])
    assert hashes["probes:gender"] == "built-in"
