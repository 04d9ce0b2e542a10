"""`neuronedit attribute` -> `edit` -> reload with plain transformers; `apply` replays a manifest on the base."""

from __future__ import annotations

import torch
from tiny_models import tiny_model_dir
from transformers import AutoModelForCausalLM

from attributions import LanguageModel
from neuronedit import masked
from neuronedit.edits import MANIFEST_NAME, load_manifest

IDS = torch.tensor([[3, 7, 9, 4, 12, 5, 8, 20], [6, 11, 13, 3, 9, 14, 2, 17]])


@torch.no_grad()
def _logits(model: torch.nn.Module) -> torch.Tensor:
    return model(input_ids=IDS).logits


def test_cli_edit_and_apply(tmp_path, cli_in_process):
    """attribute -> edit (default rule and k) -> reload with plain transformers; apply the manifest to the base."""
    from attributions import NeuronScores
    from attributions.selection import DEFAULT_K, DEFAULT_RULE

    model_dir = tiny_model_dir(tmp_path / "m")

    cli = cli_in_process

    scores = tmp_path / "s.safetensors"
    assert cli("attribute", "--model", str(model_dir), "--data", "probes:gender", "--split", "dev", "--limit", "8",
               "--out", str(scores), "--quiet").returncode == 0
    done = cli("edit", "--model", str(model_dir), "--scores", str(scores), "--mode", "prune", "--out",
               str(tmp_path / "e"))
    assert done.returncode == 0, done.stderr
    assert f"by rule '{DEFAULT_RULE}' (k={DEFAULT_K}, the default)" in done.stdout
    manifest = load_manifest(tmp_path / "e")
    chosen = manifest[0].neurons
    assert len(chosen) == DEFAULT_K and manifest[0].provenance["rule"] == DEFAULT_RULE
    assert manifest[0].provenance["data_sha256"] == {"probes:gender": "built-in"}
    base = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    with masked(LanguageModel(base, None), chosen):
        expected = _logits(base)
    torch.testing.assert_close(_logits(AutoModelForCausalLM.from_pretrained(tmp_path / "e")), expected,
                               atol=1e-5, rtol=0)
    applied = cli("apply", "--model", str(model_dir), "--manifest", str(tmp_path / "e" / MANIFEST_NAME),
                  "--out", str(tmp_path / "a"))
    assert applied.returncode == 0, applied.stderr
    torch.testing.assert_close(_logits(AutoModelForCausalLM.from_pretrained(tmp_path / "a")), expected,
                               atol=1e-6, rtol=0)
    again = cli("apply", "--model", str(tmp_path / "a"), "--manifest", str(tmp_path / "e"), "--out",
                str(tmp_path / "b"))
    assert again.returncode == 0 and "already applied" in again.stdout and not (tmp_path / "b").exists()
    other = tiny_model_dir(tmp_path / "other", seed=3)
    refused = cli("apply", "--model", str(other), "--manifest", str(tmp_path / "e"), "--out", str(tmp_path / "c"))
    assert refused.returncode == 2 and "fingerprint" in refused.stderr and "--force" in refused.stderr
    bad = cli("edit", "--model", str(model_dir), "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "exactly one of --scores" in bad.stderr
    assert NeuronScores.load(scores).meta["data_sha256"] == {"probes:gender": "built-in"}
