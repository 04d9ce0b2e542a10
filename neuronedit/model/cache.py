"""The local cache (``NEURONEDIT_CACHE``, default ``~/.cache/neuronedit``) and atomic folders.

Atomic single files are :func:`attributions.files.atomic_file` (one implementation for both packages).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_dir", "cache_dir", "check_replaceable", "file_sha256"]


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


def _undeletable(folder: Path) -> Path | None:
    """The first folder inside ``folder`` (or itself) whose entries this user cannot delete, if any."""
    for root, dirs, _ in os.walk(folder):
        if not os.access(root, os.W_OK | os.X_OK):
            return Path(root)
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
    return None


def check_replaceable(target: Path, *, overwrite: bool, foreign_ok: bool = False) -> None:
    """Raise FileExistsError unless ``target`` is absent, or ``overwrite`` and it is a folder this
    toolkit wrote (``foreign_ok``: any folder, for the toolkit's own cache) that can be deleted."""
    from attributions.files import MARKER, written_by_toolkit  # here: importing this module loads no torch

    if not target.exists() and not target.is_symlink():
        return
    if not target.is_dir() or target.is_symlink():
        raise FileExistsError(f"{target} exists and is not a folder; --overwrite replaces only folders "
                              "neuronedit wrote. Choose another --out or remove it yourself")
    if not foreign_ok and not written_by_toolkit(target):
        raise FileExistsError(f"{target} exists and was not written by neuronedit (no {MARKER} or neuronedit.json "
                              "in it), so --overwrite will not delete it. Choose another --out, or remove it "
                              "yourself if it is yours to lose")
    if not overwrite:
        raise FileExistsError(f"{target} already exists; pass overwrite=True (CLI: --overwrite) to replace it")
    locked = _undeletable(target)
    if locked is not None:
        raise FileExistsError(f"{target} cannot be replaced: {locked} is read-only, so its files cannot be deleted; "
                              f"make it writable (chmod -R u+w {target}) or choose another --out")


@contextmanager
def atomic_dir(target: str | os.PathLike[str], *, overwrite: bool = False, foreign_ok: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary directory next to ``target``; rename it into place on success.

    The folder gets the marker file (:data:`attributions.files.MARKER`) and the permissions of the
    user's umask. On an exception the temporary directory is deleted and ``target`` is untouched;
    temporaries left by a killed earlier write to the same target are deleted first
    (:func:`attributions.files.clean_stale`).

    Raises:
        FileExistsError: ``target`` exists and ``overwrite`` is False, or it is not a folder this
            toolkit wrote (unless ``foreign_ok``), or it cannot be deleted.
    """
    from attributions.errors import InputError
    from attributions.files import clean_stale, make_marked_dir

    target = Path(target)
    if not target.name or target.name in (".", ".."):
        raise InputError(f"{target} names no folder: give a path such as out/run1")
    check_replaceable(target, overwrite=overwrite, foreign_ok=foreign_ok)
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(target)
    tmp = make_marked_dir(target.parent, target.name)
    try:
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
