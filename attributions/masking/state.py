"""The state of a mask training run, saved every N steps so a killed run resumes where it stopped.

One file, ``mask-state.safetensors``, holds the gate locations, the optimiser's moment estimates,
the noise generator's state and the loss history, exactly; its header holds the number of steps
done and a key identifying the run (weights fingerprint, encoded rows, options, world size). The
file is written by rank 0 to a temporary name and renamed, so a kill during a save leaves the
previous state intact. A resumed run continues bit for bit as the uninterrupted one would have.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ..files import atomic_file
from ..resume import CheckpointMismatch

__all__ = ["MaskState"]

_FORMAT = "neuronedit.mask-state/1"
FILE_NAME = "mask-state.safetensors"


@dataclass
class MaskState:
    """Everything a training step changes. ``history [steps_done, len(HISTORY)]`` float64."""

    log_alpha: torch.Tensor  # [L, N] float32, the gate locations (trained)
    exp_avg: torch.Tensor  # [L, N] Adam's first moment
    exp_avg_sq: torch.Tensor  # [L, N] Adam's second moment
    noise: torch.Tensor  # uint8, torch.Generator.get_state()
    seen: torch.Tensor  # [bias batches] float64, each bias batch's objective sum when it was last seen
    history: torch.Tensor  # [steps_done, len(HISTORY)] float64

    @property
    def steps_done(self) -> int:
        return int(self.history.shape[0])

    def save(self, directory: str | os.PathLike[str], key: str) -> None:
        """Write the state atomically to ``directory/mask-state.safetensors``."""
        with atomic_file(Path(directory) / FILE_NAME) as tmp:
            tensors = {name: getattr(self, name).contiguous() for name in self.__dataclass_fields__}
            save_file(tensors, str(tmp), metadata={"format": _FORMAT, "key": key})

    @classmethod
    def load(cls, directory: str | os.PathLike[str], key: str, fresh: MaskState) -> MaskState:
        """The saved state of this run (``key``) in ``directory``, or ``fresh`` when none was saved.

        Raises:
            CheckpointMismatch: the file belongs to another run, is damaged, or holds tensors whose
                names, shapes, dtypes or values no run writes (it is read as untrusted input).
        """
        path = Path(directory) / FILE_NAME
        if not path.is_file():
            return fresh
        fix = "delete it to start over"
        try:
            with safe_open(str(path), framework="pt") as handle:
                header = handle.metadata() or {}
            loaded = load_file(str(path))
        except Exception as err:  # safetensors raises its own error types for damaged files
            raise CheckpointMismatch(f"{path} cannot be read ({err}); {fix}") from err
        if header.get("format") != _FORMAT:
            raise CheckpointMismatch(f"{path} is not a neuronedit mask-state file; {fix} or pick another directory")
        if header.get("key") != key:
            raise CheckpointMismatch(f"{path} was written by a different run (other weights, data or options); "
                                     f"{fix} or pick another checkpoint directory")
        names = set(cls.__dataclass_fields__)
        if set(loaded) != names:
            raise CheckpointMismatch(f"{path} holds {sorted(loaded)}, expected {sorted(names)}; {fix}")
        for name in names:
            want, got = getattr(fresh, name), loaded[name]
            same_shape = got.shape[1:] == want.shape[1:] if name == "history" else got.shape == want.shape
            if not same_shape or got.dtype != want.dtype:
                raise CheckpointMismatch(f"{path}: {name} is {got.dtype} {list(got.shape)}, expected "
                                         f"{want.dtype} {list(want.shape)}; {fix}")
            if got.is_floating_point() and not bool(torch.isfinite(got).all()):
                raise CheckpointMismatch(f"{path}: {name} holds NaN or infinite values, which no run saves; {fix}")
        if bool((loaded["exp_avg_sq"] < 0).any()):
            raise CheckpointMismatch(f"{path}: exp_avg_sq is negative, which no run saves; {fix}")
        try:
            torch.Generator().set_state(loaded["noise"])
        except RuntimeError as err:
            raise CheckpointMismatch(f"{path}: the noise generator state is invalid ({err}); {fix}") from None
        return cls(**loaded)
