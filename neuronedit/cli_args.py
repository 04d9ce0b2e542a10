"""Argument types and output checks for the command line: bad values fail at parse time, and
every output is checked writable before any computation starts."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import Callable

from .cache import check_replaceable

__all__ = ["check_output_dir", "check_output_file", "finite_float", "int_at_least", "non_negative_float",
           "positive_float"]


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, not {value}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def finite_float(text: str) -> float:
    """An argparse type: a finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, not {text}")
    return value


def non_negative_float(text: str) -> float:
    """An argparse type: a finite number >= 0."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def _writable_parent(path: Path, flag: str) -> None:
    """The nearest existing ancestor of ``path`` must be a writable folder."""
    parent = path.parent
    while not parent.exists():
        if parent.is_symlink():
            raise ValueError(f"{flag} {path}: {parent} is a broken link")
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{flag} {path}: {parent} is a file, not a folder; choose another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {path}: cannot write in {parent} (permission denied); choose a writable folder")


def check_output_dir(value: str, *, overwrite: bool, flag: str = "--out") -> Path:
    """The folder an output goes to, checked before computing: it must have a name, be new or
    a folder this toolkit wrote (with ``--overwrite``), and its parent must be writable."""
    path = Path(value).expanduser()
    if path.name in ("", ".", "..") or Path(os.path.abspath(path)).name == "":
        raise ValueError(f"{flag} {value!r} names no new folder; give one such as out/run1")
    check_replaceable(path, overwrite=overwrite)
    _writable_parent(path, flag)
    return path


def check_output_file(value: str | None, *, flag: str, overwrite: bool = True) -> Path | None:
    """A file an output goes to (``--json``, ``--csv``, a scores file), checked before computing."""
    if value is None:
        return None
    path = Path(value).expanduser()
    if path.name in ("", ".", "..") or path.is_dir():
        raise ValueError(f"{flag} {value}: is a folder; give a file name such as {Path(value) / 'results.json'}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{flag} {path} exists; pass --overwrite to replace it")
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{flag} {path}: the file is read-only; choose another path")
    _writable_parent(path, flag)
    return path
