"""Recipes: objectives from data specs, selection with the command line's defaults, control scores."""

from __future__ import annotations

import pytest
import torch
from tiny_models import tiny_lm

from attributions import (
    ForgetLoss,
    LanguageModeling,
    NeuronScores,
    PairPreference,
    TokenContrast,
    attribute,
)
from attributions.selection import DEFAULT_K, DEFAULT_RULE, select
from neuronedit.data.neutral import NEUTRAL_TEXTS
from neuronedit.locate.control_scores import control_scores
from neuronedit.locate.recipes import (
    NEUTRAL_CORPUS,
    OBJECTIVES,
    choose_neurons,
    control_for,
    data_domain,
    objective_for,
)


@pytest.fixture
def prompts_file(tmp_path):
    path = tmp_path / "prompts.txt"
    path.write_text("the nurse said that\n\n  the engineer said that  \nthe doctor said that\n")
    return f"text:{path}"


def test_pair_objective_reads_pairs_with_limit_split_and_span():
    objective = objective_for("pair", "probes:gender", limit=5, split="dev")
    assert isinstance(objective, PairPreference) and len(objective.pairs) == 5 and objective.span == "all"
    assert all(item.meta["split"] == "dev" for item in objective.pairs)
    assert objective_for("pair", "probes:gender", span="auto").span == "diff"  # the pronoun
    assert objective_for("pair", "probes:race", span="auto").span == "tail"  # what follows the group term
    assert objective_for("pair", "probes:gender", span="tail", limit=2).span == "tail"


def test_contrast_objective_takes_prompts_and_text_lines(prompts_file):
    objective = objective_for("contrast", prompts_file, prompts=["the mechanic said that"], a=" she", b=" he")
    assert isinstance(objective, TokenContrast) and (objective.a, objective.b) == (" she", " he")
    assert objective.prompts == ["the mechanic said that", "the nurse said that", "the engineer said that",
                                 "the doctor said that"]
    assert objective_for("contrast", prompts=["a", "b", "c"], limit=2).prompts == ["a", "b"]


def test_forget_and_lm_objectives_on_pairs_and_text(prompts_file):
    forget = objective_for("forget", "probes:gender", limit=3)
    assert isinstance(forget, ForgetLoss) and len(forget.texts) == 3 and forget.spans is not None
    first = forget.texts[0]
    (start, end), = forget.spans[0]
    assert first[start:end].strip() in ("she", "he", "her", "him", "his", "hers"), first[start:end]
    lm = objective_for("lm", "probes:gender", limit=3)
    assert isinstance(lm, LanguageModeling) and lm.texts == forget.texts  # the more-biased side
    text = objective_for("lm", prompts_file)
    assert isinstance(text, LanguageModeling) and text.texts[1] == "the engineer said that"
    whole = objective_for("forget", prompts_file, limit=1)
    assert isinstance(whole, ForgetLoss) and whole.texts == ["the nurse said that"] and whole.spans is None


@pytest.mark.parametrize("kind, data, message", [
    ("contrast", None, "needs prompts"),
    ("contrast", "probes:gender", "text:PATH"),
    ("pair", None, "needs data"),
    ("pair", "text:bundled", "needs pair data"),
    ("likelihood", "probes:gender", "unknown objective"),
])
def test_objective_for_refuses_what_it_cannot_build(kind, data, message):
    with pytest.raises(ValueError, match=message):
        objective_for(kind, data)


def test_objectives_are_the_listed_ones():
    assert OBJECTIVES == ("pair", "contrast", "forget", "lm")


def _scores(control: bool) -> NeuronScores:
    torch.manual_seed(0)
    scores = NeuronScores(torch.randn(2, 60), std=torch.rand(2, 60) + 0.5, meta={"method": "m"})
    if control:
        scores.control = NeuronScores(torch.randn(2, 60), std=torch.rand(2, 60) + 0.5)
    return scores


def test_choose_neurons_fills_in_the_defaults():
    with_control = _scores(control=True)
    neurons, rule, k = choose_neurons(with_control)
    assert (rule, k) == (DEFAULT_RULE, DEFAULT_K) and neurons == select(with_control, DEFAULT_K, DEFAULT_RULE)
    without = _scores(control=False)
    neurons, rule, k = choose_neurons(without, 5)
    assert (rule, k) == ("top", 5) and neurons == without.top(5)  # every other rule needs control scores
    neurons, rule, k = choose_neurons(with_control, 7, "ratio")
    assert (rule, k, len(neurons)) == ("ratio", 7, 7) and neurons == select(with_control, 7, "ratio")
    with pytest.raises(ValueError, match="control"):
        choose_neurons(without, 3, "consistent")


def test_control_for_grad_x_act_is_the_cached_control(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURONEDIT_CACHE", str(tmp_path))
    lm = tiny_lm()
    control = control_for(lm, "grad_x_act", control="lm", batch_size=8)
    assert control.meta["data"] == NEUTRAL_CORPUS and control.meta["objective"] == "lm"
    assert len(list((tmp_path / "controls").glob("*.safetensors"))) == 1, "grad_x_act controls are cached per model"
    direct = attribute(lm, LanguageModeling(list(NEUTRAL_TEXTS)), "grad_x_act", batch_size=8)
    torch.testing.assert_close(control.scores, direct.scores)


def test_control_for_other_methods_attributes_the_neutral_text(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURONEDIT_CACHE", str(tmp_path))
    lm = tiny_lm()
    control = control_for(lm, "activation", control="lm", batch_size=8, checkpoint=tmp_path / "partial")
    direct = attribute(lm, LanguageModeling(list(NEUTRAL_TEXTS)), "activation", batch_size=8)
    torch.testing.assert_close(control.scores, direct.scores)
    assert control.meta["data"] == NEUTRAL_CORPUS and control.meta["method"] == "activation"
    assert not (tmp_path / "controls").exists(), "only the grad_x_act control is cached"


def test_control_for_keeps_the_domains_knowledge_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURONEDIT_CACHE", str(tmp_path))
    lm = tiny_lm()
    with pytest.raises(ValueError, match="needs the domain"):
        control_for(lm)
    cached = control_for(lm, domain="gender", batch_size=8)
    assert cached.meta["combined"] and cached.meta["control"] == "lm+knowledge"
    torch.testing.assert_close(cached.scores, control_scores(lm, "lm+knowledge", domain="gender", batch_size=8).scores)
    resumable = control_for(lm, "grad_x_act", domain="gender", batch_size=8, checkpoint=tmp_path / "partial")
    assert sorted(p.name for p in (tmp_path / "partial").iterdir()) == ["knowledge", "lm"]
    torch.testing.assert_close(resumable.scores, cached.scores)
    assert resumable.meta["data"] == f"{NEUTRAL_CORPUS} + probes:knowledge-gender (dev)"


def test_data_domain_is_the_one_bias_type_of_the_data():
    assert data_domain("probes:race") == "race" and data_domain("stereoset", "Gender") == "gender"
    assert data_domain("stereoset") is None and data_domain("text:bundled") is None and data_domain(None) is None
