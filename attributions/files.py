"""Atomic file writes: the one way this project replaces a file (standard library only).

A write goes to ``.NAME.tmp-PID-TOKEN/NAME``, inside a temporary folder beside the target that holds
the toolkit's :data:`MARKER` file, and is renamed onto the target when complete, so a reader sees
the old file or the new one, never a part. A killed writer leaves its temporary folder behind; the
next write to the same target deletes it (:func:`clean_stale`). Cleaning touches only folders that
carry the marker: a file or folder of the user's that happens to match the name pattern is left alone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["MARKER", "MAX_JSON_BYTES", "MAX_JSON_DEPTH", "atomic_file", "clean_stale", "home_path", "json_depth",
           "read_json", "read_json_fields", "written_by_toolkit"]

MARKER = ".neuronedit"
"""A file in every folder this toolkit writes (outputs and temporaries); ``--overwrite`` replaces,
and stale-temporary cleaning deletes, only folders that hold it (or a ``neuronedit.json`` manifest)."""


MAX_JSON_BYTES = 1 << 26
"""The largest JSON settings file read (a manifest, a neuron set, a device map, a results file): 64 MiB."""

MAX_JSON_DEPTH = 64
"""The deepest nesting of objects and lists read from a file (what the toolkit writes stays under 10; deeper
values would overflow the recursive code that copies them into manifests and timings)."""


def home_path(text: str | os.PathLike[str], what: str) -> Path:
    """``text`` as a path with a leading ``~`` or ``~user`` expanded; refused (naming ``what``, e.g. the flag)
    when that user does not exist, where :meth:`Path.expanduser` raises a bare ``RuntimeError``."""
    from .errors import InputError

    expanded = os.path.expanduser(os.fspath(text))
    if expanded.startswith("~"):
        raise InputError(f"{what} {text}: {expanded.split(os.sep, 1)[0]} names no user's home folder on this "
                         "machine; give the path without it")
    return Path(expanded)


def json_depth(value: Any) -> int:
    """Nesting depth of a decoded JSON ``value`` (a scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth + 1)
            stack.extend((inner, depth + 1) for inner in item)
    return deepest


def read_json(path: Path, what: str, fix: str, error: type[Exception] | None = None) -> Any:
    """The decoded JSON ``what`` at ``path`` (untrusted: any value may come back). Refused with ``error``
    (default :class:`~.errors.InputError`) naming ``path`` and ``fix`` when it is missing, not a regular
    file (a folder, a FIFO), larger than :data:`MAX_JSON_BYTES`, unreadable, not UTF-8, not JSON, or nested
    or numbered beyond what the decoder takes."""
    from .errors import InputError

    fail = error or InputError
    try:
        info = path.stat()
    except OSError:
        raise fail(f"{path} not found; {fix}") from None
    if not stat.S_ISREG(info.st_mode):
        raise fail(f"{path} is not a regular file (a folder, a pipe or a device), so it is no {what}; {fix}")
    if info.st_size > MAX_JSON_BYTES:
        raise fail(f"{path} is {info.st_size:,} bytes, more than a {what} can be (at most {MAX_JSON_BYTES:,}); "
                   f"it is not a {what}, or it is damaged; {fix}")
    try:
        value = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as err:
        raise fail(f"cannot read {path} ({err.strerror or err}); check its permissions, or {fix}") from None
    except json.JSONDecodeError as err:
        raise fail(f"{path} is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno}), so it is no "
                   f"{what}; {fix}") from None
    except UnicodeDecodeError:
        raise fail(f"{path} is not UTF-8 text, so it is no {what}; {fix}") from None
    except (ValueError, RecursionError):  # a 5000-digit integer, or nesting deeper than the decoder's stack
        raise fail(f"{path} holds a number too long or nesting too deep for a {what}; {fix}") from None
    if json_depth(value) > MAX_JSON_DEPTH:
        raise fail(f"{path} nests objects or lists more than {MAX_JSON_DEPTH} deep, more than a {what} does; {fix}")
    return value


def read_json_fields(path: Path, what: str, fix: str, kinds: dict[str, type]) -> dict[str, Any]:
    """:func:`read_json` of an object holding at least ``kinds``' keys, each of its type (``list``, ``dict``...;
    a list must hold objects: table rows); refused naming ``path``, the first key missing or mistyped, and ``fix``."""
    from .errors import InputError

    data = read_json(path, what, fix)
    if not isinstance(data, dict):
        raise InputError(f"{path} holds a JSON {type(data).__name__}, not the object a {what} is; {fix}")
    for key, kind in kinds.items():
        value: Any = data.get(key)
        if not isinstance(value, kind) or (isinstance(value, list) and not all(isinstance(r, dict) for r in value)):
            wrong = "missing" if key not in data else f"not a {kind.__name__}" + (" of objects" if kind is list else "")
            raise InputError(f"{path}: {key!r} is {wrong}, so it is no {what} (damaged or edited by hand); {fix}")
    return data


def written_by_toolkit(folder: Path) -> bool:
    """Whether ``folder`` (not a link) is one this toolkit wrote: the marker file or a manifest inside."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    return (folder / MARKER).is_file() or (folder / "neuronedit.json").is_file()


def make_marked_dir(parent: Path, name: str) -> Path:
    """A new temporary folder ``.NAME.tmp-PID-TOKEN`` in ``parent``, holding the marker file, with the
    permissions of the user's umask (``mkdtemp`` alone would give 0700)."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-{os.getpid()}-", dir=parent))
    mask = os.umask(0o022)
    os.umask(mask)
    tmp.chmod(0o777 & ~mask)
    (tmp / MARKER).write_text("written by neuronedit; --overwrite may replace this folder\n")
    return tmp


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # another user's live process; a number no pid can be
        return True
    return True


def clean_stale(target: Path) -> list[Path]:
    """Delete the temporaries (``.NAME.tmp-PID-*``, ``.NAME.old-PID``) that a killed write to
    ``target`` left beside it: only marked folders of processes no longer running. A previous
    version moved aside (``.old-``) is put back when ``target`` is missing. Returns the paths handled."""
    handled: list[Path] = []
    if not target.parent.is_dir():
        return handled
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(tmp|old)-(\d+)(?:-.*)?")
    for path in target.parent.iterdir():
        match = pattern.fullmatch(path.name)
        if not match or not written_by_toolkit(path):
            continue
        pid = int(match.group(2))
        if pid == os.getpid() or _pid_alive(pid):
            continue
        if match.group(1) == "old" and not target.exists() and not target.is_symlink():
            os.replace(path, target)  # killed between the two renames: the previous version comes back
        else:
            shutil.rmtree(path, ignore_errors=True)
        handled.append(path)
    return handled


@contextmanager
def atomic_file(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path with ``target``'s name, in a marked temporary folder beside it (the
    file is not yet created); rename it onto ``target`` when the block succeeds.

    The writer in the block creates the file, so it gets the permissions of the user's umask. On
    an exception the temporary folder is removed and ``target`` is untouched. The parent folder is
    created, and temporaries of killed earlier writes to ``target`` are deleted first.

    Raises:
        IsADirectoryError: ``target`` is a folder.
    """
    target = Path(target)
    if target.is_dir():
        raise IsADirectoryError(21, "is a folder; give a file name", str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(target)
    folder = make_marked_dir(target.parent, target.name)
    try:
        tmp = folder / target.name
        yield tmp
        os.replace(tmp, target)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
