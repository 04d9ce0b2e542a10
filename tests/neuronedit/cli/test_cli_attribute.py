"""`neuronedit attribute` writes scores with the control transfer selects with."""

from __future__ import annotations

import torch
from tiny_models import tiny_model_dir

from attributions import NeuronScores
from attributions.selection import DEFAULT_RULE


def test_cli_attribute_writes_scores_with_control(tmp_path, cli_in_process):
    model_dir = tiny_model_dir(tmp_path / "m")
    out = tmp_path / "scores.safetensors"
    cmd = ["attribute", "--model", str(model_dir), "--data", "probes:gender",
           "--split", "dev", "--limit", "12", "--objective", "pair", "--method", "grad_x_act", "--out", str(out),
           "--quiet"]
    done = cli_in_process(*cmd)
    assert done.returncode == 0, done.stderr
    assert f"top 10 by rule '{DEFAULT_RULE}'" in done.stdout
    scores = NeuronScores.load(out)
    assert scores.shape == (2, 48) and scores.meta["n_examples"] == 12 and scores.meta["data"] == "probes:gender"
    assert scores.control is not None and scores.control.meta["control"] == "lm+knowledge"
    assert scores.control.meta["data"] == "built-in neutral corpus + probes:knowledge-gender (dev)"
    again = cli_in_process(*cmd)
    assert again.returncode == 2 and "exists; pass --overwrite" in again.stderr
    contrast = cli_in_process(*cmd[:3], "--objective", "contrast", "--prompt", "the nurse said that", "--out",
                              str(tmp_path / "c.safetensors"), "--no-control", "--quiet")
    assert contrast.returncode == 0, contrast.stderr
    assert NeuronScores.load(tmp_path / "c.safetensors").control is None


def test_attribute_control_is_the_control_transfer_selects_with(model_dir, tmp_path, run_cli, monkeypatch):
    """`attribute` (default --control, the transfer default) then `edit` selects the neurons transfer selects
    on the same data, method, rule and k."""
    from attributions import PairPreference, attribute
    from attributions.selection import select
    from neuronedit.analysis.transfer import domains_from, objective_span
    from neuronedit.cli import build_parser
    from neuronedit.locate.control_scores import DEFAULT_CONTROL, control_scores
    from neuronedit.locate.recipes import choose_neurons
    from neuronedit.model.loading import load_model

    monkeypatch.setenv("NEURONEDIT_CACHE", str(tmp_path / "cache"))
    parser = build_parser()
    defaults = {command: parser.parse_args([command, "--out", "x"]).control for command in ("transfer", "compare")}
    assert defaults == dict.fromkeys(defaults, DEFAULT_CONTROL) and DEFAULT_CONTROL == "lm+knowledge"
    assert parser.parse_args(["attribute", "--out", "x"]).control is None  # resolved from the data (below)
    out = tmp_path / "s.safetensors"
    code, log = run_cli(["attribute", "--model", str(model_dir), "--data", "probes:gender", "--split", "dev",
                         "--out", str(out), "--quiet"])
    assert code == 0, log
    code, log = run_cli(["edit", "--model", str(model_dir), "--scores", str(out), "--top-k", "6", "--out",
                         str(tmp_path / "e"), "--quiet"])
    assert code == 0 and f"by rule '{DEFAULT_RULE}' (k=6)" in log, log

    lm = load_model(str(model_dir))
    domain = domains_from(["gender"], "probes", others=False)[0]  # what transfer_matrix locates with
    expected = attribute(lm, PairPreference(domain.attribution, span=objective_span(domain, "all")), "grad_x_act",
                         batch_size=16, seed=0)
    expected.control = control_scores(lm, DEFAULT_CONTROL, domain="gender", batch_size=16)
    stored = NeuronScores.load(out)
    assert stored.control is not None and stored.control.meta["control"] == "lm+knowledge"
    torch.testing.assert_close(stored.control.scores, expected.control.scores)
    assert choose_neurons(stored, 6)[0] == select(expected, 6, DEFAULT_RULE)


def test_attribute_knowledge_control_needs_one_known_bias_type(model_dir, tmp_path, run_cli):
    base = ["attribute", "--model", str(model_dir), "--out", str(tmp_path / "s.safetensors")]
    knowledge = ["--control", "lm+knowledge"]
    code, err = run_cli([*base, *knowledge, "--data", "stereoset", "--split", "dev"])  # four bias types
    assert code == 2 and "--control lm+knowledge" in err and "--bias-type gender|race|religion" in err, err
    code, err = run_cli([*base, *knowledge, "--data", "stereoset", "--bias-type", "profession"])
    assert code == 2 and "'profession' has no knowledge probes" in err and "--control lm" in err, err
    code, err = run_cli([*base, *knowledge, "--objective", "contrast", "--prompt", "the nurse said that"])
    assert code == 2 and "no single bias type" in err, err
    assert not (tmp_path / "s.safetensors").exists()


def test_attribute_default_control_falls_back_to_lm_without_a_domain(model_dir, tmp_path, run_cli, monkeypatch):
    """Without --control, data that names no single bias type with knowledge probes gets the lm control
    (said on stderr); explicit --control lm+knowledge on the same data is refused (above)."""
    monkeypatch.setenv("NEURONEDIT_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "s.safetensors"
    code, err = run_cli(["attribute", "--model", str(model_dir), "--objective", "contrast", "--prompt",
                         "the nurse said that", "--out", str(out)])
    assert code == 0 and "control scores: lm (the data has no single bias type" in err, err
    stored = NeuronScores.load(out)
    assert stored.control is not None and stored.control.meta["control"] == "lm"
