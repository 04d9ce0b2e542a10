"""load_model on local checkpoints and bad specs; the cache's atomic writes; the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny_models import tiny_model, tiny_tokenizer

from neuronedit import DemoModelUnavailable, ModelLoadError, load_model, next_token_logprob_gap
from neuronedit.model import demo as demo_module
from neuronedit.model.cache import atomic_dir


@pytest.fixture
def tiny_dir(tmp_path: Path) -> Path:
    out = tmp_path / "tiny-llama"
    tiny_model("llama").save_pretrained(out)
    tiny_tokenizer().save_pretrained(out)
    return out


def test_load_local_directory(tiny_dir):
    lm = load_model(tiny_dir)
    assert lm.source == "dir" and lm.path == str(tiny_dir)
    assert not lm.model.training
    assert lm.n_layers == 2 and lm.n_neurons == 96
    reference = tiny_model("llama")
    ids = torch.tensor([[3, 4, 5]])
    with torch.no_grad():
        torch.testing.assert_close(lm.model(ids).logits, reference(ids).logits)


def test_load_in_bfloat16(tiny_dir):
    lm = load_model(tiny_dir, dtype=torch.bfloat16)
    assert next(lm.model.parameters()).dtype == torch.bfloat16


def test_missing_path(tmp_path):
    with pytest.raises(ModelLoadError, match="no such file or directory.*Check the path"):
        load_model(tmp_path / "nowhere")
    with pytest.raises(ModelLoadError, match="no such file"):
        load_model("missing-model.gguf")


def test_directory_without_config(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"0")
    with pytest.raises(ModelLoadError, match="has no config.json.*save_pretrained"):
        load_model(tmp_path)


def test_file_that_is_not_gguf(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"abc")
    with pytest.raises(ModelLoadError, match="not a .gguf file"):
        load_model(path)


def test_corrupt_gguf(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURONEDIT_CACHE", str(tmp_path / "cache"))
    bad_magic = tmp_path / "bad.gguf"
    bad_magic.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelLoadError, match="is not a GGUF file.*re-download"):
        load_model(bad_magic)
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 20)
    with pytest.raises(ModelLoadError, match="could not read GGUF file.*re-download"):
        load_model(truncated)
    assert not any((tmp_path / "cache").rglob("config.json")), "nothing half-written may remain in the cache"


def test_unknown_model_type(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "no-such-architecture"}))
    with pytest.raises(ModelLoadError, match="no-such-architecture.*Upgrade transformers"):
        load_model(tmp_path)


def test_unreachable_hub_id(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="could not load 'someone/some-model'.*local checkpoint"):
        load_model("someone/some-model")


def test_demo_offline_without_cache_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURONEDIT_CACHE", str(tmp_path))
    monkeypatch.setattr(demo_module, "_installed_gguf", lambda: None)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    with pytest.raises(DemoModelUnavailable, match="make demo-model"):
        load_model("demo")
    assert list(tmp_path.rglob("*.gguf")) == []


def test_atomic_dir_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "half.txt").write_text("partial")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    with atomic_dir(target) as tmp:
        (tmp / "done.txt").write_text("ok")
    assert (target / "done.txt").read_text() == "ok"
    with pytest.raises(FileExistsError, match="overwrite"):
        with atomic_dir(target):
            pass
    with atomic_dir(target, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert sorted(p.name for p in target.iterdir()) == [".neuronedit", "new.txt"]


def test_logprob_gap_matches_unbatched_forward(tiny_dir):
    lm = load_model(tiny_dir)
    prompts = ["the nurse said that", "the engineer said", "he"]
    gaps = next_token_logprob_gap(lm, prompts, " he", " she")
    he, she = lm.tokenizer.convert_tokens_to_ids(["he", "she"])
    start = lm.tokenizer.eos_token_id  # no BOS in this tokenizer: EOS starts every sequence
    for prompt, gap in zip(prompts, gaps):
        ids = torch.tensor([[start] + lm.tokenizer(prompt)["input_ids"]])
        with torch.no_grad():
            logprobs = torch.log_softmax(lm.model(ids).logits[0, -1], dim=-1)
        assert abs(float(logprobs[he] - logprobs[she]) - float(gap)) < 1e-5


def test_logprob_gap_rejects_multi_token_words(tiny_dir):
    lm = load_model(tiny_dir)
    with pytest.raises(ValueError, match="is 2 tokens"):
        next_token_logprob_gap(lm, ["the nurse"], " he she", " she")


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "neuronedit", *args], capture_output=True, text=True, env={**os.environ, **(env or {})},
        check=False,
    )


def test_cli_help_and_models(tmp_path):
    helped = _cli("--help")
    assert helped.returncode == 0 and "models" in helped.stdout and "demo" in helped.stdout
    listed = _cli("models", env={"NEURONEDIT_CACHE": str(tmp_path)})
    assert listed.returncode == 0, listed.stderr
    assert "empty" in listed.stdout
    assert "layers.{layer}.mlp.down_proj" in listed.stdout and "blocks.{layer}.mlp.hook_post" in listed.stdout


def test_cli_demo_on_a_local_model(tiny_dir):
    done = _cli("demo", "--model", str(tiny_dir), "--prompt", "the nurse said that")
    assert done.returncode == 0, done.stderr
    assert "2 layers x 48 = 96" in done.stdout and "the nurse said that" in done.stdout


def test_cli_bad_model_is_a_clear_error(tmp_path):
    done = _cli("demo", "--model", str(tmp_path / "missing"))
    assert done.returncode == 2
    assert "no such file or directory" in done.stderr and "Traceback" not in done.stderr
