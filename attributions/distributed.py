"""Data parallelism over a ``torch.distributed`` process group, and a no-op without one.

Attribution scores and evaluation results are sums (or lists) over examples, so every rank
works on its share of the batches and the results are combined: sums by ``all_reduce``,
per-item values by ``all_gather_object``. Without an initialised process group every helper
behaves as the single-process case (rank 0 of 1), so the same code runs either way.

Batches are dealt round-robin (batch ``i`` goes to rank ``i % world``): the batches themselves
are the same as in one process, so every per-batch result is the same, and only the order of
the final summation differs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

import numpy as np
import torch
import torch.distributed as dist

from .errors import InputError

__all__ = [
    "all_reduce_sum", "barrier", "env_int", "init_from_env", "is_distributed", "is_main", "local_device",
    "rank", "rank_zero_first", "shard", "sum_arrays", "world_size",
]

T = TypeVar("T")


def is_distributed() -> bool:
    """True inside an initialised process group with more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """Rank 0 (or no process group): the process that prints and writes results."""
    return rank() == 0


def env_int(name: str, default: int) -> int:
    """The whole number in the environment variable ``name`` (set by ``torchrun``), ``default`` when unset."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise InputError(f"the environment variable {name} is {value[:40]!r}, not a whole number >= 0; torchrun "
                         f"sets it: unset it (unset {name}) to run in one process, or launch with torchrun")
    return number


def init_from_env(backend: str | None = None) -> bool:
    """Join the process group that ``torchrun`` describes in the environment (``WORLD_SIZE`` > 1).

    The backend defaults to ``nccl`` when CUDA is available and ``gloo`` otherwise. Returns
    whether a multi-process group is active afterwards; without ``torchrun`` it does nothing.
    """
    if is_distributed():
        return True
    if env_int("WORLD_SIZE", 1) <= 1:
        return False
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed support")
    for name in ("RANK", "LOCAL_RANK"):  # torch would raise a bare ValueError on a malformed value
        env_int(name, 0)
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend == "nccl":
        torch.cuda.set_device(env_int("LOCAL_RANK", 0))
    dist.init_process_group(backend=backend)
    return is_distributed()


def local_device() -> torch.device:
    """This rank's device: ``cuda:LOCAL_RANK`` when CUDA is available, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", env_int("LOCAL_RANK", 0))
    return torch.device("cpu")


def _comm_device() -> torch.device:
    """Where collective tensors must live for the active backend (nccl: this rank's GPU)."""
    return local_device() if dist.get_backend() == "nccl" else torch.device("cpu")


def shard(items: Sequence[T]) -> list[tuple[int, T]]:
    """This rank's share of ``items`` as ``(index, item)``: every ``world``-th, starting at ``rank``."""
    r, w = rank(), world_size()
    return [(i, item) for i, item in enumerate(items) if i % w == r]


def all_reduce_sum(tensors: Sequence[torch.Tensor]) -> None:
    """Sum each tensor over ranks, in place (float64 tensors stay float64; gloo and nccl both do that)."""
    if not is_distributed():
        return
    device = _comm_device()
    for tensor in tensors:
        moved = tensor.to(device)
        dist.all_reduce(moved, op=dist.ReduceOp.SUM)
        if moved is not tensor:
            tensor.copy_(moved.to(tensor.device))


def sum_arrays(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Elementwise sums over ranks of numpy arrays (float64 or int64), e.g. per-item results that
    each rank filled for its own items and left at zero elsewhere: the sum is then exact."""
    if not is_distributed():
        return arrays
    out = []
    for array in arrays:
        tensor = torch.from_numpy(np.ascontiguousarray(array)).to(_comm_device())
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        out.append(tensor.cpu().numpy())
    return tuple(out)


def barrier() -> None:
    if is_distributed():
        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[local_device().index])
        else:
            dist.barrier()


@contextmanager
def rank_zero_first() -> Iterator[None]:
    """Rank 0 runs the block first (e.g. to download or convert a model into a shared cache), the others after it."""
    if not is_main():
        barrier()
    try:
        yield
    finally:
        if is_main():
            barrier()
