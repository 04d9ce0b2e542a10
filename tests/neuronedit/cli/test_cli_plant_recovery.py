"""``neuronedit plant`` then ``neuronedit recovery`` on the tiny checkpoint: the files each writes, the report,
and the refusals of a damaged or misdirected ground truth (exit 2, the file named, nothing written)."""

from __future__ import annotations

import json
import shutil

import pytest
from planted_pairs import two_domain_pairs

RECOVER = ["--methods", "grad_x_act", "--rule", "top", "--top-k", "4", "--ppl-tokens", "256", "--n-boot", "50",
           "--steps", "2", "--batch-size", "8"]


@pytest.fixture(scope="module")
def planted(model_dir, tmp_path_factory):
    from neuronedit.cli import main

    folder = tmp_path_factory.mktemp("planted")
    data = two_domain_pairs(folder)
    out = folder / "model"
    assert main(["plant", "--model", str(model_dir), "--domains", "gender", "race", "--variant", "shared",
                 "--neurons", "4", "--strength", "10", "--decoys", "--data", data, "--out", str(out), "--quiet"]) == 0
    return out, data


def test_plant_writes_a_checkpoint_with_its_ground_truth_and_recovery_reads_it(planted, model_dir, tmp_path, run_cli):
    out, data = planted
    truth = json.loads((out / "planted.json").read_text())
    assert truth["variant"] == "shared" and truth["domains"] == ["gender", "race"]
    assert sorted(n["role"] for n in truth["neurons"]) == ["bias"] * 4 + ["frequency"] + ["knowledge"] * 2
    assert (out / "neuronedit.json").is_file() and truth["provenance"]["model_spec"] == str(model_dir)
    code, text = run_cli(["recovery", "--model", str(out), "--base", str(model_dir), "--data", data, *RECOVER,
                          "--out", str(tmp_path / "r"), "--quiet"])
    assert code == 0, text
    assert "recovery.html" in text and (tmp_path / "r" / "recovery.html").is_file()
    assert json.loads((tmp_path / "r" / "planted.json").read_text()) == truth
    result = json.loads((tmp_path / "r" / "recovery.json").read_text())
    assert {row["domain"] for row in result["ranking"]} == {"gender", "race"}


def _refused(run_cli, argv, *needles):
    code, text = run_cli(argv)
    assert code == 2 and all(n in text for n in needles) and "Traceback" not in text, (argv, text)


def test_a_misdirected_or_damaged_ground_truth_is_refused(planted, model_dir, tmp_path, run_cli):
    out, data = planted
    base = ["--base", str(model_dir), "--data", data, *RECOVER, "--out", str(tmp_path / "r")]
    _refused(run_cli, ["recovery", "--model", str(out / "planted.json"), *base], "is a file", "give the folder")
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    truth = json.loads((copy / "planted.json").read_text())
    damaged = [(json.dumps({**truth, "provenance": {"data": {"gender": ["x"]}}}), "name its data per domain"),
               (json.dumps({**truth, "domains": ["gender"]}), "two or more for the shared variant"),
               (json.dumps(truth)[:-1] + ', "x": ' + "9" * 5000 + "}", "number too long"),
               ("[" * 100000, "nesting too deep")]
    for text, needle in damaged:
        (copy / "planted.json").write_text(text)
        _refused(run_cli, ["recovery", "--model", str(copy), *base], "planted.json", needle)
    (copy / "planted.json").write_text(json.dumps({**truth, "provenance": {**truth["provenance"], "data": {
        "gender": "stereoset:/etc/passwd", "race": "stereoset:/etc/passwd"}}}))
    _refused(run_cli, ["recovery", "--model", str(copy), "--base", str(model_dir), "--out", str(tmp_path / "r")],
             "planted.json names the data", "--data")
    assert not (tmp_path / "r").exists()
