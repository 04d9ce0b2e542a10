"""Selection rules, the reversible `masked` edit, spans from pairs, and `neuronedit attribute`."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from tiny_models import tiny_model, tiny_model_dir, tiny_tokenizer

from attributions import LanguageModel, NeuronScores, NeuronSet
from attributions.selection import DEFAULT_RULE, select
from neuronedit.data.spans import diff_char_spans
from neuronedit.editing import masked


def _scores(values, control=None) -> NeuronScores:
    s = NeuronScores(scores=torch.tensor(values, dtype=torch.float32))
    if control is not None:
        s.control = NeuronScores(scores=torch.tensor(control, dtype=torch.float32))
    return s


def test_selection_rules_by_hand():
    scores = _scores([[5.0, 4.0, 3.0, 2.0], [1.0, 0.5, -1.0, -2.0]],
                     control=[[9.0, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1, 0.1]])
    assert list(select(scores, 2, "top")) == [(0, 0), (0, 1)]
    # (0, 0) is the control's most important neuron: excluded at the 90% quantile
    assert list(select(scores, 2, "exclude_control")) == [(0, 1), (0, 2)]
    ratio = select(scores, 1, "ratio")  # 5 / (9 + 1.2) < 4 / (0.1 + 1.2)
    assert list(ratio) == [(0, 1)]
    assert (0, 0) not in select(scores, 2, "difference")
    assert len(select(scores, 10, "top")) == 8
    for bad in (float("nan"), float("inf")):  # an Inf neuron would be chosen first, a NaN never: refused
        with pytest.raises(ValueError, match="NaN or infinite"):
            select(_scores([[1.0, bad]]), 1, "top")
        with pytest.raises(ValueError, match="control scores are NaN or infinite"):
            select(_scores([[1.0, 2.0]], control=[[0.0, bad]]), 1, "ratio")
    for k in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="k must be an integer"):
            select(scores, k, "top")
    with pytest.raises(ValueError, match="needs control scores"):
        select(_scores([[1.0]]), 1, "ratio")
    with pytest.raises(ValueError, match="unknown selection rule"):
        select(scores, 1, "best")


@pytest.fixture(scope="module")
def tiny_lm():
    tok = tiny_tokenizer()
    tok.bos_token = "[EOS]"
    return LanguageModel(model=tiny_model("gpt2"), tokenizer=tok, name="tiny")


IDS = torch.tensor([[3, 5, 7, 9, 11], [4, 6, 8, 10, 12]])


def _logits(lm):
    with torch.no_grad():
        return lm.model(IDS).logits


def test_masked_restores_exactly_and_nests(tiny_lm):
    before = _logits(tiny_lm)
    outer, inner = NeuronSet([(0, 1), (1, 2)]), NeuronSet([(1, 3)])
    with masked(tiny_lm, outer):
        edited = _logits(tiny_lm)
        with masked(tiny_lm, inner, "scale", factor=3.0):
            both = _logits(tiny_lm)
        assert torch.equal(_logits(tiny_lm), edited)
    assert not torch.equal(edited, before) and not torch.equal(both, edited)
    assert torch.equal(_logits(tiny_lm), before)
    with pytest.raises(RuntimeError, match="inside"):
        with masked(tiny_lm, outer):
            raise RuntimeError("inside")
    assert torch.equal(_logits(tiny_lm), before)
    assert all(not s.module._forward_pre_hooks for s in tiny_lm.sites)


def test_masked_zero_equals_weight_zero_and_checks_range(tiny_lm):
    neurons = NeuronSet([(0, 1), (1, 2)])
    with masked(tiny_lm, neurons):
        hooked = _logits(tiny_lm)
    copy = tiny_model("gpt2")
    from attributions import find_sites

    with torch.no_grad():
        for site in find_sites(copy):
            for layer, n in neurons:
                if layer == site.layer:
                    site.write_out[:, n] = 0
        torch.testing.assert_close(copy(IDS).logits, hooked, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="out of range"):
        with masked(tiny_lm, NeuronSet([(0, 999)])):
            pass
    with pytest.raises(ValueError, match="needs means"):
        with masked(tiny_lm, neurons, "mean"):
            pass


def test_diff_char_spans():
    more, less = "The nurse said that she was late.", "The nurse said that he was late."
    (span,) = diff_char_spans(more, less)
    assert more[span[0] : span[1]] == "she"
    more, less = "My Black neighbor is very loud.", "My White neighbor is very loud."
    assert [more[a:b] for a, b in diff_char_spans(more, less)] == ["Black"]


def test_cli_attribute_writes_scores_with_control(tmp_path):
    model_dir = tiny_model_dir(tmp_path / "m")
    out = tmp_path / "scores.safetensors"
    cmd = [sys.executable, "-m", "neuronedit", "attribute", "--model", str(model_dir), "--data", "probes:gender",
           "--split", "dev", "--limit", "12", "--objective", "pair", "--method", "grad_x_act", "--out", str(out),
           "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    assert f"top 10 by rule '{DEFAULT_RULE}'" in done.stdout
    scores = NeuronScores.load(out)
    assert scores.shape == (2, 48) and scores.meta["n_examples"] == 12 and scores.meta["data"] == "probes:gender"
    assert scores.control is not None and scores.control.meta["objective"] == "lm"
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 2 and "exists; pass --overwrite" in again.stderr
    contrast = subprocess.run(cmd[:6] + ["--objective", "contrast", "--prompt", "the nurse said that", "--out",
                                         str(tmp_path / "c.safetensors"), "--no-control", "--quiet"],
                              capture_output=True, text=True)
    assert contrast.returncode == 0, contrast.stderr
    assert NeuronScores.load(tmp_path / "c.safetensors").control is None


def test_cli_names_match_the_registries():
    """The parser spells the registries' names (importing them would import torch); they must agree."""
    import inspect

    from attributions import attribute, methods, selection
    from attributions.objectives import PAIR_SPANS
    from neuronedit import cli, controls, loading, recipes, unlearn
    from neuronedit.cli import args

    assert cli.RULES == selection.RULES and cli.DEFAULT_RULE == selection.DEFAULT_RULE
    assert args.DEFAULT_K == selection.DEFAULT_K
    assert args.METHODS == tuple(methods.METHODS)
    assert args.DEFAULT_METHOD == inspect.signature(attribute).parameters["method"].default
    assert args.CONTROLS == controls.CONTROLS and args.DEFAULT_CONTROL == controls.DEFAULT_CONTROL
    assert args.UNLEARN_METHODS == tuple(unlearn.METHODS)
    assert args.DEFAULT_UNLEARN_METHOD == inspect.signature(unlearn.unlearning_edit).parameters["method"].default
    assert args.OBJECTIVES == recipes.OBJECTIVES
    assert args.SPANS == ("auto", *PAIR_SPANS)
    assert args.DTYPES == tuple(loading.DTYPES)
