"""Loaders for the standard bias benchmarks and plain text. Malformed input raises
:class:`DataFormatError` naming the file, the line (or JSON item) and the reason; a folder, binary or
non-UTF-8 data, wrong JSON types, malformed CSV rows and over-long lines or files included. Every loader also reads
gzip-compressed files (names ending in ``.gz``) transparently, and skips a UTF-8 byte-order mark."""

from __future__ import annotations

import csv
import json
import re
from contextlib import closing
from pathlib import Path
from typing import Any

from .items import BBQItem, PairItem, StereoSetItem, TextCorpus, canonical_bias_type
from .reading import (
    DataFormatError,
    bounded_lines,
    check_text,
    field,
    jsonl_records,
    open_text,
    read_whole,
    reading,
    require_file,
    text_chunks,
    type_name,
)

__all__ = ["DataFormatError", "load_bbq", "load_crows", "load_stereoset", "load_text", "load_winobias", "open_text"]


def _plain_name(path: Path) -> str:
    """The file name without a ``.gz`` suffix, so ids (and dev/test splits) match the uncompressed file."""
    return path.name.removesuffix(".gz")


_CROWS_COLUMNS = ("sent_more", "sent_less", "stereo_antistereo", "bias_type")


def _crows_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """``(line, row)`` of every non-blank CSV row, each with exactly the header's columns."""
    rows = []
    with reading(path), open_text(path, newline="") as handle:
        reader = csv.reader(bounded_lines(path, handle))
        try:
            header = next(reader, None)
            if header is None:
                raise DataFormatError(path, None, f"the file is empty; expected a CrowS-Pairs CSV with a header "
                                                  f"naming the columns {', '.join(_CROWS_COLUMNS)}")
            check_text(path, 1, ",".join(header))
            missing = [c for c in _CROWS_COLUMNS if c not in header]
            if missing:
                raise DataFormatError(path, 1, f"header lacks column(s) {missing}; found {header}")
            for values in reader:
                if not values:
                    continue
                check_text(path, reader.line_num, ",".join(values))
                if len(values) != len(header):
                    raise DataFormatError(path, reader.line_num, f"{len(values)} fields, but the header has "
                                          f"{len(header)}; quote fields that contain commas (\"a, b\")")
                rows.append((reader.line_num, dict(zip(header, values))))
        except csv.Error as err:
            raise DataFormatError(path, reader.line_num,
                                  f"malformed CSV ({err}); check the quotes on this line") from None
    return rows


def load_crows(path: str | Path) -> list[PairItem]:
    """CrowS-Pairs CSV (``sent_more, sent_less, stereo_antistereo, bias_type, ...``)."""
    path = require_file(Path(path))
    items: list[PairItem] = []
    for line, row in _crows_rows(path):
        more, less = row["sent_more"], row["sent_less"]
        if not more or not less or not row["bias_type"]:
            raise DataFormatError(path, line, "empty sent_more, sent_less or bias_type")
        direction = row["stereo_antistereo"]
        if direction not in ("stereo", "antistereo"):
            raise DataFormatError(path, line, f"stereo_antistereo is {direction!r}, not stereo/antistereo")
        row_id = row.get("") or row.get("id") or str(len(items))
        items.append(PairItem(more=more, less=less, bias_type=canonical_bias_type(row["bias_type"]),
                              id=f"crows-{row_id}", source=str(path),
                              meta={"direction": direction, "group": f"crows-{row_id}"}))
    return items


def _stereoset_item(kind: str, target: str, bias: str, context: str, options: dict[str, str], key: str,
                    source: str) -> StereoSetItem:
    prefix = context if kind == "intersentence" else ""
    return StereoSetItem(
        kind=kind, target=target, bias_type=canonical_bias_type(bias), prefix=prefix,
        stereotype=options["stereotype"], anti_stereotype=options["anti-stereotype"],
        unrelated=options["unrelated"], id=key, source=source,
    )


_LABELS = ("stereotype", "anti-stereotype", "unrelated")
_STEREOSET_KINDS = ("intrasentence", "intersentence")


def load_stereoset(path: str | Path) -> list[StereoSetItem]:
    """StereoSet: the original nested JSON (``data.intrasentence[*].sentences``) or the flat JSONL."""
    path = require_file(Path(path))
    with reading(path), open_text(path) as handle:
        head = handle.read(4096).lstrip()
    if head.startswith("{") and '"data"' in head[:200] and "\n{" not in head:
        return _load_stereoset_nested(path)
    items = []
    for line, record in jsonl_records(path):
        kind = field(path, line, record, "type")
        if kind not in _STEREOSET_KINDS:
            raise DataFormatError(path, line, f"type is {kind!r}, not intrasentence/intersentence")
        options = {label: field(path, line, record, label) for label in _LABELS}
        items.append(
            _stereoset_item(kind, field(path, line, record, "target"), field(path, line, record, "bias_type"),
                            field(path, line, record, "context"), options, f"stereoset-{line}", str(path))
        )
    return items


def _typed(path: Path, where: str, value: Any, kind: type, what: str) -> Any:
    """``value`` if it is a ``kind``; else an error naming the JSON item ``where`` and what it should be."""
    if not isinstance(value, kind):
        raise DataFormatError(path, None, f"{where} must be {what}, not {type_name(value)}")
    return value


def _load_stereoset_nested(path: Path) -> list[StereoSetItem]:
    try:
        with reading(path), open_text(path) as handle:
            document = json.loads(read_whole(path, handle))
    except DataFormatError:
        raise
    except RecursionError:
        raise DataFormatError(path, None, "not valid JSON (nested too deeply)") from None
    except json.JSONDecodeError as err:
        raise DataFormatError(path, err.lineno, f"not valid JSON ({err.msg})") from None
    except ValueError as err:
        raise DataFormatError(path, None, f"not valid JSON ({err})") from None
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, dict):
        raise DataFormatError(path, None, "expected StereoSet JSON: an object with a 'data' object holding 'intra"
                                          f"sentence' and 'intersentence' lists (its 'data' is {type_name(data)})")
    items = []
    for kind in _STEREOSET_KINDS:
        for index, cluster in enumerate(_typed(path, f"data.{kind}", data.get(kind, []), list, "a list")):
            where = f"data.{kind}[{index}]"
            _typed(path, where, cluster, dict, "an object (one cluster)")
            options = {}
            for k, sentence in enumerate(_typed(path, f"{where}.sentences", cluster.get("sentences"), list,
                                                "a list of {'sentence', 'gold_label'} objects")):
                at = f"{where}.sentences[{k}]"
                _typed(path, at, sentence, dict, "an object with 'sentence' and 'gold_label'")
                label, text = (field(path, None, sentence, key, where=at) for key in ("gold_label", "sentence"))
                options[label] = text
            missing = [label for label in _LABELS if label not in options]
            if missing:
                raise DataFormatError(path, None, f"{where}: no sentence with gold_label {missing}")
            target, bias, context = (field(path, None, cluster, key, where=where)
                                     for key in ("target", "bias_type", "context"))
            items.append(_stereoset_item(kind, target, bias, context, options,
                                         f"stereoset-{cluster.get('id', index)}", str(path)))
    if not items:
        raise DataFormatError(path, None, "no intrasentence or intersentence clusters")
    return items


_WINO_LINE = re.compile(r"^(\d+)\s+(.*)$")


def _wino_sentences(path: Path) -> dict[int, tuple[str, int]]:
    out = {}
    with reading(path), open_text(path) as handle:
        for number, line in enumerate(bounded_lines(path, handle), start=1):
            if not line.strip():
                continue
            check_text(path, number, line)
            match = _WINO_LINE.match(line.strip())
            if match is None or line.count("[") < 2 or line.count("[") != line.count("]"):
                raise DataFormatError(path, number, "expected 'N sentence' with [bracketed] occupation and pronoun")
            text = match.group(2).replace("[", "").replace("]", "")
            out[int(match.group(1))] = (re.sub(r"\s+", " ", text).strip(), number)
    return out


def load_winobias(path: str | Path) -> list[PairItem]:
    """WinoBias bracket files as pro/anti pairs (``more`` = pro-stereotyped sentence).

    ``path`` may be one ``pro_*``/``anti_*`` file (its partner is found beside it) or a
    directory (all ``pro_stereotyped_type*`` files in it, plain or ``.gz``, each with the
    ``anti_stereotyped`` partner of the same suffix).
    """
    path = require_file(Path(path), folder_ok=True)
    if path.is_dir():
        found = sorted(path.glob("pro_stereotyped_type*"))
        # A file present both plain and as .gz counts once (the plain copy).
        pros = [p for p in found if not (p.name.endswith(".gz") and p.with_name(_plain_name(p)) in found)]
        if not pros:
            raise DataFormatError(path, None, "no pro_stereotyped_type* files in this directory")
    else:
        pros = [path.with_name(path.name.replace("anti_stereotyped", "pro_stereotyped"))]
    items = []
    for pro in pros:
        anti = pro.with_name(pro.name.replace("pro_stereotyped", "anti_stereotyped"))
        if pro == anti or not anti.is_file() or not pro.is_file():
            raise DataFormatError(pro, None, "needs a pro_stereotyped_* file and its anti_stereotyped_* partner")
        pro_lines, anti_lines = _wino_sentences(pro), _wino_sentences(anti)
        if pro_lines.keys() != anti_lines.keys():
            raise DataFormatError(anti, None, f"its sentence numbers do not match those of {pro.name}")
        name = _plain_name(pro)
        for number, (more, line) in pro_lines.items():
            less = anti_lines[number][0]
            items.append(PairItem(more=more, less=less, bias_type="gender", id=f"{name}-{number}",
                                  source=str(pro), meta={"line": line, "group": f"{name}-{number}"}))
    return items


def _bbq_answer_groups(path: Path, line: int, info: dict[str, Any]) -> tuple[int, list[int]]:
    unknown, groups = -1, []
    for index in range(3):
        tags = info.get(f"ans{index}")
        if not isinstance(tags, list) or not tags or not all(isinstance(tag, str) for tag in tags):
            raise DataFormatError(path, line, f"answer_info.ans{index} must be a non-empty list of strings "
                                              '(e.g. ["Muslim", "Muslim"] or ["Not known", "unknown"])')
        if tags[-1] == "unknown":
            unknown = index
        else:
            groups.append(index)
    if unknown < 0 or len(groups) != 2:
        raise DataFormatError(path, line, "answer_info must tag exactly one answer 'unknown'")
    return unknown, groups


def _stereotyped_groups(path: Path, line: int, record: dict[str, Any]) -> list[str]:
    meta = record.get("additional_metadata")
    meta = {} if meta is None else meta
    if not isinstance(meta, dict):
        raise DataFormatError(path, line, f"field 'additional_metadata' must be an object, not {type_name(meta)}")
    groups = meta.get("stereotyped_groups") or []
    if not isinstance(groups, list) or not all(isinstance(group, str) for group in groups):
        raise DataFormatError(path, line, "additional_metadata.stereotyped_groups must be a list of strings")
    return groups


def _matches(tag_values: list[str], stereotyped: list[str]) -> bool:
    lowered = [s.lower() for s in stereotyped]
    return any(value.lower() in lowered or any(value.lower().startswith(s) for s in lowered) for value in tag_values)


def _bbq_item(path: Path, line: int, record: dict[str, Any]) -> BBQItem:
    info = field(path, line, record, "answer_info", dict)
    unknown, groups = _bbq_answer_groups(path, line, info)
    stereotyped = _stereotyped_groups(path, line, record)
    targets = [g for g in groups if _matches(info[f"ans{g}"], stereotyped)]
    if len(targets) != 1:
        raise DataFormatError(path, line, f"cannot tell which answer is the stereotyped group {stereotyped}")
    polarity = field(path, line, record, "question_polarity")
    if polarity not in ("neg", "nonneg"):
        raise DataFormatError(path, line, f"question_polarity is {polarity!r}, not neg/nonneg")
    negative, target = polarity == "neg", targets[0]
    biased = target if negative else next(g for g in groups if g != target)
    label = field(path, line, record, "label", int)
    if not 0 <= label <= 2:
        raise DataFormatError(path, line, f"label must be 0, 1 or 2 (the index of the correct answer), not {label}")
    condition = field(path, line, record, "context_condition")
    if condition not in ("ambig", "disambig"):
        raise DataFormatError(path, line, f"context_condition is {condition!r}, not ambig/disambig")
    return BBQItem(
        context=field(path, line, record, "context"), question=field(path, line, record, "question"),
        answers=tuple(field(path, line, record, f"ans{i}") for i in range(3)),
        label=label, biased=biased, unknown=unknown, ambiguous=condition == "ambig", negative=negative,
        bias_type=canonical_bias_type(field(path, line, record, "category")),
        id=f"bbq-{record.get('example_id', line)}", source=str(path),
        template=f"{record.get('category')}-{record.get('question_index')}",
    )


def load_bbq(path: str | Path) -> list[BBQItem]:
    """BBQ JSONL (one category file, e.g. ``Religion.jsonl``); types and ranges are checked record by record."""
    path = require_file(Path(path))
    items = [_bbq_item(path, line, record) for line, record in jsonl_records(path)]
    if not items:
        raise DataFormatError(path, None, "no BBQ records")
    return items


def load_text(path: str | Path, *, name: str | None = None, source: str | None = None) -> TextCorpus:
    """A plain-text corpus (e.g. WikiText-2 ``valid.txt``), read lazily.

    Only its start is read here (it must be UTF-8 text and not blank); perplexity streams it, so a
    token limit reads only what it needs. ``name`` and ``source`` replace the id (the file name) and
    the source (the path).
    """
    path = require_file(Path(path))
    with closing(text_chunks(path)) as chunks:
        if not any(piece.strip() for piece in chunks):
            raise DataFormatError(path, None, "the file is empty (or blank); give a file with text")
    return TextCorpus(text=None, id=name or _plain_name(path),  # type: ignore[arg-type]
                      source=source or str(path), path=path)
