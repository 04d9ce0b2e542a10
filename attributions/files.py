"""Atomic file writes: the one way this project replaces a file (standard library only).

A write goes to a temporary ``.NAME.tmp-PID-TOKEN`` beside the target and is renamed onto it when
complete, so a reader sees the old file or the new one, never a part. A killed writer leaves its
temporary behind; the next write to the same target deletes it (:func:`clean_stale`).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_file", "clean_stale"]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def clean_stale(target: Path) -> list[Path]:
    """Delete the temporaries (``.NAME.tmp-PID-*``, ``.NAME.old-PID``) that a killed write to
    ``target`` left beside it; those of running processes are kept, and a previous version moved
    aside (``.old-``) is put back when ``target`` is missing. Returns the paths handled."""
    removed: list[Path] = []
    if not target.parent.is_dir():
        return removed
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(?:tmp|old)-(\d+)(?:-.*)?")
    for path in target.parent.iterdir():
        match = pattern.fullmatch(path.name)
        if match and int(match.group(1)) != os.getpid() and not _pid_alive(int(match.group(1))):
            if ".old-" in path.name and not target.exists() and not target.is_symlink():
                os.replace(path, target)  # killed between the two renames: the previous version comes back
            elif path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


@contextmanager
def atomic_file(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target`` (not yet created); rename it onto ``target`` when
    the block succeeds.

    The writer in the block creates the file, so it gets the permissions of the user's umask. On
    an exception the temporary is removed and ``target`` is untouched. The parent folder is
    created, and temporaries of killed earlier writes to ``target`` are deleted first.

    Raises:
        IsADirectoryError: ``target`` is a folder.
    """
    target = Path(target)
    if target.is_dir():
        raise IsADirectoryError(21, "is a folder; give a file name", str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(target)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
