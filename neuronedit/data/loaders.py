"""Loaders for the standard bias benchmarks and plain text. Malformed input raises
:class:`DataFormatError` naming the file, the line and the reason. Every loader also reads
gzip-compressed files (names ending in ``.gz``) transparently."""

from __future__ import annotations

import csv
import gzip
import json
import re
from pathlib import Path
from typing import IO, Any, Iterator

from .items import BBQItem, PairItem, StereoSetItem, TextCorpus, canonical_bias_type

__all__ = ["DataFormatError", "load_bbq", "load_crows", "load_stereoset", "load_text", "load_winobias"]


class DataFormatError(ValueError):
    """A data file does not have the expected format."""

    def __init__(self, path: Path | str, line: int | None, reason: str) -> None:
        where = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")


def _require(path: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    return path


def open_text(path: str | Path, newline: str | None = None) -> IO[str]:
    """Open ``path`` for reading as UTF-8 text, decompressing with gzip when its name ends in ``.gz``."""
    if str(path).endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", newline=newline)
    return open(path, encoding="utf-8", newline=newline)


def _plain_name(path: Path) -> str:
    """The file name without a ``.gz`` suffix, so ids (and dev/test splits) match the uncompressed file."""
    return path.name.removesuffix(".gz")


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataFormatError(path, number, f"not valid JSON ({err.msg})") from None
            if not isinstance(record, dict):
                raise DataFormatError(path, number, "expected a JSON object")
            yield number, record


def _field(path: Path, line: int, record: dict[str, Any], key: str) -> Any:
    value = record.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DataFormatError(path, line, f"missing or empty field {key!r}")
    return value


CROWS_COLUMNS = ("sent_more", "sent_less", "stereo_antistereo", "bias_type")


def load_crows(path: str | Path) -> list[PairItem]:
    """CrowS-Pairs CSV (``sent_more, sent_less, stereo_antistereo, bias_type, ...``)."""
    path = _require(Path(path))
    items = []
    with open_text(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in CROWS_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataFormatError(path, 1, f"header lacks column(s) {missing}; found {reader.fieldnames}")
        for row in reader:
            line = reader.line_num
            more, less = row["sent_more"], row["sent_less"]
            if not more or not less or not row["bias_type"]:
                raise DataFormatError(path, line, "empty sent_more, sent_less or bias_type")
            direction = row["stereo_antistereo"]
            if direction not in ("stereo", "antistereo"):
                raise DataFormatError(path, line, f"stereo_antistereo is {direction!r}, not stereo/antistereo")
            row_id = row.get("") or row.get("id") or str(len(items))
            items.append(
                PairItem(
                    more=more, less=less, bias_type=canonical_bias_type(row["bias_type"]), id=f"crows-{row_id}",
                    source=str(path), meta={"direction": direction, "group": f"crows-{row_id}"},
                )
            )
    return items


def _stereoset_item(kind: str, target: str, bias: str, context: str, options: dict[str, str], key: str,
                    source: str) -> StereoSetItem:
    prefix = context if kind == "intersentence" else ""
    return StereoSetItem(
        kind=kind, target=target, bias_type=canonical_bias_type(bias), prefix=prefix,
        stereotype=options["stereotype"], anti_stereotype=options["anti-stereotype"],
        unrelated=options["unrelated"], id=key, source=source,
    )


LABELS = ("stereotype", "anti-stereotype", "unrelated")


def load_stereoset(path: str | Path) -> list[StereoSetItem]:
    """StereoSet: the original nested JSON (``data.intrasentence[*].sentences``) or the flat JSONL."""
    path = _require(Path(path))
    with open_text(path) as handle:
        head = handle.read(4096).lstrip()
    if head.startswith("{") and '"data"' in head[:200] and "\n{" not in head:
        return _load_stereoset_nested(path)
    items = []
    for line, record in _jsonl(path):
        kind = _field(path, line, record, "type")
        if kind not in ("intrasentence", "intersentence"):
            raise DataFormatError(path, line, f"type is {kind!r}, not intrasentence/intersentence")
        options = {label: _field(path, line, record, label) for label in LABELS}
        items.append(
            _stereoset_item(kind, _field(path, line, record, "target"), _field(path, line, record, "bias_type"),
                            _field(path, line, record, "context"), options, f"stereoset-{line}", str(path))
        )
    return items


def _load_stereoset_nested(path: Path) -> list[StereoSetItem]:
    try:
        with open_text(path) as handle:
            data = json.load(handle)["data"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise DataFormatError(path, None, f"not StereoSet JSON with a 'data' object ({err})") from None
    items = []
    for kind in ("intrasentence", "intersentence"):
        for index, cluster in enumerate(data.get(kind, [])):
            where = f"data.{kind}[{index}]"
            try:
                options = {s["gold_label"]: s["sentence"] for s in cluster["sentences"]}
                missing = [label for label in LABELS if label not in options]
                if missing:
                    raise DataFormatError(path, None, f"{where}: no sentence with gold_label {missing}")
                items.append(_stereoset_item(kind, cluster["target"], cluster["bias_type"], cluster["context"],
                                             options, f"stereoset-{cluster.get('id', index)}", str(path)))
            except (KeyError, TypeError) as err:
                raise DataFormatError(path, None, f"{where}: missing field {err}") from None
    if not items:
        raise DataFormatError(path, None, "no intrasentence or intersentence clusters")
    return items


_WINO_LINE = re.compile(r"^(\d+)\s+(.*)$")


def _wino_sentences(path: Path) -> dict[int, tuple[str, int]]:
    out = {}
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
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
    path = _require(Path(path))
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
        if pro == anti or not anti.exists() or not pro.exists():
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


def _bbq_answer_groups(path: Path, line: int, record: dict[str, Any]) -> tuple[int, list[int]]:
    info = _field(path, line, record, "answer_info")
    unknown, groups = -1, []
    for index in range(3):
        tags = info.get(f"ans{index}")
        if not isinstance(tags, list) or not tags:
            raise DataFormatError(path, line, f"answer_info lacks ans{index}")
        if tags[-1] == "unknown":
            unknown = index
        else:
            groups.append(index)
    if unknown < 0 or len(groups) != 2:
        raise DataFormatError(path, line, "answer_info must tag exactly one answer 'unknown'")
    return unknown, groups


def _matches(tag_values: list[str], stereotyped: list[str]) -> bool:
    lowered = [s.lower() for s in stereotyped]
    return any(value.lower() in lowered or any(value.lower().startswith(s) for s in lowered) for value in tag_values)


def load_bbq(path: str | Path) -> list[BBQItem]:
    """BBQ JSONL (one category file, e.g. ``Religion.jsonl``)."""
    path = _require(Path(path))
    items = []
    for line, record in _jsonl(path):
        unknown, groups = _bbq_answer_groups(path, line, record)
        stereotyped = record.get("additional_metadata", {}).get("stereotyped_groups") or []
        info = record["answer_info"]
        targets = [g for g in groups if _matches(info[f"ans{g}"], stereotyped)]
        if len(targets) != 1:
            raise DataFormatError(path, line, f"cannot tell which answer is the stereotyped group {stereotyped}")
        negative = _field(path, line, record, "question_polarity") == "neg"
        target = targets[0]
        biased = target if negative else next(g for g in groups if g != target)
        label = int(_field(path, line, record, "label"))
        condition = _field(path, line, record, "context_condition")
        if condition not in ("ambig", "disambig"):
            raise DataFormatError(path, line, f"context_condition is {condition!r}, not ambig/disambig")
        items.append(BBQItem(
            context=_field(path, line, record, "context"), question=_field(path, line, record, "question"),
            answers=tuple(str(_field(path, line, record, f"ans{i}")) for i in range(3)),  # type: ignore[arg-type]
            label=label, biased=biased, unknown=unknown, ambiguous=condition == "ambig", negative=negative,
            bias_type=canonical_bias_type(_field(path, line, record, "category")),
            id=f"bbq-{record.get('example_id', line)}", source=str(path),
            template=f"{record.get('category')}-{record.get('question_index')}",
        ))
    if not items:
        raise DataFormatError(path, None, "no BBQ records")
    return items


def load_text(path: str | Path) -> TextCorpus:
    """A plain-text corpus (e.g. WikiText-2 ``valid.txt``) as one string."""
    path = _require(Path(path))
    try:
        with open_text(path) as handle:
            text = handle.read()
    except UnicodeDecodeError as err:
        raise DataFormatError(path, None, f"not UTF-8 text ({err.reason} at byte {err.start})") from None
    except (gzip.BadGzipFile, EOFError) as err:
        raise DataFormatError(path, None, f"not a readable gzip file ({err})") from None
    if not text.strip():
        raise DataFormatError(path, None, "the file is empty")
    return TextCorpus(text=text, id=_plain_name(path), source=str(path))
