"""LEACE: after erasure the group concept is not linearly recoverable from held-out activations of a
tiny model (least-squares probe R^2 about 0, from > 0.4 before); the erasers save, load and restore."""

from __future__ import annotations

import hashlib
import json
import random
from contextlib import ExitStack, nullcontext
from typing import Any

import pytest
import torch
from safetensors.torch import save
from tiny_models import tiny_lm

from neuronedit.baselines import EraserFileError, concept_examples, erased, fit_leace, load_eraser, save_eraser
from neuronedit.baselines.leace import _batches, _block_output

JOBS = ["nurse", "engineer", "doctor", "secretary", "mechanic", "neighbor"]
ADJ = ["poor", "rich", "loud", "lazy", "angry"]


def _sentences(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join([rng.choice(["he", "the man"]), rng.choice(["said that", "was", "lived in"]), "the",
                      rng.choice(JOBS), rng.choice(["was", "is"]), rng.choice(ADJ),
                      rng.choice(["in paris", "at work", "at home", ""])]).strip() for _ in range(n)]


def _activations(lm, texts: list[str], layer: int, eraser) -> tuple[torch.Tensor, torch.Tensor]:
    examples, labels = concept_examples(texts, "gender")
    xs, ys, captured = [], [], []
    with erased(lm, eraser) if eraser else nullcontext(), ExitStack() as stack, torch.no_grad():
        hook = lm.sites[layer].block.register_forward_hook(lambda _m, _a, out: captured.append(_block_output(out)))
        stack.callback(hook.remove)
        for ids, mask, token_mask, label in _batches(lm, examples, labels, 32):
            captured.clear()
            lm.model(input_ids=ids, attention_mask=mask)
            xs.append(captured[0][token_mask])
            ys.append(label)
    return torch.cat(xs).double(), torch.cat(ys).double()


def _probe_r2(x: torch.Tensor, y: torch.Tensor) -> float:
    """R^2 on a held-out half of a least-squares linear probe (with intercept) fitted on the other half."""
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    x, y = x[order], y[order]
    half = len(x) // 2
    design = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)
    w = torch.linalg.lstsq(design[:half], y[:half, None]).solution
    residual = design[half:] @ w - y[half:, None]
    return 1 - float((residual**2).mean() / y[half:].var(unbiased=False))


def test_concept_not_linearly_recoverable_on_held_out_text() -> None:
    lm = tiny_lm()
    eraser = fit_leace(lm, _sentences(300, 0), "gender")
    held_out = _sentences(300, 1)
    for layer in (0, 1):
        before = _probe_r2(*_activations(lm, held_out, layer, None))
        after = _probe_r2(*_activations(lm, held_out, layer, eraser))
        assert before > 0.4, (layer, before)
        assert after < 0.03, (layer, after)


def test_examples_are_counterfactually_balanced() -> None:
    texts, labels = concept_examples(["the man was lazy", "she is home", "the nurse was lazy", "he and she"], "gender")
    assert texts == ["the man was lazy", "the woman was lazy", "she is home", "he is home"]
    assert labels == [0, 1, 1, 0]
    many = [f"the man number {i} was lazy" for i in range(100)]
    texts, labels = concept_examples(many, "gender", max_texts=10)  # thinned before the counterfactuals
    assert len(texts) == 20 and labels == [0, 1] * 10 and texts[1] == texts[0].replace("man", "woman")


def test_save_load_round_trip_and_untrusted_files(tmp_path) -> None:
    lm = tiny_lm()
    eraser = fit_leace(lm, _sentences(80, 0), "gender", layers=[1])
    manifest = save_eraser(eraser, lm, tmp_path)
    loaded = load_eraser(tmp_path, lm)
    assert list(loaded.erasers) == [1]
    assert torch.equal(loaded.erasers[1].proj_left, eraser.erasers[1].proj_left.float())
    ids = torch.tensor([[2, 3, 5, 7, 9]])
    with torch.no_grad():
        with erased(lm, eraser):
            a = lm.model(input_ids=ids).logits
        with erased(lm, loaded):
            b = lm.model(input_ids=ids).logits
        plain = lm.model(input_ids=ids).logits
    assert torch.equal(a, b) and not torch.equal(a, plain)
    data = json.loads(manifest.read_text())
    for change, message in [({"layers": [7]}, "layers"), ({"layers": [True]}, "layers"), ({"kind": "x"}, "LEACE"),
                            ({"base_fingerprint": "0" * 64}, "another model"), ({"sha256": "1" * 64}, "SHA-256")]:
        manifest.write_text(json.dumps({**data, **change}))
        with pytest.raises(EraserFileError, match=message):
            load_eraser(manifest, lm)
    manifest.write_text(json.dumps(data))
    tensors = tmp_path / "leace.safetensors"
    good = tensors.read_bytes()
    for crafted, message in [(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}", "not a safetensors file"),
                             (_crafted(eraser, torch.nan), "NaN"), (_crafted(eraser, 1, torch.int64), "non-float")]:
        tensors.write_bytes(crafted)
        manifest.write_text(json.dumps({**data, "sha256": hashlib.sha256(crafted).hexdigest()}))
        with pytest.raises(EraserFileError, match=message):
            load_eraser(tmp_path, lm)
    tensors.write_bytes(good)
    manifest.write_text("{not json")
    with pytest.raises(EraserFileError, match="leace.json"):
        load_eraser(tmp_path, lm)


def _crafted(eraser, value: float, dtype: torch.dtype = torch.float32) -> bytes:
    """A tensor file of the right shapes whose projection is filled with ``value`` (a rewritten digest
    cannot protect against it: the manifest is untrusted too)."""
    fitted = eraser.erasers[1]
    return save({"1.proj_left": torch.full_like(fitted.proj_left, value, dtype=dtype),
                 "1.proj_right": fitted.proj_right.contiguous()})


def test_model_restored_after_exception() -> None:
    lm = tiny_lm()
    eraser = fit_leace(lm, _sentences(60, 0), "gender", layers=[0])
    ids = torch.tensor([[2, 3, 5, 7, 9]])
    with torch.no_grad():
        before = lm.model(input_ids=ids).logits
        with pytest.raises(KeyError), erased(lm, eraser):
            raise KeyError("boom")
        assert torch.equal(lm.model(input_ids=ids).logits, before)
    assert not any(block._forward_hooks for block in (site.block for site in lm.sites))
    with pytest.raises(ValueError, match="no gender sentences"):
        fit_leace(lm, ["the nurse was lazy"], "gender")


CAUSAL = ["gpt2", "gpt_neo", "gpt_neox", "opt", "llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "phi", "phi3"]


@pytest.mark.parametrize("arch", CAUSAL)
def test_block_replay_equals_a_reference_fit_on_the_model_forward(arch: str) -> None:
    """Fitting replays the blocks one at a time from one recorded pass. Reference: concept-erasure's own
    fitter on the second block's outputs that the model's forward pass computes with the first eraser
    hooked in. The two erasers agree to float rounding; fitted without the first erasure (what a replay
    that skipped it would do) they differ by about 10% of the activations' range."""
    from concept_erasure import LeaceFitter

    lm = tiny_lm(arch)
    texts = _sentences(40, 0)
    both = fit_leace(lm, texts, "gender", layers=[0, 1])

    def reference(eraser) -> tuple[torch.Tensor, Any]:
        x, y = _activations(lm, texts, 1, eraser)
        fitter = LeaceFitter(x.shape[1], 2, dtype=torch.float64)
        fitter.update(x, torch.nn.functional.one_hot(y.long(), 2))
        return x, fitter.eraser

    x, want = reference(type(both)({0: both.erasers[0]}, "gender"))
    got = both.erasers[1](x.float()).double()
    scale = float(x.abs().max())
    assert (got - want(x)).abs().max() < 1e-5 * scale
    _, skipped = reference(None)
    assert (got - skipped(x)).abs().max() > 1e-2 * scale
