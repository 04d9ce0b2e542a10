"""Hostile and careless input to the command line: exit 2 with a message naming the file and the
fix, never a traceback, never a write outside --out, never a deleted folder of the user's.
(Manifests as untrusted input: test_cli_manifests.py.)"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import torch
from locations import FIXTURES

from attributions import NeuronScores

LAYERS, WIDTH = 2, 48  # the tiny llama of tiny_models


def _scores(path: Path, fingerprint: str, *, values: torch.Tensor | None = None, meta: object = None) -> Path:
    """A scores file as `neuronedit attribute` writes it (``meta`` replaces its metadata, to damage it)."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    scores = values if values is not None else torch.randn(LAYERS, WIDTH)
    meta = meta if meta is not None else {"fingerprint": fingerprint}
    header = {"format": "neuronedit.scores/1", "meta": meta}
    save_file({"scores": scores}, str(path), metadata={"neuronedit": json.dumps(header)})
    return path


def _neurons_file(path: Path, neurons: object) -> Path:
    path.write_text(json.dumps({"format": "neuronedit.neuronset/1", "neurons": neurons}))
    return path


BAD_NEURONS = [([[0, 1.9]], "not an integer"), ([[1, "3"]], "not an integer"), ([[True, 5]], "bool"),
               ([], "empty"), ([[0, 1e30]], "not an integer"), ([[0, 10**30]], "outside"), ([[0, 1], [0, 1]], "twice"),
               ([[0, 48]], "out of range"), ([[5, 0]], "layer 5")]


@pytest.mark.parametrize("neurons, message", BAD_NEURONS)
def test_edit_refuses_bad_neuron_files(neurons, message, model_dir, tmp_path, run_cli):
    path = _neurons_file(tmp_path / "n.json", neurons)
    code, err = run_cli(["edit", "--model", str(model_dir), "--neurons", str(path), "--out", str(tmp_path / "o")])
    assert code == 2 and message in err and "Traceback" not in err, err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("argv, message", [
    (["edit", "--top-k", "0"], "must be at least 1"),
    (["edit", "--top-k", "x"], "not an integer"),
    (["edit", "--factor", "nan"], "finite"),
    (["attribute", "--limit", "0"], "must be at least 1"),
    (["evaluate", "--data", "probes:gender", "--batch-size", "0"], "must be at least 1"),
    (["evaluate", "--data", "probes:gender", "--batch-size", "-1"], "must be at least 1"),
    (["evaluate", "--data", "probes:gender", "--n-boot", "0"], "must be at least 10"),
    (["evaluate", "--data", "probes:gender", "--n-boot", "10000000000000"], "must be at most 100,000"),
    (["attribute", "--steps", "100000000000", "--out", "x"], "must be at most 100,000"),
    (["unlearn", "--forget", "probes:gender", "--steps", "100000000000000", "--out", "x"], "must be at most"),
    (["evaluate", "--data", "probes:gender", "--max-tokens", "-5"], "must be at least 1"),
    (["transfer", "--dose", "0", "--out", "x"], "must be at least 1"),
    (["transfer", "--max-items", "1", "--out", "x"], "must be at least 2"),
    (["unlearn", "--forget", "probes:gender", "--lr", "-1", "--out", "x"], "greater than 0"),
    (["unlearn", "--forget", "probes:gender", "--kl-weight", "inf", "--out", "x"], "finite"),
    (["attribute", "--seed", "-3", "--out", "x"], "must be at least 0"),
])
def test_numeric_arguments_are_checked_at_parse_time(argv, message, run_cli):
    code, err = run_cli(argv)
    assert code == 2 and message in err, err


def test_outputs_are_checked_before_anything_is_computed(model_dir, tmp_path, run_cli):
    folder = tmp_path / "folder"
    folder.mkdir()
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    # the model spec does not exist: the output check must fail first (before loading or scoring)
    cases = [
        (["evaluate", "--model", "no/such", "--data", "probes:gender", "--json", str(folder)], "--json"),
        (["evaluate", "--model", "no/such", "--data", "probes:gender", "--csv", str(folder)], "--csv"),
        (["attribute", "--model", "no/such", "--data", "probes:gender", "--out", str(folder)], "is a folder"),
        (["edit", "--model", "no/such", "--neurons", "n.json", "--out", "."], "names no new folder"),
        (["edit", "--model", "no/such", "--neurons", "n.json", "--out", str(a_file / "sub")], "is a file"),
        (["transfer", "--model", "no/such", "--out", str(a_file / "sub")], "is a file"),
        (["unlearn", "--model", "no/such", "--forget", "probes:gender", "--out", str(a_file)], "exists"),
    ]
    for argv, message in cases:
        code, err = run_cli(argv)
        assert code == 2 and message in err and "no/such" not in err, (argv, err)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_target_is_refused_before_computing(tmp_path, run_cli):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        code, err = run_cli(["evaluate", "--model", "no/such", "--data", "probes:gender", "--json",
                            str(locked / "r.json")])
        assert code == 2 and "permission denied" in err.lower()
    finally:
        locked.chmod(0o700)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_a_folder_nobody_can_write_in_is_refused_before_computing(run_cli):
    """Permission bits pass for root; the probe finds /proc unwritable before the model loads."""
    code, err = run_cli(["plant", "--model", "no/such", "--out", "/proc/neuronedit-out"])
    assert code == 2 and "cannot write in /proc" in err and "no/such" not in err, err


def test_overwrite_never_deletes_a_folder_neuronedit_did_not_write(model_dir, tmp_path, run_cli):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "thesis.txt").write_text("four years of work")
    neurons = _neurons_file(tmp_path / "n.json", [[0, 1], [1, 2]])
    argv = ["edit", "--model", str(model_dir), "--neurons", str(neurons), "--out", str(victim), "--overwrite"]
    code, err = run_cli(argv)
    assert code == 2 and "not written by neuronedit" in err
    assert (victim / "thesis.txt").read_text() == "four years of work"
    ours = tmp_path / "ours"
    assert run_cli([*argv[:-3], "--out", str(ours)])[0] == 0
    assert run_cli([*argv[:-3], "--out", str(ours)])[0] == 2, "existing output needs --overwrite"
    assert run_cli([*argv[:-3], "--out", str(ours), "--overwrite"])[0] == 0, "our own folder is replaced"
    assert oct(ours.stat().st_mode & 0o777) == oct(0o777 & ~_umask()), "folders follow the user's umask"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_scores_from_other_weights_need_force(model_dir, fingerprint, tmp_path, run_cli):
    other = _scores(tmp_path / "other.safetensors", "0123456789abcdef")
    argv = ["edit", "--model", str(model_dir), "--scores", str(other), "--top-k", "3", "--out", str(tmp_path / "o")]
    code, err = run_cli(argv)
    assert code == 2 and "--force" in err and "0123456789abcdef" in err and not (tmp_path / "o").exists()
    code, err = run_cli([*argv, "--force"])
    assert code == 0 and "warning" in err
    same = _scores(tmp_path / "same.safetensors", fingerprint)
    assert run_cli([*argv[:4], str(same), *argv[5:-1], str(tmp_path / "p")])[0] == 0


@pytest.mark.parametrize("kind", ["nan", "inf", "meta-list", "one-dim", "not-safetensors"])
def test_damaged_scores_files_are_refused(kind, model_dir, fingerprint, tmp_path, run_cli):
    path = tmp_path / "s.safetensors"
    if kind in ("nan", "inf"):
        values = torch.randn(LAYERS, WIDTH)
        values[1, 3] = float(kind)
        _scores(path, fingerprint, values=values)
        message = "NaN or infinite"
    elif kind == "meta-list":
        _scores(path, fingerprint, meta=[1, 2])
        message = "must be a JSON object"
    elif kind == "one-dim":
        _scores(path, fingerprint, values=torch.randn(WIDTH))
        message = "[layers, neurons]"
    else:
        path.write_bytes(b"\x00\x01binary junk")
        message = "not a safetensors scores file"
    code, err = run_cli(["edit", "--model", str(model_dir), "--scores", str(path), "--out", str(tmp_path / "o")])
    assert code == 2 and message in err and str(path) in err, err


def test_score_files_are_byte_reproducible(tmp_path):
    a, b = NeuronScores(torch.ones(2, 3), meta={"seconds": 1.5, "method": "m"}), NeuronScores(
        torch.ones(2, 3), meta={"method": "m", "seconds": 99.0})
    a.save(tmp_path / "a.safetensors")
    b.save(tmp_path / "b.safetensors")
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()
    assert "seconds" not in NeuronScores.load(tmp_path / "a.safetensors").meta


# ---- models and devices: the loader's messages reach the user as exit 2 --------------------------

def test_cli_reports_model_problems_with_exit_2(model_dir, tmp_path, run_cli):
    import shutil

    no_weights = tmp_path / "no_weights"
    shutil.copytree(model_dir, no_weights)
    (no_weights / "model.safetensors").unlink()
    no_tokenizer = tmp_path / "no_tokenizer"
    no_tokenizer.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(model_dir / name, no_tokenizer / name)
    cases = [
        (["evaluate", "--model", str(no_weights), "--data", "probes:gender"], "no weights"),
        (["evaluate", "--model", str(no_tokenizer), "--data", "probes:gender"], "no tokenizer files"),
        (["evaluate", "--model", str(model_dir), "--data", "probes:gender", "--device", "cuda"], "not available"),
        (["attribute", "--model", str(model_dir), "--data", "probes:gender", "--device", "gpu0", "--out",
          str(tmp_path / "s.safetensors")], "invalid device"),
    ]
    for argv, message in cases:
        code, err = run_cli(argv)
        assert code == 2 and message in err and "Traceback" not in err, (argv, err)
    assert not (tmp_path / "s.safetensors").exists()


def test_cli_reports_data_problems_with_exit_2(model_dir, tmp_path, run_cli):
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"sent_more,sent_less\n\xff\xfe\x00junk\n")
    bbq = tmp_path / "bbq.jsonl"
    item = json.loads((FIXTURES / "bbq_small.jsonl").read_text().splitlines()[0])
    bbq.write_text(json.dumps({**item, "label": 7}) + "\n")
    cases = [(f"crows:{tmp_path}", "is a folder"), (f"text:{tmp_path}", "is a folder"),
             (f"crows:{binary}", "UTF-8"), (f"bbq:{bbq}", "label")]
    for spec, message in cases:
        code, err = run_cli(["evaluate", "--model", str(model_dir), "--data", spec])
        assert code == 2 and message in err and "Traceback" not in err, (spec, err)


def test_attribute_output_is_reproducible_its_passes_named_and_quiet_is_quiet(model_dir, tmp_path, run_cli,
                                                                              monkeypatch):
    monkeypatch.setenv("NEURONEDIT_CACHE", str(tmp_path / "cache"))
    base = ["attribute", "--model", str(model_dir), "--data", "probes:gender", "--limit", "4", "--batch-size", "2"]
    code, err = run_cli([*base, "--control-method", "activation", "--out", str(tmp_path / "a.safetensors")])
    assert code == 0 and "grad_x_act, objective" in err and "activation, control: neutral text" in err, err
    code, err = run_cli([*base, "--out", str(tmp_path / "b.safetensors"), "--quiet"])
    assert code == 0 and "Loading weights" not in err and "%|" not in err, err
    code, err = run_cli([*base, "--out", str(tmp_path / "c.safetensors"), "--quiet"])
    assert (tmp_path / "b.safetensors").read_bytes() == (tmp_path / "c.safetensors").read_bytes()
    neurons = _neurons_file(tmp_path / "n.json", [[0, 1]])
    code, err = run_cli(["edit", "--model", str(model_dir), "--neurons", str(neurons), "--out", str(tmp_path / "e"),
                         "--quiet"])
    assert code == 0 and "Writing model shards" not in err and "Loading weights" not in err, err
