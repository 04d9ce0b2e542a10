"""`neuronedit explain` end to end on a tiny checkpoint, and its bad-input exits."""

from __future__ import annotations

import json
import subprocess
import sys

from tiny_models import tiny_model_dir

from attributions import NeuronSet
from attributions.neuron_set import SET_FORMAT


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "neuronedit", *args], capture_output=True, text=True)


def test_explain_from_scores_writes_cards_with_the_bias_view(tmp_path):
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


def test_explain_bad_inputs_exit_2_with_the_fix(tmp_path):
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
