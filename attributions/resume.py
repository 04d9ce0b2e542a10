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
             sums: dict[str, torch.Tensor]) -> PartialSums:
        """This rank's partial sums: restored from ``directory`` when a matching file exists, else ``sums``.

        Raises:
            CheckpointMismatch: the directory holds files of another run or another world size.
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
            loaded = load_file(str(state.path))
            if set(loaded) != set(sums):
                raise CheckpointMismatch(f"{state.path} holds {sorted(loaded)}, expected {sorted(sums)}")
            for name, tensor in sums.items():
                tensor.copy_(loaded[name])
            state.done = json.loads(header["done"])
        return state

    def save(self) -> None:
        """Write the sums atomically (temporary file, then rename)."""
        with atomic_file(self.path) as tmp:
            save_file({k: v.contiguous() for k, v in self.sums.items()}, str(tmp),
                      metadata={"format": _FORMAT, "key": self.key, "done": json.dumps(self.done)})
