"""``python -m neuronedit.harness run --model neuronedit --model_args ...`` with the argument strings users
type: every bad value is one line naming the argument (and file) and the fix, exit 2, no traceback; a batch
size in ``model_args`` or ``--batch_size`` runs; importing the module without lm-eval names the extra.

The entry point runs in this process (``main``, reading ``sys.argv`` as ``python -m`` does) with the
harness's index of its built-in tasks left out (the local task of the test is the only one), so a run takes
a second, not the twenty the index takes; one test runs ``python -m neuronedit.harness`` itself."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

import pytest
from harness_tasks import write_pairs_task
from locations import REPO
from tiny_models import tiny_model_dir

pytest.importorskip("lm_eval")

from attributions import NeuronSet
from neuronedit import load_model
from neuronedit.edits import prune_, save_manifest

PREFIX = "neuronedit.harness: error:"
FIX_FORCE = "force=true"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny checkpoint, a local one-item task, and good and bad edit and neuron files for it."""
    root = tmp_path_factory.mktemp("harness")
    checkpoint = tiny_model_dir(root / "tiny")
    write_pairs_task(root, [("the nurse said that she was home", "the nurse said that he was home")])
    NeuronSet([(0, 3), (1, 5)]).save(root / "neurons.json")
    edit = prune_(load_model(str(checkpoint)), NeuronSet([(0, 3), (1, 5)]))
    good = save_manifest([edit], root / "neuronedit.json")
    save_manifest([dataclasses.replace(edit, base_fingerprint="0123456789abcdef")], root / "otherfp.json")
    manifest = json.loads(good.read_text())
    sneaky = json.loads(json.dumps(manifest))
    sneaky["edits"][0].update(mode="unlearn", neurons=[], delta="../../evil.safetensors", delta_sha256="0" * 64)
    sneaky["edits"][0].pop("id")
    (root / "traversal.json").write_text(json.dumps(sneaky))
    (root / "broken.json").write_text('{"format": ')
    set_format = json.loads((root / "neurons.json").read_text())["format"]
    (root / "twice.json").write_text(json.dumps({"format": set_format, "neurons": [[0, 3], [0, 3]]}))
    return {"root": root, "tiny": checkpoint, "good": good, **{p.stem: p for p in root.glob("*.json")}}


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Offline; the harness's built-in task index left out of every in-process run, and its log sent to
    pytest's (not to a handler bound to one test's captured stderr)."""
    import logging

    from lm_eval import tasks, utils

    for name in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.setenv(name, "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "datasets-cache"))

    class LocalTasksOnly(tasks.TaskManager):  # type: ignore[misc, name-defined]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **{**kwargs, "include_defaults": False})

    monkeypatch.setattr(tasks, "TaskManager", LocalTasksOnly)
    monkeypatch.setattr(utils, "_LOGGING_CONFIGURED", True)
    log = logging.getLogger("lm_eval")
    monkeypatch.setattr(log, "handlers", [])
    monkeypatch.setattr(log, "propagate", True)


def _harness(capsys: pytest.CaptureFixture[str], files: dict[str, Path], *args: str) -> tuple[int, str]:
    """Exit code and stderr of ``python -m neuronedit.harness run --model neuronedit ARGS`` on the local task,
    in this process; an escaping exception is printed as Python would (a traceback, exit 1)."""
    from neuronedit.harness import main

    argv = ["neuronedit.harness", "run", "--model", "neuronedit", *args, "--tasks", "neuronedit_pairs",
            "--include_path", str(files["root"]), "--limit", "1"]
    saved, sys.argv = sys.argv, argv
    capsys.readouterr()
    try:
        code = main() or 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except Exception:  # noqa: BLE001 - printed as `python -m` would, for the test to see
        traceback.print_exc()
        code = 1
    finally:
        sys.argv = saved
    return code, capsys.readouterr().err


def _refused(code: int, err: str, *needles: str) -> str:
    """The one error line of a refused run, after checking exit 2, no traceback and every needle in it."""
    assert "Traceback" not in err, err[-3000:]
    assert code == 2, err[-3000:]
    lines = [line for line in err.splitlines() if line.startswith(PREFIX)]
    assert len(lines) == 1, err[-3000:]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _args(files: dict[str, Path], text: str) -> str:
    return text.format(**{k: str(v) for k, v in files.items()})


@pytest.mark.parametrize(("model_args", "needles"), [
    ("pretrained={tiny},edit={root}/missing.json", ["edit=", "missing.json", "neuronedit.json"]),
    ("pretrained={tiny},device=meta", ["device=meta", "cannot run a model", "cpu"]),
    ("pretrained={tiny},edit={traversal}",
     ["edit=", "traversal.json", "../../evil.safetensors", "next to the manifest"]),
    ("pretrained={tiny},edit={broken}", ["edit=", "broken.json", "not valid JSON"]),
    ("pretrained={tiny},edit={otherfp}", ["edit=", "otherfp.json", "0123456789abcdef", FIX_FORCE]),
    ("pretrained={tiny},edit=", ["edit=", "give the path"]),
    ("pretrained={tiny},neurons={twice}", ["neurons=", "twice.json", "[0, 3] twice", "list each neuron once"]),
    ("pretrained={tiny},neurons={broken}", ["neurons=", "broken.json", "no neuron set", "NeuronSet.save"]),
    ("pretrained={tiny},neurons={root}/missing.json", ["neurons=", "missing.json", "check the path"]),
    ("pretrained={tiny},neurons={neurons},mode=bogus", ["mode=bogus", "mode=zero or mode=mean"]),
    ("pretrained={tiny},mode=mean", ["mode=mean", "neurons="]),
    ("pretrained={tiny},force=maybe", ["force=maybe", "force=true or force=false"]),
    ("pretrained={tiny},edits={good}", ["edits", "unknown", "edit="]),
    ("pretrained={tiny},tokenizer=gpt2", ["tokenizer", "pretrained="]),
    ("pretrained={root}/nowhere", ["pretrained=", "nowhere"]),
    ("pretrained={tiny},batch_size=eight", ["batch_size=eight", "auto"]),
    ("pretrained={tiny},batch_size=0", ["batch_size=0", "positive"]),
    ("pretrained={tiny},dtype=auto", ["dtype=auto", "dtype=float32"]),
])
def test_bad_model_args_are_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], files: dict[str, Path],
                                                model_args: str, needles: list[str]) -> None:
    code, err = _harness(capsys, files, "--model_args", _args(files, model_args))
    _refused(code, err, *needles)


def test_space_separated_and_json_model_args_are_checked_too(capsys: pytest.CaptureFixture[str],
                                                             files: dict[str, Path]) -> None:
    code, err = _harness(capsys, files, "--model_args", f"pretrained={files['tiny']}", "mode=bogus")
    _refused(code, err, "mode=bogus")
    code, err = _harness(capsys, files, "--model_args", json.dumps({"pretrained": str(files["tiny"]),
                                                                    "neurons": str(files["twice"])}))
    _refused(code, err, "twice.json", "list each neuron once")


def test_conflicting_batch_sizes_are_refused(capsys: pytest.CaptureFixture[str], files: dict[str, Path]) -> None:
    code, err = _harness(capsys, files, "--model_args", f"pretrained={files['tiny']},batch_size=8",
                         "--batch_size", "4")
    _refused(code, err, "batch_size=8", "--batch_size 4", "give one")


def test_batch_size_of_a_model_args_string_beats_the_default(files: dict[str, Path]) -> None:
    from neuronedit.harness import NeuronEditHarnessLM

    harness = NeuronEditHarnessLM.create_from_arg_string(f"pretrained={files['tiny']},batch_size=8",
                                                         {"batch_size": 1, "max_batch_size": None, "device": "cuda:0"})
    assert harness.batch_size == 8
    harness.close()


@pytest.mark.parametrize("how", ["model_args", "option", "both"])
def test_batch_size_8_runs(capsys: pytest.CaptureFixture[str], files: dict[str, Path], how: str) -> None:
    model_args = f"pretrained={files['tiny']},edit={files['good']}" + (",batch_size=8" if how != "option" else "")
    option = ["--batch_size", "8"] if how != "model_args" else []
    code, err = _harness(capsys, files, "--model_args", model_args, *option)
    assert code == 0, err[-3000:]
    assert "Traceback" not in err


def test_python_dash_m_refuses_a_missing_edit_file_in_one_line(files: dict[str, Path]) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    missing = files["root"] / "missing.json"
    done = subprocess.run([sys.executable, "-m", "neuronedit.harness", "run", "--model", "neuronedit",
                           "--model_args", f"pretrained={files['tiny']},edit={missing}", "--tasks", "neuronedit_pairs",
                           "--include_path", str(files["root"])], capture_output=True, text=True, env=env, timeout=600)
    line = _refused(done.returncode, done.stderr, str(missing))
    assert done.stderr.rstrip().endswith(line)


def test_import_without_lm_eval_names_the_extra() -> None:
    script = ("import sys\nsys.modules['lm_eval'] = None\ntry:\n    import neuronedit.harness\n"
              "except ImportError as err:\n    print(type(err).__name__, err)\nelse:\n    print('imported')\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("ModuleNotFoundError"), done.stdout
    assert "pip install 'neuronedit[lm-eval]'" in done.stdout, done.stdout


def test_python_dash_m_without_lm_eval_is_one_line_and_exit_2() -> None:
    script = ("import runpy, sys\nsys.modules['lm_eval'] = None\nsys.argv = ['neuronedit.harness', 'run']\n"
              "runpy.run_module('neuronedit.harness', run_name='__main__')\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and "Traceback" not in done.stderr
    assert "pip install 'neuronedit[lm-eval]'" in done.stderr, done.stderr
