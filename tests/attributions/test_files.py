"""The one atomic write (``attributions.files.atomic_file``) and the savers built on it."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys

import pytest
import torch
from locations import REPO

from attributions import NeuronScores, NeuronSet, files
from attributions.resume import PartialSums

DEAD_PID = 2**22 + 12345  # above the default pid_max: no such process


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_atomic_file_has_one_home():
    from neuronedit.model import cache

    assert not hasattr(cache, "atomic_file") and not hasattr(cache, "clean_stale")


def test_success_replaces_the_target_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "out.json"  # the folder is created
    with files.atomic_file(target) as tmp:
        assert tmp.parent.parent == target.parent and tmp.name == target.name and not tmp.exists()
        assert re.fullmatch(rf"\.out\.json\.tmp-{os.getpid()}-\w+", tmp.parent.name), tmp.parent.name
        assert (tmp.parent / files.MARKER).is_file(), "the temporary folder carries the toolkit's marker"
        tmp.write_text("new")
        assert not target.exists(), "the target appears only when the block succeeds"
    assert target.read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask(), "the file follows the user's umask"


def test_importing_the_cache_module_loads_no_torch():
    """The CLI parser imports ``neuronedit.model.cache``: it must not pull in torch or ``attributions``."""
    code = ("import sys, types\n"
            "face = types.ModuleType('neuronedit'); face.__path__ = [sys.argv[1]]\n"
            "sys.modules['neuronedit'] = face\n"
            "import neuronedit.model.cache\n"
            "print(sorted(m for m in ('torch', 'attributions') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code, str(REPO / "neuronedit")], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == "[]"


@pytest.mark.parametrize("wrote", [True, False])
def test_an_exception_leaves_the_target_untouched_and_no_temporary(tmp_path, wrote):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"), files.atomic_file(target) as tmp:
        if wrote:
            tmp.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_two_writes_in_one_process_get_different_temporaries(tmp_path):
    target = tmp_path / "out"
    with files.atomic_file(target) as a, files.atomic_file(target) as b:
        assert a != b
        a.write_text("a")
        b.write_text("b")
    assert target.read_text() == "a"  # the outer block finishes last


def test_a_folder_is_refused(tmp_path):
    with pytest.raises(IsADirectoryError), files.atomic_file(tmp_path):
        pass


def _marked(path):
    path.mkdir()
    (path / files.MARKER).write_text("")
    (path / "out.json").write_text("part")
    return path


def test_temporaries_of_killed_writes_are_removed_those_of_live_ones_kept(tmp_path):
    target = tmp_path / "out.json"
    dead = _marked(tmp_path / f".out.json.tmp-{DEAD_PID}-abcd1234")
    live = _marked(tmp_path / f".out.json.tmp-{os.getppid()}-abcd1234")  # our parent: running
    other = _marked(tmp_path / f".other.json.tmp-{DEAD_PID}-x")  # another target's
    with files.atomic_file(target) as tmp:
        tmp.write_text("whole")
    assert not dead.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out.json", live.name, other.name])


def test_cleaning_leaves_the_users_look_alikes(tmp_path):
    """A file or an unmarked folder of the user's with a temporary's name is never deleted or moved."""
    target = tmp_path / "out"
    mine = [tmp_path / f".out.tmp-{DEAD_PID}-notes", tmp_path / f".out.old-{DEAD_PID}"]
    mine[0].write_text("my notes")
    mine[1].mkdir()
    (mine[1] / "thesis.tex").write_text("mine")
    assert files.clean_stale(target) == []
    assert mine[0].read_text() == "my notes" and (mine[1] / "thesis.tex").read_text() == "mine"
    assert not target.exists(), "an unmarked .old- folder is not renamed into the missing target"
    with files.atomic_file(target) as tmp:
        tmp.write_text("new")
    assert all(p.exists() for p in mine)


def _fail_after_writing(monkeypatch, module):
    """Make ``module.save_file`` write part of a file, then fail."""

    def save_file(tensors, path, metadata=None):
        with open(path, "wb") as handle:
            handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(module, "save_file", save_file)


def test_neuron_set_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "set.json"
    NeuronSet([(0, 1), (1, 2)]).save(path)
    assert NeuronSet.load(path) == NeuronSet([(0, 1), (1, 2)])
    monkeypatch.setattr(NeuronSet, "to_json", lambda self, meta=None: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError):
        NeuronSet([(3, 3)]).save(path)
    assert NeuronSet.load(path) == NeuronSet([(0, 1), (1, 2)])
    assert [p.name for p in tmp_path.iterdir()] == ["set.json"]


def test_scores_save_is_atomic(tmp_path, monkeypatch):
    import safetensors.torch

    path = tmp_path / "scores.safetensors"
    scores = NeuronScores(torch.arange(6.0).view(2, 3), meta={"method": "x"})
    scores.save(path)
    before = path.read_bytes()
    _fail_after_writing(monkeypatch, safetensors.torch)
    with pytest.raises(OSError, match="disk full"):
        NeuronScores(torch.zeros(2, 3)).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["scores.safetensors"]


def test_partial_sums_save_is_atomic(tmp_path, monkeypatch):
    from attributions import resume

    sums = {"sum": torch.ones(2, 3, dtype=torch.float64)}
    state = PartialSums.open(tmp_path, rank=0, world=1, key="k", sums=sums)
    state.done.append(0)
    state.save()
    before = state.path.read_bytes()
    _fail_after_writing(monkeypatch, resume)
    state.done.append(1)
    with pytest.raises(OSError, match="disk full"):
        state.save()
    assert state.path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [state.path.name]


@pytest.mark.parametrize("reader", ["neuron set", "manifest"])
def test_a_json_file_too_large_is_refused_before_it_is_read(reader, tmp_path, monkeypatch):
    from attributions.errors import InputError
    from neuronedit.edits import load_manifest

    path = tmp_path / "big.json"
    path.write_text(" " * 2000 + "{}")
    monkeypatch.setattr(files, "MAX_JSON_BYTES", 1000)
    monkeypatch.setattr(type(path), "read_text", lambda *a, **k: pytest.fail("read whole"))
    load = NeuronSet.load if reader == "neuron set" else load_manifest
    with pytest.raises(InputError, match=rf"2,002 bytes, more than a {reader} can be \(at most 1,000\)"):
        load(path)


@pytest.mark.parametrize("where", ["scores", "control"])
def test_non_finite_scores_are_never_written(where, tmp_path):
    from attributions.errors import InputError

    bad = torch.zeros(2, 3)
    bad[1, 2] = float("nan")
    good = torch.ones(2, 3)
    scores = NeuronScores(bad if where == "scores" else good)
    if where == "control":
        scores.control = NeuronScores(bad)
    path = tmp_path / "s.safetensors"
    with pytest.raises(InputError, match="not written: 1 of 6 (control )?scores are NaN"):
        scores.save(path)
    assert not path.exists() and list(tmp_path.iterdir()) == []
