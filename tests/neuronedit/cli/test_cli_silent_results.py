"""Issue #26, "silent wrong results": what used to be written or accepted with exit 0 now exits 2 with one line
naming the file or flag and the fix, and writes nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from cli_checks import refused

from attributions import NeuronScores, NeuronSet
from neuronedit.edits import MANIFEST_NAME, Edit, delta_bytes, make_delta, save_manifest

NEURONS = NeuronSet([(0, 1), (1, 2)])


def _neurons(tmp_path: Path) -> str:
    NEURONS.save(tmp_path / "n.json")
    return str(tmp_path / "n.json")


def _scores(path: Path, fingerprint: str | None, *, zero: bool = False, std: float = 1.0) -> str:
    torch.manual_seed(0)
    values = torch.zeros(2, 48) if zero else torch.randn(2, 48)
    meta = {"method": "grad_x_act"} if fingerprint is None else {"method": "grad_x_act", "fingerprint": fingerprint}
    control = NeuronScores(torch.zeros(2, 48) if zero else torch.randn(2, 48), meta=dict(meta))
    NeuronScores(values, std=torch.full((2, 48), std), meta=meta, control=control).save(path)
    return str(path)


def _apply(model_dir: Path, manifest: Path, out: Path) -> list[str]:
    return ["apply", "--model", str(model_dir), "--manifest", str(manifest), "--out", str(out)]


def test_a_scale_factor_that_overflows_the_weights_writes_nothing(model_dir, tmp_path, run_cli):
    out = tmp_path / "o"
    refused(run_cli(["edit", "--model", str(model_dir), "--neurons", _neurons(tmp_path), "--mode", "scale",
                      "--factor", "1e39", "--out", str(out)]), "NaN or infinite", "--factor")
    assert not out.exists()


@pytest.mark.parametrize("edit", [Edit(NEURONS, "scale", factor=1e308), Edit(NEURONS, "mean", values=(1e308, 1.0))])
def test_manifest_numbers_that_overflow_the_weights_write_nothing(edit, model_dir, fingerprint, tmp_path, run_cli):
    from dataclasses import replace

    manifest = save_manifest([replace(edit, base_fingerprint=fingerprint)], tmp_path / MANIFEST_NAME)
    refused(run_cli(_apply(model_dir, manifest, tmp_path / "o")), "NaN or infinite")
    assert not (tmp_path / "o").exists()


def test_a_weight_delta_holding_nan_writes_nothing(model_dir, fingerprint, tmp_path, run_cli):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    with torch.no_grad():
        model.model.layers[0].mlp.down_proj.weight[0, 0] = float("nan")
    data, digest = delta_bytes(make_delta(before, model))
    name = f"unlearn-{digest[:12]}.safetensors"
    (tmp_path / name).write_bytes(data)
    edit = Edit(NeuronSet(), "unlearn", base_fingerprint=fingerprint, delta=name, delta_sha256=digest)
    manifest = save_manifest([edit], tmp_path / MANIFEST_NAME)
    refused(run_cli(_apply(model_dir, manifest, tmp_path / "o")), name, "NaN or infinite")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("field, value", [("factor", 10**400), ("values", [10**400, 1])])
def test_a_400_digit_manifest_number_is_an_input_error(field, value, model_dir, fingerprint, tmp_path, run_cli):
    edit = Edit(NEURONS, "scale" if field == "factor" else "mean", factor=2.0 if field == "factor" else None,
                values=None if field == "factor" else (1.0, 1.0), base_fingerprint=fingerprint)
    manifest = save_manifest([edit], tmp_path / MANIFEST_NAME)
    body = json.loads(manifest.read_text())
    body["edits"][0][field] = value
    manifest.write_text(json.dumps(body))
    refused(run_cli(_apply(model_dir, manifest, tmp_path / "o")), f"{field}", "finite")


def test_a_manifest_without_its_id_isrefused(model_dir, fingerprint, tmp_path, run_cli):
    manifest = save_manifest([Edit(NEURONS, "zero", base_fingerprint=fingerprint)], tmp_path / MANIFEST_NAME)
    body = json.loads(manifest.read_text())
    del body["edits"][0]["id"]
    manifest.write_text(json.dumps(body))
    refused(run_cli(_apply(model_dir, manifest, tmp_path / "o")), "'id'", "hand")
    assert not (tmp_path / "o").exists()


def test_a_config_whose_edit_ids_are_not_a_list_is_an_input_error(model_dir, tmp_path, run_cli):
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "neuronedit_edits": 5}))
    refused(run_cli(["edit", "--model", str(copy), "--neurons", _neurons(tmp_path), "--out", str(tmp_path / "o")]),
             "neuronedit_edits", "config.json")


@pytest.mark.parametrize("command", ["edit", "explain"])
def test_a_scores_file_without_a_fingerprint_needs_force(command, model_dir, tmp_path, run_cli):
    scores = _scores(tmp_path / "s.safetensors", None)
    argv = [command, "--model", str(model_dir), "--scores", scores, "--top-k", "2", "--out", str(tmp_path / "o")]
    if command == "explain":
        argv += ["--tokens", "50", "--quiet"]
    refused(run_cli(argv), scores, "fingerprint", "--force")
    assert not (tmp_path / "o").exists()
    code, out = run_cli([*argv, "--force"])
    assert code == 0 and "warning:" in out, out


@pytest.mark.parametrize("zero, std, rule", [(True, 1.0, "ratio"), (False, float("nan"), "consistent"),
                                             (True, 1.0, "top")])
def test_an_empty_selection_isrefused(zero, std, rule, model_dir, fingerprint, tmp_path, run_cli):
    scores = _scores(tmp_path / "s.safetensors", fingerprint, zero=zero, std=std)
    refused(run_cli(["edit", "--model", str(model_dir), "--scores", scores, "--rule", rule, "--out",
                      str(tmp_path / "o")]), f"rule {rule!r}", "--rule", "s.safetensors: ")
    assert not (tmp_path / "o").exists()


def test_explain_never_opens_a_path_named_by_the_scores_file(model_dir, fingerprint, tmp_path, run_cli):
    secret = tmp_path / "secret.csv"
    secret.write_text("TOPSECRET-LINE,x\n")
    scores = tmp_path / "s.safetensors"
    _scores(scores, fingerprint)
    loaded = NeuronScores.load(scores)
    loaded.meta["data"] = f"crows:{secret}"
    loaded.save(scores)
    code, out = run_cli(["explain", "--model", str(model_dir), "--scores", str(scores), "--top-k", "2", "--rule",
                         "top", "--tokens", "50", "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 0 and "TOPSECRET" not in out, out
    assert f"--data crows:{secret}" in out, out


@pytest.mark.parametrize("extra", [["--top-k", "3"], ["--rule", "top"], ["--factor", "2"],
                                   ["--mode", "zero", "--means-data", "text:bundled"],
                                   ["--mode", "scale", "--factor", "2", "--means-data", "text:bundled"]])
def test_edit_refuses_flags_it_would_ignore(extra, model_dir, tmp_path, run_cli):
    flag = next(a for a in extra if a in ("--top-k", "--rule", "--factor", "--means-data"))
    flag = "--means-data" if "--means-data" in extra else flag
    refused(run_cli(["edit", "--model", str(model_dir), "--neurons", _neurons(tmp_path), *extra,
                      "--out", str(tmp_path / "o")]), flag)
    assert not (tmp_path / "o").exists()


def test_transfer_refuses_dose_without_sizes_and_pair_data_as_perplexity_text(model_dir, tmp_path, run_cli):
    base = ["transfer", "--model", str(model_dir), "--data", "probes", "--domains", "gender", "--out",
            str(tmp_path / "o"), "--quiet"]
    refused(run_cli([*base, "--dose"]), "--dose", "--no-dose")
    refused(run_cli([*base, "--ppl-text", "probes:gender"]), "--ppl-text", "text:PATH")
    refused(run_cli([*base, "--confine"]), "--confine is for --mode unlearn", "drop it")
    refused(run_cli([*base, "--lr", "0.1", "--unlearn-method", "gradient_ascent"]), "--unlearn-method, --lr are",
             "--mode unlearn")
    assert not (tmp_path / "o").exists()


def test_transfer_refuses_a_top_k_the_random_control_cannot_match(model_dir, tmp_path, run_cli):
    """Before any attribution (it used to fail after the whole matrix was computed)."""
    result = run_cli(["transfer", "--model", str(model_dir), "--data", "probes", "--domains", "gender", "--out",
                      str(tmp_path / "o"), "--top-k", "49"])
    out = refused(result, "--top-k (k) 49 is more than half of the model's 96 MLP neurons", "give at most 48")
    assert "evaluated" not in out
    assert not (tmp_path / "o").exists()


def test_unlearning_that_diverges_is_refused_and_restores_the_weights(model_dir, tmp_path, run_cli):
    from tiny_models import tiny_lm

    from attributions.errors import InputError
    from neuronedit.unlearn import unlearn

    refused(run_cli(["unlearn", "--model", str(model_dir), "--forget", "probes:gender", "--lr", "1e308", "--steps",
                      "2", "--eval-every", "1", "--out", str(tmp_path / "o"), "--quiet"]), "diverged", "--lr")
    assert not (tmp_path / "o").exists()
    lm = tiny_lm()
    before = lm.fingerprint()
    with pytest.raises(InputError, match="unlearning diverged at step"):
        unlearn(lm, ["the nurse said that she was tired", "he is a doctor"], "gradient_ascent", lr=1e308, steps=3,
                eval_every=1, max_retain_ppl_increase=None)
    assert lm.fingerprint() == before
