"""Every text reader is capped: an over-long line or an over-large file read whole is refused with the
file, the line and the fix, without being loaded (small caps are patched in: nothing big is allocated)."""

from __future__ import annotations

from pathlib import Path
from typing import IO

import pytest

from neuronedit.data import TextCorpus, load, reading
from neuronedit.data.loaders import load_crows, load_text
from neuronedit.data.reading import DataFormatError, jsonl_records


@pytest.fixture
def small_caps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reading, "MAX_LINE_CHARS", 100)
    monkeypatch.setattr(reading, "MAX_TEXT_CHARS", 20_000)  # above the 16k characters load_text looks at


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_line_over_the_cap_is_refused_with_file_and_line(tmp_path: Path, small_caps: None) -> None:
    path = _write(tmp_path / "prompts.txt", "the nurse said\n" + "x" * 150 + "\nthe end\n")
    corpus = load(f"text:{path}")
    assert isinstance(corpus, TextCorpus)
    with pytest.raises(DataFormatError, match=r"prompts.txt, line 2: the line is longer than 100 characters"):
        corpus.lines()
    assert corpus.lines(1) == ["the nurse said"]  # a reader that needs only the start stops before line 2


def test_lines_read_only_as_far_as_needed(tmp_path: Path, small_caps: None, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "big.txt", "first line\n" + "y" * 50_000)  # one huge line, as a 300 MB one-liner
    read: list[int] = []
    original = reading.open_text

    class Counting:
        """A text handle that counts the characters its ``readline`` returns."""

        def __init__(self, handle: IO[str]) -> None:
            self.handle = handle

        def readline(self, size: int = -1) -> str:
            text = self.handle.readline(size)
            read.append(len(text))
            return text

        def __enter__(self) -> Counting:
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()

    def counting(path: str | Path, newline: str | None = None) -> Counting:
        return Counting(original(path, newline))

    corpus = load_text(path)
    monkeypatch.setattr(reading, "open_text", counting)
    with pytest.raises(DataFormatError, match="big.txt, line 2: the line is longer than 100"):
        corpus.lines()
    assert sum(read) <= len("first line\n") + 101  # the long line was not read whole


def test_same_lines_as_before_for_normal_text(tmp_path: Path) -> None:
    text = "a b\r\n\n  \nc\rd\x0ce\u2028f\nlast"
    path = tmp_path / "t.txt"
    path.write_bytes(text.encode())
    assert load_text(path).lines() == [line for line in path.read_text().splitlines() if line.strip()]


def test_a_text_over_the_cap_is_not_read_whole(tmp_path: Path, small_caps: None) -> None:
    path = _write(tmp_path / "corpus.txt", ("word " * 20 + "\n") * 300)  # 30,300 characters
    corpus = load_text(path)
    assert next(corpus.chunks(100))  # streaming the start is fine
    with pytest.raises(DataFormatError, match="corpus.txt, line .*: holds more than 20,000 characters.*--max-tokens"):
        corpus.text  # noqa: B018
    with pytest.raises(DataFormatError, match="corpus.txt, line .*: holds more than 20,000 characters.*split"):
        corpus.lines()  # short lines, but too many of them


def test_jsonl_and_csv_lines_are_capped(tmp_path: Path, small_caps: None) -> None:
    jsonl = _write(tmp_path / "r.jsonl", '{"a": 1}\n{"a": "' + "z" * 200 + '"}\n')
    with pytest.raises(DataFormatError, match="r.jsonl, line 2: the line is longer than 100"):
        list(jsonl_records(jsonl))
    crows = _write(tmp_path / "c.csv", "sent_more,sent_less,stereo_antistereo,bias_type\n"
                                       f"{'m' * 120},less,stereo,gender\n")
    with pytest.raises(DataFormatError, match="c.csv, line 2: the line is longer than 100"):
        load_crows(crows)


def test_a_json_document_over_the_cap_is_refused(tmp_path: Path, small_caps: None) -> None:
    path = _write(tmp_path / "stereoset.json", '{"data": {"intrasentence": []}, "pad": "' + "p" * 30_000 + '"}')
    with pytest.raises(DataFormatError, match="stereoset.json: holds more than 20,000 characters"):
        load(f"stereoset:{path}")
