"""`neuronedit explain` end to end on a tiny checkpoint, and its bad-input exits."""

from __future__ import annotations

import json

from tiny_models import tiny_model_dir

from attributions import NeuronSet
from attributions.neuron_set import SET_FORMAT


def test_explain_from_scores_writes_cards_with_the_bias_view(tmp_path, cli_in_process):
    _cli = cli_in_process
    model = str(tiny_model_dir(tmp_path / "m"))
    scores = tmp_path / "s.safetensors"
    made = _cli("attribute", "--model", model, "--data", "probes:gender", "--split", "dev", "--limit", "8",
                "--out", str(scores), "--quiet")
    assert made.returncode == 0, made.stderr
    out = tmp_path / "cards"
    done = _cli("explain", "--model", model, "--scores", str(scores), "--top-k", "5", "--tokens", "300",
                "--n-top", "3", "--out", str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    assert "of 5 gender neurons" in done.stdout
    body = json.loads((out / "explain.json").read_text())
    assert body["domain"] == "gender" and len(body["cards"]) == 5 and sum(body["summary"].values()) == 5
    first = body["cards"][0]
    assert first["bias"]["difference"]["n"] == 8 and first["bias"]["consistency"] is not None  # located pairs, dev
    assert len(first["contexts"]) == 3 and len(first["projection"]["promoted"]) == 10
    page = (out / "explain.html").read_text()
    assert page.count("class='ne-card'") == 5 and "http" not in page
    again = _cli("explain", "--model", model, "--scores", str(scores), "--top-k", "5", "--tokens", "300",
                 "--out", str(out), "--quiet")
    assert again.returncode == 2 and "--overwrite" in again.stderr  # nothing replaced without --overwrite


def test_explain_bad_inputs_exit_2_with_the_fix(tmp_path, cli_in_process):
    _cli = cli_in_process
    model = str(tiny_model_dir(tmp_path / "m"))
    neither = _cli("explain", "--model", model, "--out", str(tmp_path / "x"))
    assert neither.returncode == 2 and "--scores FILE" in neither.stderr
    NeuronSet([(0, 1)]).save(tmp_path / "n.json")
    corpus = _cli("explain", "--model", model, "--neurons", str(tmp_path / "n.json"), "--corpus", "stereoset",
                  "--out", str(tmp_path / "y"))
    assert corpus.returncode == 2 and "--corpus takes text:PATH" in corpus.stderr
    far = tmp_path / "far.json"
    far.write_text(json.dumps({"format": SET_FORMAT, "neurons": [[0, 10_000]]}))
    out_of_range = _cli("explain", "--model", model, "--neurons", str(far), "--out", str(tmp_path / "z"))
    assert out_of_range.returncode == 2 and "10000" in out_of_range.stderr and "Traceback" not in out_of_range.stderr
    assert not (tmp_path / "z").exists()


def test_explain_refuses_text_data_other_weights_and_ignored_flags(tmp_path, cli_in_process):
    _cli = cli_in_process
    model = str(tiny_model_dir(tmp_path / "m"))
    other = str(tiny_model_dir(tmp_path / "other", seed=1))
    NeuronSet([(0, 1)]).save(tmp_path / "n.json")
    text = tmp_path / "t.txt"
    text.write_text("the nurse said that she was home\n")
    as_data = _cli("explain", "--model", model, "--neurons", str(tmp_path / "n.json"), "--data", f"text:{text}",
                   "--out", str(tmp_path / "a"))
    assert as_data.returncode == 2 and "is not pair data" in as_data.stderr and "Traceback" not in as_data.stderr
    ignored = _cli("explain", "--model", model, "--neurons", str(tmp_path / "n.json"), "--top-k", "3",
                   "--out", str(tmp_path / "b"))
    assert ignored.returncode == 2 and "--top-k and --rule select from --scores" in ignored.stderr
    split = _cli("explain", "--model", model, "--neurons", str(tmp_path / "n.json"), "--split", "dev",
                 "--out", str(tmp_path / "c"))
    assert split.returncode == 2 and "--split chooses the half of --data" in split.stderr
    scores = tmp_path / "s.safetensors"
    assert _cli("attribute", "--model", model, "--data", "probes:gender", "--split", "dev", "--limit", "4",
                "--no-control", "--out", str(scores), "--quiet").returncode == 0
    foreign = _cli("explain", "--model", other, "--scores", str(scores), "--rule", "top", "--top-k", "2",
                   "--tokens", "100", "--out", str(tmp_path / "d"))
    assert foreign.returncode == 2 and "fingerprint" in foreign.stderr and not (tmp_path / "d").exists()
    forced = _cli("explain", "--model", other, "--scores", str(scores), "--rule", "top", "--top-k", "2",
                  "--tokens", "100", "--force", "--out", str(tmp_path / "d"), "--quiet")
    assert forced.returncode == 0, forced.stderr
    assert "using them anyway" in forced.stderr
