"""A partial-sums checkpoint whose sums or ``done`` list were damaged or edited is refused, naming the file
(it used to crash, or to restore int64 sums as all-zero scores), and a malformed WORLD_SIZE is named."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from attributions.distributed import env_int
from attributions.errors import InputError
from attributions.resume import CheckpointMismatch, PartialSums

FORMAT = "neuronedit.partial-sums/1"


def _sums() -> dict[str, torch.Tensor]:
    return {"sum": torch.zeros(2, 3, dtype=torch.float64), "count": torch.zeros(2, 3, dtype=torch.float64)}


def _tampered(tmp_path: Path, tensors: dict[str, torch.Tensor], **header: str) -> Path:
    path = tmp_path / "rank0-of1.safetensors"
    save_file(tensors, str(path), metadata={"format": FORMAT, "key": "k", **header})
    return path


def test_a_good_checkpoint_is_restored(tmp_path: Path) -> None:
    sums = {name: torch.full((2, 3), 1.5, dtype=torch.float64) for name in _sums()}
    _tampered(tmp_path, sums, done="[0, 2]")
    state = PartialSums.open(tmp_path, rank=0, world=1, key="k", sums=_sums(), batches=[0, 1, 2])
    assert state.done == [0, 2] and torch.equal(state.sums["sum"], sums["sum"])


@pytest.mark.parametrize(("tensors", "header", "message"), [
    ({"sum": torch.zeros(4, 3, dtype=torch.float64), "count": torch.zeros(2, 3, dtype=torch.float64)},
     {"done": "[0]"}, r"sum 'sum' is torch.float64 \[4, 3\], expected torch.float64 \[2, 3\]"),
    ({"sum": torch.ones(2, 3, dtype=torch.int64), "count": torch.ones(2, 3, dtype=torch.int64)},
     {"done": "[0]"}, "is torch.int64 \\[2, 3\\], expected torch.float64"),
    (_sums(), {}, "has no valid 'done' list"),
    (_sums(), {"done": "not json"}, "has no valid 'done' list"),
    (_sums(), {"done": '"abc"'}, "'done' must be a list of distinct batch indices, not \"abc\""),
    (_sums(), {"done": "[0, 0]"}, "'done' must be a list of distinct batch indices"),
    (_sums(), {"done": "[0, 7]"}, r"'done' names batches this run does not have \(\[7\]\)"),
    ({"sum": torch.full((2, 3), float("nan"), dtype=torch.float64), "count": torch.ones(2, 3, dtype=torch.float64)},
     {"done": "[0]"}, "sum 'sum' holds NaN or infinite values"),
    ({"sum": torch.ones(2, 3, dtype=torch.float64), "count": -torch.ones(2, 3, dtype=torch.float64)},
     {"done": "[0]"}, "sum 'count' is negative"),
])
def test_a_tampered_checkpoint_is_refused_with_the_file(tmp_path: Path, tensors: dict[str, torch.Tensor],
                                                       header: dict[str, str], message: str) -> None:
    path = _tampered(tmp_path, tensors, **header)
    with pytest.raises(CheckpointMismatch, match=message) as caught:
        PartialSums.open(tmp_path, rank=0, world=1, key="k", sums=_sums(), batches=[0, 1, 2])
    assert str(path) in str(caught.value) and "delete it to start over" in str(caught.value)


def test_world_size_must_be_a_whole_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "abc")
    with pytest.raises(InputError, match="environment variable WORLD_SIZE is 'abc', not a whole number >= 0"):
        env_int("WORLD_SIZE", 1)
    monkeypatch.setenv("WORLD_SIZE", "-2")
    with pytest.raises(InputError, match="WORLD_SIZE is '-2'"):
        env_int("WORLD_SIZE", 1)
    monkeypatch.setenv("WORLD_SIZE", " 3 ")
    assert env_int("WORLD_SIZE", 1) == 3
    monkeypatch.delenv("WORLD_SIZE")
    assert env_int("WORLD_SIZE", 1) == 1


def test_a_malformed_rank_is_refused_before_torch_sees_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from attributions import distributed

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "x")
    monkeypatch.setattr(distributed.dist, "init_process_group", lambda **kw: pytest.fail("reached torch"))
    with pytest.raises(InputError, match="environment variable RANK is 'x'"):
        distributed.init_from_env()
