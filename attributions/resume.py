"""Resumable attribution: partial sums saved every N batches, one file per rank.

A checkpoint directory holds ``rank{r}-of{w}.safetensors`` per rank: that rank's running sums
(float64, exact) and, in the header, the indices of the batches they cover and a key that
identifies the run (weights fingerprint, objective rows, method and settings, world size). A
killed run restarted with the same arguments skips the finished batches; because a rank always
finishes its batches in the same order and the sums are restored bit for bit, the result is the
same as that of an uninterrupted run. Files are written to a temporary name and renamed, so a
kill during a save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Collection
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from .errors import InputError
from .files import atomic_file

__all__ = ["CheckpointMismatch", "PartialSums", "run_key"]

_FORMAT = "neuronedit.partial-sums/1"


class CheckpointMismatch(InputError):
    """The checkpoint directory belongs to another run; the message says how to proceed."""


def run_key(description: dict[str, Any], rows: list[Any]) -> str:
    """SHA-256 of a run's settings and its encoded rows (token ids, terms, sides): same key, same work."""
    digest = hashlib.sha256(json.dumps(description, sort_keys=True, default=str).encode())
    for row in rows:
        digest.update(json.dumps([row.ids, row.terms, row.example, row.side]).encode())
    return digest.hexdigest()


class PartialSums:
    """Named float64 sums plus the batches they cover, saved to and restored from one file."""

    def __init__(self, path: Path, key: str, sums: dict[str, torch.Tensor]) -> None:
        self.path, self.key, self.sums = path, key, sums
        self.done: list[int] = []

    @classmethod
    def open(cls, directory: str | os.PathLike[str], *, rank: int, world: int, key: str,
             sums: dict[str, torch.Tensor], batches: Collection[int] | None = None) -> PartialSums:
        """This rank's partial sums: restored from ``directory`` when a matching file exists, else ``sums``.
        ``batches`` are the indices of this rank's batches: the saved ``done`` list must be drawn from them.

        Raises:
            CheckpointMismatch: the directory holds files of another run or another world size, or a file
                whose sums or ``done`` list do not fit this run (damaged or edited).
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        others = sorted(p.name for p in directory.glob("rank*-of*.safetensors")
                        if not p.name.endswith(f"-of{world}.safetensors"))
        if others:
            raise CheckpointMismatch(
                f"{directory} holds partial sums of a run with another number of processes ({', '.join(others)}); "
                f"resume with that number of processes, or delete the directory to start over"
            )
        state = cls(directory / f"rank{rank}-of{world}.safetensors", key, sums)
        if state.path.is_file():
            try:
                with safe_open(str(state.path), framework="pt") as handle:
                    header = handle.metadata() or {}
            except Exception as err:  # safetensors raises its own error types for damaged files
                raise CheckpointMismatch(f"{state.path} cannot be read ({err}); delete it to start over") from err
            if header.get("format") != _FORMAT:
                raise CheckpointMismatch(
                    f"{state.path} is not a neuronedit partial-sums file; delete it or pick another directory")
            if header.get("key") != key:
                raise CheckpointMismatch(
                    f"{directory} was written by a different run (other model weights, data, method or settings); "
                    "delete it or pick another checkpoint directory"
                )
            state.done = _restore(state.path, header, sums, batches)
        return state

    def save(self) -> None:
        """Write the sums atomically (temporary file, then rename)."""
        with atomic_file(self.path) as tmp:
            save_file({k: v.contiguous() for k, v in self.sums.items()}, str(tmp),
                      metadata={"format": _FORMAT, "key": self.key, "done": json.dumps(self.done)})


_NON_NEGATIVE = ("n", "sumsq", "pos", "neg", "count")
"""Sums that are counts or squares in every run (attributions.engine): a negative one was tampered with."""


def _restore(path: Path, header: dict[str, str], sums: dict[str, torch.Tensor],
             batches: Collection[int] | None) -> list[int]:
    """Copy the saved sums of ``path`` into ``sums`` (same names, shapes and dtypes) and return its ``done``."""
    fix = "delete it to start over"
    try:
        done = json.loads(header["done"])
    except (KeyError, ValueError):
        raise CheckpointMismatch(f"{path} has no valid 'done' list of finished batches; {fix}") from None
    if (not isinstance(done, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in done)
            or len(set(done)) != len(done)):
        raise CheckpointMismatch(f"{path}: 'done' must be a list of distinct batch indices, not "
                                 f"{json.dumps(done)[:60]}; {fix}")
    if batches is not None and not set(done) <= set(batches):
        raise CheckpointMismatch(f"{path}: 'done' names batches this run does not have "
                                 f"({sorted(set(done) - set(batches))[:5]}); {fix}")
    try:
        loaded = load_file(str(path))
    except Exception as err:  # safetensors raises its own error types for damaged data
        raise CheckpointMismatch(f"{path} cannot be read ({err}); {fix}") from err
    if set(loaded) != set(sums):
        raise CheckpointMismatch(f"{path} holds {sorted(loaded)}, expected {sorted(sums)}; {fix}")
    for name, tensor in sums.items():
        got = loaded[name]
        if got.shape != tensor.shape or got.dtype != tensor.dtype:
            raise CheckpointMismatch(f"{path}: sum {name!r} is {got.dtype} {list(got.shape)}, expected "
                                     f"{tensor.dtype} {list(tensor.shape)}; {fix}")
        if got.is_floating_point() and not bool(torch.isfinite(got).all()):
            raise CheckpointMismatch(f"{path}: sum {name!r} holds NaN or infinite values, which no run saves; {fix}")
        if name in _NON_NEGATIVE and bool((got < 0).any()):
            raise CheckpointMismatch(f"{path}: sum {name!r} is negative, which no run saves; {fix}")
    for name, tensor in sums.items():
        tensor.copy_(loaded[name])
    return done
