"""Issue #26, the third sweep: inputs that used to crash, change an input, read a whole weights file or be
refused for the wrong reason now exit 2 with one line naming the file or flag and the fix."""

from __future__ import annotations

import json
import os

import pytest
import torch
from cli_checks import refused

from attributions import NeuronScores, NeuronSet
from attributions.errors import InputError
from attributions.files import MAX_JSON_DEPTH, json_depth, read_json
from neuronedit.edits import MANIFEST_NAME, Edit, save_manifest


def _nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def test_json_depth_is_counted_without_recursion(tmp_path):
    assert [json_depth(v) for v in (1, [], {"a": [1, {"b": 2}]}, _nested(5))] == [0, 1, 3, 5]
    assert json_depth(_nested(100_000)) == 100_000  # no RecursionError
    (tmp_path / "deep.json").write_text(json.dumps({"provenance": _nested(MAX_JSON_DEPTH)}))
    with pytest.raises(InputError, match=rf"deep\.json nests objects or lists more than {MAX_JSON_DEPTH} deep"):
        read_json(tmp_path / "deep.json", "manifest", "give the file neuronedit wrote")
    (tmp_path / "ok.json").write_text(json.dumps({"provenance": _nested(MAX_JSON_DEPTH - 1)}))
    assert json_depth(read_json(tmp_path / "ok.json", "manifest", "fix")) == MAX_JSON_DEPTH


def test_a_manifest_nested_too_deep_is_refused_before_anything_is_applied(model_dir, fingerprint, tmp_path, run_cli):
    path = save_manifest([Edit(NeuronSet([(0, 1)]), "zero", base_fingerprint=fingerprint)], tmp_path / MANIFEST_NAME)
    body = json.loads(path.read_text())
    body["edits"][0]["provenance"] = {"extra": _nested(600)}  # outside the content id: once a RecursionError
    path.write_text(json.dumps(body))
    out = tmp_path / "o"
    refused(run_cli(["apply", "--model", str(model_dir), "--manifest", str(path), "--out", str(out)]),
            MANIFEST_NAME, "deep")
    assert not out.exists()


def test_manifest_neurons_out_of_range_name_the_manifest(model_dir, fingerprint, tmp_path, run_cli):
    edit = Edit(NeuronSet([(0, 48)]), "zero", base_fingerprint=fingerprint)  # the tiny model's layers have 48
    path = save_manifest([edit], tmp_path / MANIFEST_NAME)
    refused(run_cli(["apply", "--model", str(model_dir), "--manifest", str(path), "--out", str(tmp_path / "o")]),
            f"{path}: edit {edit.id}", "[0, 48] is out of range", "layer 0 has 48")


def test_scores_metadata_nested_too_deep_is_refused(model_dir, fingerprint, tmp_path, run_cli):
    path = tmp_path / "deep.safetensors"
    NeuronScores(torch.randn(2, 48), meta={"fingerprint": fingerprint, "objective": _nested(600)}).save(path)
    refused(run_cli(["edit", "--model", str(model_dir), "--scores", str(path), "--top-k", "2", "--rule", "top",
                     "--out", str(tmp_path / "o")]), "deep.safetensors", "nests more than")
    assert not (tmp_path / "o").exists()


def test_a_scores_path_that_is_no_regular_file_says_so(tmp_path):
    os.mkfifo(tmp_path / "pipe.safetensors")
    (tmp_path / "folder.safetensors").mkdir()
    for name in ("pipe.safetensors", "folder.safetensors"):
        with pytest.raises(InputError, match="is not a regular file"):
            NeuronScores.load(tmp_path / name)


def test_a_weights_file_given_as_scores_is_refused_unread(model_dir, monkeypatch):
    """The format is checked from the header: not one tensor of a model's weights is loaded."""
    import safetensors

    real, read = safetensors.safe_open, []

    class Counting:
        def __init__(self, *args, **kwargs):
            self.handle = real(*args, **kwargs)

        def __enter__(self):
            self.inner = self.handle.__enter__()
            return self

        def __exit__(self, *exc):
            return self.handle.__exit__(*exc)

        def get_tensor(self, key):
            read.append(key)
            return self.inner.get_tensor(key)

        def __getattr__(self, name):
            return getattr(self.inner, name)

    monkeypatch.setattr(safetensors, "safe_open", Counting)
    with pytest.raises(InputError, match="not a neuronedit scores file"):
        NeuronScores.load(model_dir / "model.safetensors")
    assert read == []
    NeuronScores(torch.randn(2, 48)).save(model_dir.parent / "s.safetensors")
    assert NeuronScores.load(model_dir.parent / "s.safetensors").scores.shape == (2, 48) and read == ["scores"]


def test_a_negative_limit_in_the_scores_metadata_is_refused(model_dir, fingerprint, tmp_path, run_cli):
    path = tmp_path / "limit.safetensors"
    NeuronScores(torch.randn(2, 48), meta={"fingerprint": fingerprint, "method": "grad_x_act",
                                           "data": "probes:gender", "limit": -5}).save(path)
    refused(run_cli(["explain", "--model", str(model_dir), "--scores", str(path), "--top-k", "2",
                     "--out", str(tmp_path / "o")]), "limit.safetensors", "metadata 'limit' is -5")


@pytest.mark.parametrize("command", [["plant"], ["transfer", "--no-dose"], ["compare", "--methods", "random"]])
def test_plain_text_where_pairs_are_needed_is_refused(command, model_dir, tmp_path, run_cli):
    (tmp_path / "t.txt").write_text("Some plain text about nothing in particular.\n")
    refused(run_cli([*command, "--model", str(model_dir), "--data", f"text:{tmp_path / 't.txt'}",
                     "--out", str(tmp_path / "o")]), "t.txt is plain text, not pairs")


def test_an_attribution_checkpoint_may_not_sit_in_an_input(model_dir, tmp_path, run_cli):
    files = sorted(p.name for p in model_dir.iterdir())
    common = ["attribute", "--model", str(model_dir), "--data", "probes:gender", "--limit", "4", "--no-control",
              "--out", str(tmp_path / "s.safetensors")]
    refused(run_cli([*common, "--checkpoint", str(model_dir)]), "--checkpoint", "this run reads (--model)")
    assert sorted(p.name for p in model_dir.iterdir()) == files  # nothing written into the model's folder
    (tmp_path / "afile").write_text("mine")
    refused(run_cli([*common, "--checkpoint", str(tmp_path / "afile")]), "--checkpoint", "is a file")
    assert (tmp_path / "afile").read_text() == "mine"
    refused(run_cli([*common, "--control", "lm"]), "--no-control", "--control lm")


def test_unlearning_neurons_out_of_range_name_the_file(model_dir, tmp_path, run_cli):
    NeuronSet([(5, 1)]).save(tmp_path / "n.json")
    (tmp_path / "forget.txt").write_text("The forget text says something the model should not keep.\n")
    refused(run_cli(["unlearn", "--model", str(model_dir), "--forget", f"text:{tmp_path / 'forget.txt'}",
                     "--neurons", str(tmp_path / "n.json"), "--steps", "1", "--out", str(tmp_path / "o")]),
            f"--neurons {tmp_path / 'n.json'}", "no layer 5")


@pytest.mark.parametrize("flag", ["--kl-weight", "--retain-weight"])
def test_a_loss_weight_that_overflows_is_refused_when_parsed(flag, model_dir, tmp_path, run_cli):
    refused(run_cli(["unlearn", "--model", str(model_dir), "--forget", "text:x.txt", flag, "1e308",
                     "--out", str(tmp_path / "o")]), flag, "at most 1e+06")


def test_recovery_reads_the_built_in_data_planted_json_names(tmp_path):
    from neuronedit.cli.recovery import planted_data

    assert planted_data({"gender": "probes:gender", "race": "probes:race"}, str(tmp_path)) == "probes"
    assert planted_data({"gender": "stereoset"}, str(tmp_path)) == "stereoset"
    for named in ({"gender": "crows:/etc/passwd"}, {"gender": "stereoset", "race": "probes:race"}, {}):
        with pytest.raises(InputError, match="came from a file; give --data"):
            planted_data(named, str(tmp_path))


@pytest.mark.parametrize("flag", ["--out", "--model"])
def test_a_home_folder_of_no_user_is_refused(flag, model_dir, tmp_path, run_cli):
    NeuronSet([(0, 1)]).save(tmp_path / "n.json")
    argv = {"--model": str(model_dir), "--out": str(tmp_path / "o"), flag: "~nosuchuser-neuronedit/x"}
    refused(run_cli(["edit", "--neurons", str(tmp_path / "n.json"), *[x for kv in argv.items() for x in kv]]),
            "~nosuchuser-neuronedit names no user's home folder")


def test_an_output_name_that_is_not_utf8_is_refused_before_any_work(model_dir, tmp_path, run_cli):
    NeuronSet([(0, 1)]).save(tmp_path / "n.json")
    out = os.fsdecode(os.fsencode(str(tmp_path)) + b"/\xff\xfedir")
    refused(run_cli(["edit", "--model", str(model_dir), "--neurons", str(tmp_path / "n.json"), "--out", out]),
            "--out", "not UTF-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.json"]


@pytest.mark.parametrize("change, needle", [
    (lambda edits: edits.append(dict(edits[0])), "twice"),
    (lambda edits: edits[0].update(factor=5.0), "takes no factor"),  # refused before the id is compared
    (lambda edits: edits[0].update(values=[1.0]), "takes no values"),
])
def test_a_manifest_whose_fields_would_be_ignored_is_refused(change, needle, model_dir, fingerprint, tmp_path,
                                                              run_cli):
    path = save_manifest([Edit(NeuronSet([(0, 1)]), "zero", base_fingerprint=fingerprint)], tmp_path / MANIFEST_NAME)
    body = json.loads(path.read_text())
    change(body["edits"])
    path.write_text(json.dumps(body))
    refused(run_cli(["apply", "--model", str(model_dir), "--manifest", str(path), "--out", str(tmp_path / "o")]),
            MANIFEST_NAME, needle)
