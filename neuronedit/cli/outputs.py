"""Where a command writes, checked before anything is computed, so that no run loses data.

One rule for every output (``--out``, ``--json``, ``--csv``):

- an existing output is replaced only with ``--overwrite``, and only when neuronedit wrote it: a
  folder holding the marker file or a manifest, a file of the kind the flag writes (a scores file,
  an ``evaluate`` JSON or CSV), recognised from its first bytes;
- an output never equals, nor (a folder) contains, a file or folder the same run reads; two outputs
  of one run are never the same file;
- ``~`` is expanded once, here, in outputs and plain path flags, so the command reads and writes the
  paths checked (``args`` is updated);
- the name leaves room for the temporary the atomic write puts beside it, and the nearest existing
  folder above it is writable.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from attributions.errors import InputError
from attributions.files import home_path

from ..model.cache import check_replaceable

__all__ = ["EVALUATION_CSV_HEADER", "EVALUATION_FORMAT", "OUTPUT_FLAGS", "check_output_dir", "check_output_file",
           "check_run_paths"]

OUTPUT_FLAGS = ("out", "json", "csv")
"""The attributes of parsed arguments that name outputs; every other path-valued one is an input."""
_WORK_FLAGS = {"checkpoint", "offload_folder"}  # read and written by the run: neither input nor output
_PATH_FLAGS = ("neurons", "scores", "manifest", "checkpoint", "offload_folder", "device_map", "dest", "model")
"""Flags whose value is a plain path (``KIND:PATH`` specs expand ``~`` where they are read)."""
_TEMPORARY_ROOM = 40  # bytes of ".NAME.tmp-PID-TOKEN" around NAME (attributions.files)

EVALUATION_FORMAT = "neuronedit-evaluation"
"""The ``format`` key that opens every ``evaluate --json`` file."""
EVALUATION_CSV_HEADER = "suite,bias_type,metric,value,ci_low,ci_high,n"
"""The first line of every ``evaluate --csv`` file."""


def _head(path: Path, size: int) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(size)
    except OSError:
        return b""


def _is_scores_file(path: Path) -> bool:
    """A safetensors file whose header metadata carries neuronedit's key (read: 8 bytes + the header)."""
    head = _head(path, 8)
    if len(head) < 8:
        return False
    size = int.from_bytes(head, "little")
    if not 2 <= size <= 1 << 24:
        return False
    try:
        header = json.loads(_head(path, 8 + size)[8:])
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(header, dict) and "neuronedit" in (header.get("__metadata__") or {})


def _is_evaluation_json(path: Path) -> bool:
    return re.match(rb'\{\s*"format":\s*"' + EVALUATION_FORMAT.encode() + rb'"', _head(path, 256)) is not None


def _is_evaluation_csv(path: Path) -> bool:
    return _head(path, len(EVALUATION_CSV_HEADER) + 2).splitlines()[:1] == [EVALUATION_CSV_HEADER.encode()]


RECOGNISERS: dict[str, tuple[str, Callable[[Path], bool]]] = {
    "scores": ("a neuronedit scores file", _is_scores_file),
    "evaluation-json": ("an `evaluate --json` file", _is_evaluation_json),
    "evaluation-csv": ("an `evaluate --csv` file", _is_evaluation_csv),
}
"""Output kind -> (what it is, whether a file is one neuronedit wrote)."""


def _writable_parent(path: Path, flag: str) -> None:
    """The nearest existing ancestor of ``path`` must be a writable folder."""
    parent = path.parent
    while not parent.exists():
        if parent.is_symlink():
            raise InputError(f"{flag} {path}: {parent} is a broken link")
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"{flag} {path}: {parent} is a file, not a folder; choose another path")
    try:  # a real probe: permission bits say nothing for root, /proc or a read-only mount
        os.rmdir(tempfile.mkdtemp(prefix=".neuronedit-probe-", dir=parent))
    except OSError as err:
        raise InputError(f"{flag} {path}: cannot write in {parent} ({err.strerror or err}); choose a writable "
                         "folder") from None


def _check_name_length(path: Path, flag: str) -> None:
    """Every part of ``path`` fits the file system, and the last leaves room for the temporary's name."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:  # bytes that are no UTF-8 (kept as surrogates): saving a checkpoint fails on them
        raise InputError(f"{flag} {os.fsencode(path)!r}: the name is not UTF-8 text; choose a name in UTF-8") from None
    for part in path.parts:
        if len(os.fsencode(part)) > 255:
            raise InputError(f"{flag}: the name {part[:40]}... is {len(os.fsencode(part))} bytes, more than a file "
                             "system allows (255); choose a shorter name")
    size = len(os.fsencode(path.name))
    if size + _TEMPORARY_ROOM > 255:
        raise InputError(f"{flag} {path.name[:40]}...: the name is {size} bytes; neuronedit writes through a "
                         f"temporary named after it, so at most {255 - _TEMPORARY_ROOM} bytes fit. "
                         "Choose a shorter name")


def check_output_dir(value: str | os.PathLike[str], *, overwrite: bool, flag: str = "--out") -> Path:
    """The folder an output goes to, checked before computing: it must have a name, be new or a
    folder this toolkit wrote (with ``--overwrite``), and its parent must be writable."""
    path = home_path(value, flag)
    if path.name in ("", ".", "..") or Path(os.path.abspath(path)).name == "":
        raise InputError(f"{flag} {str(value)!r} names no new folder; give one such as out/run1")
    _check_name_length(path, flag)
    check_replaceable(path, overwrite=overwrite)
    _writable_parent(path, flag)
    return path


def check_output_file(value: str | os.PathLike[str] | None, *, flag: str, kind: str, overwrite: bool) -> Path | None:
    """A file an output of ``kind`` (a key of :data:`RECOGNISERS`) goes to, checked before computing."""
    if value is None:
        return None
    path = home_path(value, flag)
    if path.name in ("", ".", "..") or path.is_dir():
        raise InputError(f"{flag} {value}: is a folder; give a file name such as {Path(value) / 'results.json'}")
    _check_name_length(path, flag)
    if path.exists() or path.is_symlink():
        what, recognise = RECOGNISERS[kind]
        if not overwrite:
            raise FileExistsError(f"{flag} {path} exists; pass --overwrite to replace it (only {what} is replaced)")
        if path.is_symlink() or not path.is_file() or not recognise(path):
            raise InputError(f"{flag} {path} exists and is not {what}, so --overwrite will not replace it; "
                             "choose another path, or remove the file yourself if it is yours to lose")
        if not os.access(path, os.W_OK):
            raise InputError(f"{flag} {path}: the file is read-only; choose another path")
    _writable_parent(path, flag)
    return path


def _named_paths(value: object) -> Iterator[Path]:
    """Existing paths a parsed value names: the value itself, or the PATH of a ``KIND:PATH`` spec."""
    for text in value if isinstance(value, (list, tuple)) else [value]:
        if not isinstance(text, str) or not text:
            continue
        for candidate in (text, text.split(":", 1)[1] if ":" in text else ""):
            try:
                path = Path(candidate).expanduser()
                if candidate and path.exists():
                    yield path.resolve()
            except (OSError, ValueError, RuntimeError):  # an unusable name reaches its own check later
                continue


def check_run_paths(args: argparse.Namespace) -> None:
    """Expand ``~`` in every path flag; refuse outputs that would replace an input of the run, or each other."""
    for name in _PATH_FLAGS:
        value = getattr(args, name, None)
        if isinstance(value, str) and value.startswith("~"):
            setattr(args, name, os.path.expanduser(value))
    outputs: dict[str, Path] = {}
    for name in OUTPUT_FLAGS:
        value = getattr(args, name, None)
        if isinstance(value, str):
            setattr(args, name, os.path.expanduser(value))
            outputs[f"--{name}"] = Path(os.path.abspath(os.path.expanduser(value)))
    resolved = {flag: path.resolve() for flag, path in outputs.items()}
    seen: dict[Path, str] = {}
    for flag, path in resolved.items():
        if path in seen:
            raise InputError(f"{seen[path]} and {flag} name the same file {path}; give each its own")
        seen[path] = flag
    for name in sorted(_WORK_FLAGS):  # work folders are written too: they may not be, hold or sit in an input
        value = getattr(args, name, None)
        if isinstance(value, str) and value:
            work = Path(os.path.abspath(value))
            if work.exists() and not work.is_dir():
                raise InputError(f"--{name.replace('_', '-')} {value} is a file; give a folder (it is created if "
                                 "missing)")
            resolved[f"--{name.replace('_', '-')}"] = work.resolve()
            outputs[f"--{name.replace('_', '-')}"] = Path(value)
    if not resolved:
        return
    inputs = {path: name for name, value in vars(args).items()
              if name not in (*OUTPUT_FLAGS, *_WORK_FLAGS) and not callable(value) for path in _named_paths(value)}
    for flag, out in resolved.items():
        for path, name in inputs.items():
            if path == out or out in path.parents or (path.is_dir() and path in out.parents):
                relation = "is" if path == out else "contains" if out in path.parents else "is inside"
                raise InputError(f"{flag} {outputs[flag]} {relation} {path}, which this run reads "
                                 f"(--{name.replace('_', '-')}); writing there would replace or change it. "
                                 f"Choose another {flag}")
