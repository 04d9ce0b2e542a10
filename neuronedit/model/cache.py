"""The local cache (``NEURONEDIT_CACHE``, default ``~/.cache/neuronedit``) and atomic folders.

Atomic single files are :func:`attributions.files.atomic_file` (one implementation for both packages).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["MARKER", "atomic_dir", "cache_dir", "check_replaceable", "file_sha256"]


def cache_dir(*parts: str) -> Path:
    """``$NEURONEDIT_CACHE/<parts...>`` (not created)."""
    root = Path(os.environ.get("NEURONEDIT_CACHE") or Path.home() / ".cache" / "neuronedit")
    return root.expanduser().joinpath(*parts)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


MARKER = ".neuronedit"
"""A file in every folder this toolkit writes; ``overwrite`` replaces only folders that hold it
(or a ``neuronedit.json`` manifest), never a folder of the user's."""


def _written_by_toolkit(folder: Path) -> bool:
    """Whether ``folder`` is one this toolkit wrote (marker file or manifest inside)."""
    return (folder / MARKER).is_file() or (folder / "neuronedit.json").is_file()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_replaceable(target: Path, *, overwrite: bool, foreign_ok: bool = False) -> None:
    """Raise FileExistsError unless ``target`` is absent, or ``overwrite`` and it is a folder this
    toolkit wrote (``foreign_ok``: any folder, for the toolkit's own cache)."""
    if not target.exists() and not target.is_symlink():
        return
    if not overwrite:
        raise FileExistsError(f"{target} already exists; pass overwrite=True (CLI: --overwrite) to replace it")
    if not target.is_dir() or target.is_symlink():
        raise FileExistsError(f"{target} exists and is not a folder; --overwrite replaces only folders "
                              "neuronedit wrote. Choose another --out or remove it yourself")
    if not foreign_ok and not _written_by_toolkit(target):
        raise FileExistsError(f"{target} exists and was not written by neuronedit (no {MARKER} or neuronedit.json "
                              "in it), so --overwrite will not delete it. Choose another --out, or remove it "
                              "yourself if it is yours to lose")


@contextmanager
def atomic_dir(target: str | os.PathLike[str], *, overwrite: bool = False, foreign_ok: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary directory next to ``target``; rename it into place on success.

    The folder gets the :data:`MARKER` file and the permissions of the user's umask. On an
    exception the temporary directory is deleted and ``target`` is untouched; temporaries left by
    a killed earlier write to the same target are deleted first (:func:`clean_stale`).

    Raises:
        FileExistsError: ``target`` exists and ``overwrite`` is False, or it is not a folder this
            toolkit wrote (unless ``foreign_ok``).
    """
    target = Path(target)
    if not target.name or target.name in (".", ".."):
        from attributions.errors import InputError  # here: importing this module loads no attributions

        raise InputError(f"{target} names no folder: give a path such as out/run1")
    check_replaceable(target, overwrite=overwrite, foreign_ok=foreign_ok)
    target.parent.mkdir(parents=True, exist_ok=True)
    from attributions.files import clean_stale

    clean_stale(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent))
    try:
        tmp.chmod(0o777 & ~_umask())
        (tmp / MARKER).write_text("written by neuronedit; --overwrite may replace this folder\n")
        yield tmp
        if target.exists():
            check_replaceable(target, overwrite=overwrite, foreign_ok=foreign_ok)  # unchanged while we computed?
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

