"""No run loses data: outputs never replace an input of the run, each other, or a file or folder
neuronedit did not write; ``~`` means the home folder everywhere; names too long for the
temporary are refused before computing; a read-only toolkit folder is refused, not half-replaced."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from attributions.files import MARKER
from neuronedit.cli.outputs import EVALUATION_CSV_HEADER


def _text(path: Path) -> Path:
    path.write_text("The cat sat on the mat and looked at the door.\nA second line of plain text follows here.\n")
    return path


def _evaluate(model_dir: Path, data: str, *extra: str) -> list[str]:
    return ["evaluate", "--model", str(model_dir), "--data", data, "--n-boot", "10", "--quiet", *extra]


def test_evaluate_never_writes_over_the_data_it_reads(model_dir, tmp_path, run_cli):
    data = _text(tmp_path / "corpus.txt")
    before = data.read_bytes()
    for flag in ("--json", "--csv"):
        code, err = run_cli(_evaluate(model_dir, f"text:{data}", flag, str(data), "--overwrite"))
        assert code == 2 and "which this run reads (--data)" in err and str(data) in err, err
    assert data.read_bytes() == before


def test_json_and_csv_cannot_be_one_file(model_dir, tmp_path, run_cli):
    out = tmp_path / "r.out"
    code, err = run_cli(_evaluate(model_dir, "probes:gender", "--json", str(out), "--csv", str(out)))
    assert code == 2 and "--json and --csv name the same file" in err, err
    assert not out.exists()


def test_evaluate_replaces_only_its_own_files_and_only_with_overwrite(model_dir, tmp_path, run_cli):
    notes, table = tmp_path / "notes.json", tmp_path / "table.csv"
    notes.write_text('{"my": "notes"}')
    table.write_text("a,b\n1,2\n")
    for flag, path in (("--json", notes), ("--csv", table)):
        before = path.read_bytes()
        code, err = run_cli(_evaluate(model_dir, "probes:gender", flag, str(path)))
        assert code == 2 and "pass --overwrite" in err, err
        code, err = run_cli(_evaluate(model_dir, "probes:gender", flag, str(path), "--overwrite"))
        assert code == 2 and "is not an `evaluate" in err and "will not replace it" in err, err
        assert path.read_bytes() == before
    ours_json, ours_csv = tmp_path / "r.json", tmp_path / "r.csv"
    argv = _evaluate(model_dir, "probes:gender", "--json", str(ours_json), "--csv", str(ours_csv))
    assert run_cli(argv)[0] == 0
    assert json.loads(ours_json.read_text())["format"] == "neuronedit-evaluation"
    assert ours_csv.read_text().splitlines()[0] == EVALUATION_CSV_HEADER
    assert run_cli(argv)[0] == 2, "an existing output needs --overwrite"
    assert run_cli([*argv, "--overwrite"])[0] == 0, "evaluate's own files are replaced"


def test_attribute_overwrite_replaces_only_a_scores_file(model_dir, tmp_path, run_cli):
    foreign = tmp_path / "weights.safetensors"
    foreign.write_bytes(b"not scores at all")
    argv = ["attribute", "--model", str(model_dir), "--data", "probes:gender", "--limit", "4", "--no-control",
            "--quiet", "--out", str(foreign), "--overwrite"]
    code, err = run_cli(argv)
    assert code == 2 and "is not a neuronedit scores file" in err, err
    assert foreign.read_bytes() == b"not scores at all"
    ours = tmp_path / "scores.safetensors"
    assert run_cli([*argv[:-2], str(ours)])[0] == 0
    assert run_cli([*argv[:-2], str(ours), "--overwrite"])[0] == 0


def test_out_never_replaces_a_folder_holding_the_input_model(model_dir, tmp_path, run_cli):
    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / MARKER).write_text("")
    shutil.copytree(model_dir, ours / "model")
    neurons = tmp_path / "n.json"
    neurons.write_text(json.dumps({"neurons": [[0, 1]]}))
    for out, relation in ((ours, "contains"), (ours / "model", " is "), (ours / "model" / "edited", "is inside")):
        code, err = run_cli(["edit", "--model", str(ours / "model"), "--neurons", str(neurons), "--out", str(out),
                             "--overwrite"])
        assert code == 2 and "which this run reads (--model)" in err and relation in err, err
    assert sorted(p.name for p in (ours / "model").iterdir()) == sorted(p.name for p in model_dir.iterdir())


def test_a_tilde_means_the_home_folder_for_checking_and_writing(model_dir, tmp_path, run_cli, monkeypatch):
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    assert run_cli(_evaluate(model_dir, "probes:gender", "--json", "~/r.json"))[0] == 0
    assert (home / "r.json").is_file() and not (work / "~").exists()


def test_a_name_too_long_for_the_temporary_is_refused_before_computing(tmp_path, run_cli):
    long_name = "r" * 240
    code, err = run_cli(["evaluate", "--model", "no/such", "--data", "probes:gender", "--json",
                         str(tmp_path / long_name)])
    assert code == 2 and "Choose a shorter name" in err and "no/such" not in err, err
    code, err = run_cli(["transfer", "--model", "no/such", "--out", str(tmp_path / long_name)])
    assert code == 2 and "Choose a shorter name" in err, err


def test_a_read_only_toolkit_folder_is_refused_not_half_replaced(tmp_path, monkeypatch):
    from neuronedit.model import cache

    target = tmp_path / "out"
    (target / "sub").mkdir(parents=True)
    (target / MARKER).write_text("")
    (target / "sub" / "weights").write_text("previous")
    locked = target / "sub"
    if os.geteuid() == 0:  # root may delete anything: play the user that cannot
        real = os.access
        monkeypatch.setattr(cache.os, "access", lambda p, mode: real(p, mode) and Path(p) != locked)
    else:
        locked.chmod(0o555)
    try:
        refused = pytest.raises(FileExistsError, match=r"read-only.*chmod -R u\+w")
        with refused, cache.atomic_dir(target, overwrite=True):
            pytest.fail("the check comes before the work")
    finally:
        locked.chmod(0o755)
    assert (target / "sub" / "weights").read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "no .old- copy is left behind"


def test_a_tilde_in_an_input_path_flag_is_the_home_folder(model_dir, tmp_path, run_cli, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "n.json").write_text(json.dumps({"format": "neuronedit.neuronset/1", "neurons": [[0, 1]]}))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    code, err = run_cli(["edit", "--model", str(model_dir), "--neurons", "~/n.json", "--out", "~/edited", "--quiet"])
    assert code == 0, err
    assert (home / "edited" / "neuronedit.json").is_file() and not (tmp_path / "~").exists()
    code, err = run_cli(["apply", "--model", str(model_dir), "--manifest", "~/edited", "--out", "~/again", "--quiet"])
    assert code == 0 and (home / "again").is_dir(), err
