"""End-to-end checks on the demo model, SmolLM2-135M-Instruct (fetched by `make test`)."""

from __future__ import annotations

import os

import pytest
import torch

from attributions import capture_activations
from neuronedit import load_model, next_token_logprob_gap
from neuronedit.model.demo import DEMO_GGUF_NAME, demo_gguf_path

pytestmark = pytest.mark.slow

PROMPT = "The capital of France is"


def _last_logits(lm, text: str = PROMPT) -> torch.Tensor:
    ids = lm.tokenizer(text, return_tensors="pt").input_ids
    with torch.no_grad():
        return lm.model(ids).logits[0, -1]


def test_demo_architecture(demo_lm):
    assert demo_lm.architecture == "LlamaForCausalLM"
    assert demo_lm.n_layers == 30
    assert {s.n_neurons for s in demo_lm.sites} == {1536}
    assert demo_lm.n_neurons == 46_080
    assert not hasattr(demo_lm.model.config, "quantization_config")


def test_demo_completes_paris(demo_lm):
    assert demo_lm.tokenizer.decode(_last_logits(demo_lm).argmax()) == " Paris"


def test_three_load_paths_agree_with_plain_transformers_gguf(tmp_path, monkeypatch):
    """GGUF file -> conversion; second load -> cache; "demo" -> same cache; all equal the GGUF logits."""
    import transformers

    gguf = demo_gguf_path(download=False)
    monkeypatch.setenv("NEURONEDIT_CACHE", str(tmp_path))
    from neuronedit.model import demo as demo_model

    monkeypatch.setattr(demo_model, "_installed_gguf", lambda: None)
    (tmp_path / "demo").mkdir()
    os.symlink(gguf, tmp_path / "demo" / DEMO_GGUF_NAME)

    converted = load_model(gguf)
    assert converted.source == "gguf"
    assert str(tmp_path) in converted.path and (tmp_path / "models").is_dir()
    cached = load_model(gguf)
    assert cached.source == "cache" and cached.path == converted.path
    demo = load_model("demo")
    assert demo.source == "cache" and demo.path == converted.path

    reference_tok = transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    reference = transformers.AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
    ).eval()
    ids = reference_tok(PROMPT, return_tensors="pt").input_ids
    assert ids.tolist() == cached.tokenizer(PROMPT, return_tensors="pt").input_ids.tolist()
    with torch.no_grad():
        expected = reference(ids).logits[0, -1]
    for lm in (converted, cached, demo):
        torch.testing.assert_close(_last_logits(lm), expected, atol=1e-5, rtol=0)


def test_site_activations_equal_transformer_bridge_hooks(demo_lm):
    pytest.importorskip("transformer_lens")
    import transformers
    from transformer_lens.model_bridge import TransformerBridge

    # The bridge rewires the model it wraps and forces eager attention: give it its own copy,
    # and compare against an eager copy of ours.
    ours = transformers.AutoModelForCausalLM.from_pretrained(demo_lm.path, attn_implementation="eager").eval()
    theirs = transformers.AutoModelForCausalLM.from_pretrained(demo_lm.path, attn_implementation="eager").eval()
    bridge = TransformerBridge.boot_transformers(demo_lm.path, hf_model=theirs, tokenizer=demo_lm.tokenizer)
    ids = demo_lm.tokenizer("The nurse said that she", return_tensors="pt").input_ids
    from attributions import find_sites

    sites = find_sites(ours)
    with torch.no_grad(), capture_activations(sites) as acts:
        ours(ids)
    _, cache = bridge.run_with_cache(ids)
    for site in sites:
        expected = cache[site.tl_hook]
        assert expected.shape == acts[site.layer].shape
        torch.testing.assert_close(acts[site.layer], expected, atol=1e-5, rtol=1e-5)


def test_demo_gender_gap_is_finite_and_signed(demo_lm):
    gaps = next_token_logprob_gap(demo_lm, ["The nurse said that", "The carpenter said that"], " he", " she")
    assert torch.isfinite(gaps).all()
    assert gaps[0] < gaps[1], "the model should prefer ' she' more after 'nurse' than after 'carpenter'"
