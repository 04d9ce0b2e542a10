"""`--method learned_mask` on the command line: a run writes gate scores; bad --mask options exit 2 first."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_checks import refused

from attributions import NeuronScores
from neuronedit.data.realtext import monitor_sentences, retain_sentences, stretch_sentences
from neuronedit.locate.learned import method_options


def test_attribute_learned_mask_writes_gate_scores(model_dir: Path, tmp_path: Path, run_cli) -> None:
    out = tmp_path / "mask.safetensors"
    code, log = run_cli(["attribute", "--model", str(model_dir), "--data", "probes:gender", "--split", "dev",
                         "--limit", "8", "--method", "learned_mask", "--steps", "6", "--mask", "budget=5",
                         "--mask", "text_weight=0.5", "--no-control", "--out", str(out), "--quiet"])
    assert code == 0, log
    scores = NeuronScores.load(out)
    settings = scores.meta["settings"]
    assert scores.meta["method"] == "learned_mask" and settings["budget"] == 5 and settings["steps"] == 6
    assert settings["text_weight"] == 0.5 and settings["retain_texts"] == len(retain_sentences())
    assert settings["keep"] and settings["keep"][0]["span"] == "diff"  # the gender knowledge probes (dev)
    assert len(scores.meta["history"]["rows"]) == 6


@pytest.mark.parametrize(("extra", "needles"), [
    (["--mask", "budget=0"], ["--mask", "budget must be a whole number >= 1"]),
    (["--mask", "budgett=3"], ["--mask budgett=3", "NAME one of budget"]),
    (["--mask", "budget"], ["give NAME=VALUE"]),
    (["--mask", "lr=fast"], ["lr takes a float"]),
    (["--mask", "steps=5", "--steps", "5"], ["--steps and --mask steps=N"]),
    (["--mask", "budget=5", "--method", "grad_x_act"], ["learned_mask method, which this run does not use"]),
])
def test_bad_mask_options_exit_2_before_the_model_loads(extra: list[str], needles: list[str], tmp_path: Path,
                                                        run_cli) -> None:
    argv = ["attribute", "--model", str(tmp_path / "no-such-model"), "--data", "probes:gender",
            "--method", "learned_mask", "--out", str(tmp_path / "s.safetensors"), *extra]
    refused(run_cli(argv), *needles)  # the missing model would be named if it were loaded first
    assert not (tmp_path / "s.safetensors").exists()


def test_transfer_and_recovery_take_mask_options(tmp_path: Path, run_cli) -> None:
    for command in (["transfer"], ["recovery"]):
        refused(run_cli([*command, "--model", str(tmp_path / "none"), "--mask", "knowledge_weight=-1",
                         "--out", str(tmp_path / "o"), *(["--methods", "learned_mask"] if command == ["recovery"]
                                                         else ["--method", "learned_mask"])]),
                "--mask", "knowledge_weight")


def test_mask_terms_keep_text_no_report_reads_and_the_domains_knowledge() -> None:
    retain = retain_sentences()
    assert len(retain) == 24 and not set(retain) & set(monitor_sentences())
    report_start = set(stretch_sentences(0.0, 0.6, min_words=1, max_words=10**6))
    assert not set(retain) & report_start
    options = method_options("learned_mask", "race", {"budget": 7})
    assert options["budget"] == 7 and options["keep"][0].span == "tail"
    assert method_options("learned_mask", None)["knowledge_weight"] == 0.0
    assert method_options("grad_x_act", "gender", {"budget": 7}) == {}


def test_learned_mask_selects_with_top_by_default(tmp_path: Path, run_cli) -> None:
    import torch

    from neuronedit.locate.recipes import choose_neurons

    scores = NeuronScores(torch.arange(96.0).view(2, 48), meta={"method": "learned_mask"},
                          control=NeuronScores(torch.ones(2, 48), std=torch.ones(2, 48)))
    neurons, rule, k = choose_neurons(scores, 3)
    assert rule == "top" and list(neurons) == [(1, 47), (1, 46), (1, 45)] and k == 3
    refused(run_cli(["transfer", "--model", str(tmp_path / "none"), "--method", "learned_mask", "--rule",
                     "consistent", "--out", str(tmp_path / "o")]), "--rule consistent", "drop --rule")


def test_transfer_matrix_refuses_consistent_for_learned_mask_before_training() -> None:
    from tiny_models import tiny_lm

    from attributions.errors import InputError
    from neuronedit.analysis import transfer_matrix

    with pytest.raises(InputError, match="rule 'consistent' ranks by score / per-example spread"):
        transfer_matrix(tiny_lm("llama"), ["gender"], data="probes", method="learned_mask", log=None)
