"""Reading data files safely: every failure becomes a :class:`DataFormatError` (or a
``FileNotFoundError``) naming the file, the line where there is one, and what to do.

Files are UTF-8 text (a leading byte-order mark is dropped), gzip-compressed when the name ends in
``.gz``; :func:`text_chunks` streams a file in pieces so a caller can stop early.

Every reader is capped, so that no input makes it hold more than a bounded amount of text: a line
of a line-by-line file (prompts, forget, retain and means sets, JSONL, CSV, WinoBias) holds at most
:data:`MAX_LINE_CHARS` characters, read with a bounded ``readline`` so a longer one is refused without
being loaded; a file read whole (a text scored without a token limit, a text set's lines, a JSON
document) holds at most :data:`MAX_TEXT_CHARS`.
"""

from __future__ import annotations

import codecs
import gzip
import json
import zlib
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from attributions.errors import InputError

__all__ = ["MAX_LINE_CHARS", "MAX_TEXT_CHARS", "DataFormatError", "bounded_lines", "check_text", "field",
           "jsonl_records", "open_text", "read_whole", "reading", "require_file", "text_chunks", "text_lines",
           "type_name"]

MAX_LINE_CHARS = 1 << 20
"""The longest line (in characters) that a line-by-line reader accepts."""
MAX_TEXT_CHARS = 1 << 25
"""The most characters read from one file as a whole (about 33 million: 130 MB of UTF-8 at most)."""
_SPLIT = "split the file into smaller ones"


class DataFormatError(InputError):
    """A data file does not have the expected format."""

    def __init__(self, path: Path | str, line: int | None, reason: str) -> None:
        where = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")


def require_file(path: Path, *, folder_ok: bool = False) -> Path:
    """``path`` if it is a readable regular file (or a folder, when ``folder_ok``)."""
    try:
        exists, folder, regular = path.exists(), path.is_dir(), path.is_file()
    except OSError as err:
        raise DataFormatError(path, None, f"cannot be opened ({err.strerror}); check the path") from None
    if not exists:
        raise FileNotFoundError(f"no such file: {path} (check the path; a relative path starts from {Path.cwd()})")
    if folder and not folder_ok:
        raise DataFormatError(path, None, "is a folder, not a file; give the path of the data file inside it")
    if not (regular or folder):
        raise DataFormatError(path, None, "is not a regular file (a pipe or device?); save the data to a file first")
    return path


def open_text(path: str | Path, newline: str | None = None) -> IO[str]:
    """Open ``path`` as UTF-8 text (a byte-order mark is skipped), through gzip when its name ends in ``.gz``."""
    if str(path).endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", newline=newline)
    return open(path, encoding="utf-8-sig", newline=newline)


def _not_utf8(path: Path) -> DataFormatError:
    """The error for a file that fails to decode, with the line and byte of the first bad byte."""
    hint = "the file must be UTF-8 text (convert it, e.g. with `iconv -f latin1 -t utf-8`)"
    try:
        return _locate_bad_byte(path, hint)
    except (OSError, EOFError, zlib.error):  # unreadable the second time round: say what is known
        return DataFormatError(path, None, f"not UTF-8 text; {hint}")


def _locate_bad_byte(path: Path, hint: str) -> DataFormatError:
    decoder, offset, newlines = codecs.getincrementaldecoder("utf-8")(), 0, 0
    with (gzip.open(path, "rb") if str(path).endswith(".gz") else open(path, "rb")) as handle:
        first = handle.read(2)
        if first == b"\x1f\x8b":
            hint = f"it looks gzip-compressed: name it {Path(path).name}.gz, or decompress it"
        handle.seek(0)
        while True:
            block = handle.read(1 << 16)
            data = decoder.getstate()[0] + block  # bytes held back from the last block (never a newline)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as err:
                start = offset - len(data) + len(block) + err.start
                line = newlines + data[: err.start].count(b"\n") + 1
                return DataFormatError(path, line, f"not UTF-8 text (byte 0x{data[err.start]:02x} at offset {start} "
                                                   f"cannot be decoded); {hint}")
            if not block:
                return DataFormatError(path, None, f"not UTF-8 text; {hint}")
            offset, newlines = offset + len(block), newlines + block.count(b"\n")


@contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn read failures inside the block (bad UTF-8, bad gzip, no permission) into :class:`DataFormatError`."""
    try:
        yield
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise DataFormatError(path, None, f"not a readable gzip file ({err}); "
                                          "re-create it with gzip, or drop .gz from a plain file's name") from None
    except PermissionError:
        raise DataFormatError(path, None, "cannot be read (permission denied); check the file's permissions") from None
    except IsADirectoryError:
        raise DataFormatError(path, None, "is a folder, not a file; give the path of the data file inside it") from None


def check_text(path: Path, line: int | None, text: str) -> None:
    """Refuse text holding a NUL character: binary data, or UTF-16 that happened to decode."""
    if "\x00" in text:
        if line is not None:
            line += text[: text.index("\x00")].count("\n")
        raise DataFormatError(path, line, "contains a NUL character, so it looks binary or UTF-16; "
                                          "the file must be UTF-8 text")


def _too_much(path: Path, line: int | None, fix: str) -> DataFormatError:
    return DataFormatError(path, line, f"holds more than {MAX_TEXT_CHARS:,} characters, more than is read "
                                       f"whole; {fix}")


def text_chunks(path: Path, size: int = 1 << 14) -> Generator[str, None, None]:
    """The text of ``path`` in pieces of up to ``size`` characters, read only as far as they are consumed.

    Newlines are translated to ``\\n`` as in :func:`open`; errors name the line where the bad data is.
    Reading past :data:`MAX_TEXT_CHARS` characters is refused (a caller that stops early never gets there).
    """
    line, total = 1, 0
    with reading(path), open_text(path) as handle:
        while piece := handle.read(size):
            total += len(piece)
            if total > MAX_TEXT_CHARS:
                fix = (f"read only its start with a token limit (--max-tokens N for evaluate, --tokens N for explain, "
                       f"max_tokens=N in Python), or {_SPLIT}")
                raise _too_much(path, line, fix)
            check_text(path, line, piece)
            line += piece.count("\n")
            yield piece


def bounded_lines(path: Path, handle: IO[str]) -> Iterator[str]:
    """The lines of ``handle`` as read (ends kept), each of at most :data:`MAX_LINE_CHARS` characters:
    a longer line is refused, naming it, after reading only that many characters of it."""
    number = 0
    while line := handle.readline(MAX_LINE_CHARS + 1):
        number += 1
        if len(line) > MAX_LINE_CHARS and line[-1] not in "\r\n":
            raise DataFormatError(path, number, f"the line is longer than {MAX_LINE_CHARS:,} characters; each line "
                                                "holds one text or record: split it into shorter lines")
        yield line


def text_lines(path: Path, limit: int | None = None) -> list[str]:
    """The first ``limit`` (default all) non-blank lines of the text file ``path``, without their line ends;
    lines are split as :meth:`str.splitlines` splits the whole text, and read only as far as needed."""
    out: list[str] = []
    total = 0
    with reading(path), open_text(path) as handle:
        for number, line in enumerate(bounded_lines(path, handle), start=1):
            total += len(line)
            if total > MAX_TEXT_CHARS:
                raise _too_much(path, number, f"{_SPLIT}, or use fewer lines")
            check_text(path, number, line)
            out += [piece for piece in line.splitlines() if piece.strip()]
            if limit is not None and len(out) >= limit:
                break
    return out if limit is None else out[:limit]


def read_whole(path: Path, handle: IO[str]) -> str:
    """The rest of ``handle`` (a file read as one document), refused beyond :data:`MAX_TEXT_CHARS` characters."""
    text = handle.read(MAX_TEXT_CHARS + 1)
    if len(text) > MAX_TEXT_CHARS:
        raise _too_much(path, None, _SPLIT)
    return text


def type_name(value: Any) -> str:
    """The JSON name of ``value``'s type: ``a string``, ``a number``, ``true/false``..."""
    if isinstance(value, bool):
        return "true/false"
    if value is None:
        return "null"
    names = {str: "a string", int: "a number", float: "a number", list: "a list", dict: "an object"}
    return next((n for t, n in names.items() if isinstance(value, t)), type(value).__name__)


_KINDS = {str: "a string", int: "a whole number", dict: "an object", list: "a list"}


def field(path: Path, line: int | None, record: dict[str, Any], key: str, kind: type = str, where: str = "") -> Any:
    """``record[key]``, refused when missing, blank or not of ``kind`` (``bool`` is not an ``int``).

    ``where`` names the record inside a JSON document (``data.intrasentence[3]``); for JSONL the line does.
    """
    value = record.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DataFormatError(path, line, f"{where + ': ' if where else ''}missing or empty field {key!r}")
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        name = f"{where}.{key}" if where else f"field {key!r}"
        shown = "" if isinstance(value, (list, dict)) else f" ({json.dumps(value)[:40]})"
        raise DataFormatError(path, line, f"{name} must be {_KINDS.get(kind, kind.__name__)}, "
                                          f"not {type_name(value)}{shown}")
    return value


def jsonl_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for every non-blank line of a JSON-lines file."""
    with reading(path), open_text(path) as handle:
        for number, line in enumerate(bounded_lines(path, handle), start=1):
            if not line.strip():
                continue
            check_text(path, number, line)
            try:
                record = json.loads(line)
            except RecursionError:
                raise DataFormatError(path, number, "not valid JSON (nested too deeply)") from None
            except ValueError as err:  # JSONDecodeError, or an integer too long to convert
                raise DataFormatError(path, number, f"not valid JSON ({getattr(err, 'msg', err)}); "
                                                    "each line must hold one JSON object") from None
            if not isinstance(record, dict):
                raise DataFormatError(path, number, f"expected a JSON object (one record per line), "
                                                    f"not {type_name(record)}")
            yield number, record
