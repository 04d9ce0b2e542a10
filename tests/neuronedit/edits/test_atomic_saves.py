"""Saving edited checkpoints is atomic: no overwrite without asking, a killed save leaves no partial
checkpoint and keeps the previous one, stale temporaries are cleaned only when their writer is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
from locations import REPO, TESTS
from tiny_models import tiny_lm

from attributions import LanguageModel, NeuronSet
from neuronedit import EditError, masked, save_edited
from neuronedit.edits import load_manifest

NEURONS = NeuronSet([(0, 3), (0, 17), (1, 5), (1, 40), (0, 47)])


def _lm(arch: str, seed: int = 0) -> LanguageModel:
    return tiny_lm(arch, seed, bos=False, bias_std=0.1)  # the models of test_weight_edits.py


def test_save_refuses_to_overwrite_and_keeps_previous(tmp_path):
    lm = _lm("llama")
    with masked(lm, NEURONS) as edit:
        save_edited(lm, tmp_path / "ckpt", edit)
        with pytest.raises(FileExistsError, match="overwrite=True"):
            save_edited(lm, tmp_path / "ckpt", edit)
    with pytest.raises(EditError, match="carries no edit"):
        save_edited(lm, tmp_path / "other")
    with masked(lm, NeuronSet([(1, 1)])) as edit2:
        save_edited(lm, tmp_path / "ckpt", edit2, overwrite=True)
    assert [e.neurons for e in load_manifest(tmp_path / "ckpt")] == [edit2.neurons]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


_KILLED_SAVE = textwrap.dedent("""
    import sys, time, torch
    sys.path.insert(0, {tests!r})
    sys.path.append({repo!r})  # the real packages, not the namespace folders tests/attributions, tests/neuronedit
    from tiny_models import tiny_lm
    from attributions import NeuronSet
    from neuronedit import masked, save_edited
    import transformers.modeling_utils as mu
    original = mu.PreTrainedModel.save_pretrained
    def slow_save(self, path, **kw):
        original(self, path, **kw)
        print("WRITING", flush=True)
        time.sleep(60)
    mu.PreTrainedModel.save_pretrained = slow_save
    lm = tiny_lm("llama", bos=False, name="")
    with masked(lm, NeuronSet([(0, 1)])) as edit:
        save_edited(lm, {out!r}, edit, overwrite=True)
""")


def test_killed_save_leaves_no_partial_checkpoint_and_keeps_previous(tmp_path):
    out = tmp_path / "ckpt"
    script = _KILLED_SAVE.format(tests=str(TESTS), repo=str(REPO), out=str(out))
    for previous in (False, True):
        if previous:
            lm = _lm("llama")
            with masked(lm, NEURONS) as edit:
                save_edited(lm, out, edit)
            files = {p.name: p.read_bytes() for p in out.iterdir()}
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "WRITING"  # weights written to the temporary directory
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(timeout=60)
        if previous:
            assert {p.name: p.read_bytes() for p in out.iterdir()} == files
            assert [e.neurons for e in load_manifest(out)] == [edit.neurons]
        else:
            assert not out.exists()
        stale = [p for p in tmp_path.iterdir() if p.name.startswith(".ckpt.tmp-")]
        assert stale, "the killed save left its temporary folder (then cleaned by the next save)"
    lm = _lm("llama")
    with masked(lm, NEURONS) as edit:
        save_edited(lm, out, edit, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"], "stale temporaries of the target are removed"


def test_stale_temporaries_of_live_processes_are_kept_and_a_moved_aside_version_comes_back(tmp_path):
    from attributions.files import MARKER, clean_stale
    from neuronedit.model.cache import atomic_dir

    target = tmp_path / "out"
    live = tmp_path / f".out.tmp-{os.getppid()}-abc"  # a write still running (our parent process)
    live.mkdir()
    (live / MARKER).write_text("")
    dead_pid = 2**22 + 12345  # above the default pid_max: no such process
    moved = tmp_path / f".out.old-{dead_pid}"  # killed between the two renames of an overwrite
    moved.mkdir()
    (moved / MARKER).write_text("")
    (moved / "weights").write_text("previous")
    other = tmp_path / f".other.tmp-{dead_pid}-x"  # another target's temporary: not ours to touch
    other.mkdir()
    (other / MARKER).write_text("")
    clean_stale(target)
    assert (target / "weights").read_text() == "previous" and live.is_dir() and other.is_dir()
    with atomic_dir(target, overwrite=True) as tmp:
        (tmp / "weights").write_text("new")
    assert (target / "weights").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name, "out"])
