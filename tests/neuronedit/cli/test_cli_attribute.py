"""`neuronedit attribute` writes scores with a control; the parser's names match the registries."""

from __future__ import annotations

import os
import subprocess
import sys

from tiny_models import tiny_model_dir

from attributions import NeuronScores
from attributions.selection import DEFAULT_RULE


def test_cli_attribute_writes_scores_with_control(tmp_path):
    model_dir = tiny_model_dir(tmp_path / "m")
    out = tmp_path / "scores.safetensors"
    cmd = [sys.executable, "-m", "neuronedit", "attribute", "--model", str(model_dir), "--data", "probes:gender",
           "--split", "dev", "--limit", "12", "--objective", "pair", "--method", "grad_x_act", "--out", str(out),
           "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ), check=False)
    assert done.returncode == 0, done.stderr
    assert f"top 10 by rule '{DEFAULT_RULE}'" in done.stdout
    scores = NeuronScores.load(out)
    assert scores.shape == (2, 48) and scores.meta["n_examples"] == 12 and scores.meta["data"] == "probes:gender"
    assert scores.control is not None and scores.control.meta["objective"] == "lm"
    again = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert again.returncode == 2 and "exists; pass --overwrite" in again.stderr
    contrast = subprocess.run(cmd[:6] + ["--objective", "contrast", "--prompt", "the nurse said that", "--out",
                                         str(tmp_path / "c.safetensors"), "--no-control", "--quiet"],
                              capture_output=True, text=True, check=False)
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
    assert tuple(methods.METHODS) == args.METHODS
    assert inspect.signature(attribute).parameters["method"].default == args.DEFAULT_METHOD
    assert args.CONTROLS == controls.CONTROLS and args.DEFAULT_CONTROL == controls.DEFAULT_CONTROL
    assert tuple(unlearn.METHODS) == args.UNLEARN_METHODS
    assert inspect.signature(unlearn.unlearning_edit).parameters["method"].default == args.DEFAULT_UNLEARN_METHOD
    assert args.OBJECTIVES == recipes.OBJECTIVES
    assert ("auto", *PAIR_SPANS) == args.SPANS
    assert tuple(loading.DTYPES) == args.DTYPES
