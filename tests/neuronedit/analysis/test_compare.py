"""``compare_methods``: the neuron edit's and the random control's rows equal the transfer analysis's on
the same items; every method leaves the model bitwise as it was; ``vs_neurons`` is paired per item."""

from __future__ import annotations

import pytest
import torch
from hook_checks import leftover_hooks
from tiny_models import tiny_lm

from neuronedit.analysis import DEBIAS_METHODS, compare_methods, transfer_matrix
from neuronedit.measure.scoring import WHOLE_SEQUENCES

SETTINGS = {"data": "probes", "max_items": 6, "ppl_tokens": 200, "n_boot": 50, "k": 4, "log": None}


def test_neuron_rows_equal_the_transfer_analysis() -> None:
    """Uncapped (compare caps every held-out suite, the transfer analysis only the located data's halves)."""
    lm = tiny_lm()
    whole = {**SETTINGS, "max_items": None}
    compared = compare_methods(lm, ["neurons", "random"], ["gender"], measure=["gender"], selection="top", **whole)
    transfer = transfer_matrix(lm, ["gender"], selection="top", dose=(), ppl_text="text:bundled", **whole)
    keys = ["suite", "target", "before", "after", "abs_delta", "abs_delta_ci_low", "abs_delta_ci_high"]
    for method, edit in (("neurons", "selected"), ("random", "random")):
        ours = compared.effects[compared.effects["method"] == method][keys].reset_index(drop=True)
        theirs = transfer.effects[transfer.effects["edit"] == edit][keys].reset_index(drop=True)
        assert ours.equals(theirs), method
    random = compared.effects[compared.effects["method"] == "random"]
    selected = transfer.effects[transfer.effects["edit"] == "selected"]
    # random's vs_neurons is the mirror of transfer's vs_random (same items, same bootstrap)
    bias = random["role"] == "bias"
    assert random.loc[bias, "vs_neurons"].to_numpy() == pytest.approx(
        -selected.loc[selected["role"] == "bias", "vs_random"].to_numpy(), abs=1e-9)


def test_every_method_restores_the_model_exactly() -> None:
    lm = tiny_lm()
    before = {n: p.detach().clone() for n, p in lm.model.named_parameters()}
    result = compare_methods(lm, list(DEBIAS_METHODS), ["gender"], measure=["gender", "race"], selection="top",
                             **SETTINGS)
    assert all(torch.equal(p, before[n]) for n, p in lm.model.named_parameters())
    assert not leftover_hooks(lm.model) and not hasattr(lm.model, WHOLE_SEQUENCES)
    assert set(result.methods) == set(DEBIAS_METHODS)
    assert result.methods[0] == "neurons"  # the reference runs first
    assert result.effects.loc[result.effects["method"] == "neurons", "vs_neurons"].isna().all()
    table = result.table()
    assert list(table["method"]) == result.methods and "perplexity %" in table


def test_refused_before_any_work() -> None:
    lm = tiny_lm()
    with pytest.raises(ValueError, match="inlp"):
        compare_methods(lm, ["neurons", "inlp"], log=None)
    with pytest.raises(ValueError, match="each source domain once"):
        compare_methods(lm, ["neurons"], ["gender", "gender"], log=None)
    with pytest.raises(ValueError, match="group words"):
        compare_methods(lm, ["cda"], ["age"], log=None)
    with pytest.raises(ValueError, match="CDA trains on"):
        compare_methods(lm, ["cda"], ppl_tokens=None, log=None)
    with pytest.raises(ValueError, match="causal LM"):
        compare_methods(tiny_lm("bert"), ["self-debias"], log=None)


def test_pairwise_differences_mirror_and_match_the_effects() -> None:
    lm = tiny_lm()
    result = compare_methods(lm, ["neurons", "random", "self-debias"], ["gender"], measure=["gender"],
                             selection="top", **SETTINGS)
    p = result.pairwise.set_index(["a", "b"])
    assert len(p) == 6
    for a, b in [("neurons", "random"), ("neurons", "self-debias"), ("random", "self-debias")]:
        assert p.loc[(a, b), "diff"] == pytest.approx(-p.loc[(b, a), "diff"], abs=1e-12)
    # b against a equals (|b| - |before|) - (|a| - |before|), from the per-method effects
    main = result.main_rows("gender").set_index("method")
    assert p.loc[("neurons", "random"), "diff"] == pytest.approx(
        main.loc["random", "abs_delta"] - main.loc["neurons", "abs_delta"], abs=1e-9)
    assert result.pairwise_matrix("gender").shape == (3, 3)
