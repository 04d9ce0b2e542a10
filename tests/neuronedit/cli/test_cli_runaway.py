"""Runaway inputs stop with exit 2 and a message, not a traceback or an exhausted machine: over-long text
files (small caps patched in), an unusable device, a malformed WORLD_SIZE, a config of absurd size."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from neuronedit.data import reading


@pytest.fixture
def small_caps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reading, "MAX_LINE_CHARS", 200)
    monkeypatch.setattr(reading, "MAX_TEXT_CHARS", 50_000)


@pytest.fixture
def one_line(tmp_path: Path) -> Path:
    """A one-line file far over the patched caps (as a 300 MB file without newlines is over the real ones)."""
    path = tmp_path / "one-line.txt"
    path.write_text("the nurse said that she was tired " * 3000, encoding="utf-8")
    return path


def test_evaluate_without_max_tokens_refuses_a_text_too_large(model_dir, tmp_path, one_line, small_caps, run_cli):
    code, err = run_cli(["evaluate", "--model", str(model_dir), "--data", f"text:{one_line}", "--quiet"])
    assert code == 2 and "one-line.txt, line 1: holds more than 50,000 characters" in err, err
    assert "--max-tokens" in err and "Traceback" not in err
    code, err = run_cli(["evaluate", "--model", str(model_dir), "--data", f"text:{one_line}", "--max-tokens", "50",
                         "--quiet", "--json", str(tmp_path / "r.json")])
    assert code == 0, err  # with a token limit only the start is read


def test_line_readers_refuse_a_line_too_long(model_dir, tmp_path, one_line, small_caps, run_cli):
    message = "one-line.txt, line 1: the line is longer than 200 characters"
    runs = [["attribute", "--model", str(model_dir), "--objective", "lm", "--data", f"text:{one_line}", "--limit",
             "2", "--out", str(tmp_path / "s.safetensors")],
            ["unlearn", "--model", str(model_dir), "--forget", f"text:{one_line}", "--out", str(tmp_path / "u")],
            ["unlearn", "--model", str(model_dir), "--forget", "probes:gender", "--retain", f"text:{one_line}",
             "--out", str(tmp_path / "r")]]
    for argv in runs:
        code, err = run_cli(argv)
        assert code == 2 and message in err and "Traceback" not in err, (argv, err)


def test_edit_mean_refuses_means_data_with_a_line_too_long(model_dir, tmp_path, one_line, small_caps, run_cli):
    neurons = tmp_path / "n.json"
    neurons.write_text(json.dumps({"format": "neuronedit.neuronset/1", "neurons": [[0, 1]], "meta": {}}))
    code, err = run_cli(["edit", "--model", str(model_dir), "--neurons", str(neurons), "--mode", "mean",
                         "--means-data", f"text:{one_line}", "--out", str(tmp_path / "e")])
    assert code == 2 and "one-line.txt, line 1: the line is longer than 200 characters" in err, err


def test_meta_device_is_refused(model_dir, tmp_path, run_cli):
    code, err = run_cli(["evaluate", "--model", str(model_dir), "--data", "probes:gender", "--device", "meta"])
    assert code == 2 and "device 'meta' cannot run a model" in err and "Traceback" not in err, err


def test_a_malformed_world_size_is_named(monkeypatch, run_cli):
    monkeypatch.setenv("WORLD_SIZE", "abc")
    code, err = run_cli(["models"])
    assert code == 2 and "the environment variable WORLD_SIZE is 'abc', not a whole number" in err, err


def test_a_config_with_absurd_sizes_is_refused_before_building(model_dir, tmp_path, run_cli):
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    config = json.loads((broken / "config.json").read_text())
    (broken / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 2000}))
    code, err = run_cli(["evaluate", "--model", str(broken), "--data", "probes:gender"])
    assert code == 2 and "num_hidden_layers is 2000, outside 0..1,024" in err, err
