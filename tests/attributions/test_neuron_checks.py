"""One range check of neurons against a model (``NeuronSet.check_fits``) and the options an
attribution method is given (``attributions.methods.bind_options``)."""

from __future__ import annotations

import pytest
import torch
from tiny_models import MLP_WIDTH, tiny_lm

from attributions import NeuronSet, PairPreference, attribute, register_method
from attributions.methods import ATTRIBUTION_METHODS, bind_options
from neuronedit.edits.masks import check_neurons, masked

PAIRS = [("the nurse said that she was tired", "the nurse said that he was tired")]


def test_check_fits_names_the_neuron_and_the_valid_range():
    widths = [48, 48, 10]
    NeuronSet([(0, 47), (2, 9)]).check_fits(widths)
    with pytest.raises(ValueError) as err:
        NeuronSet([(0, 1), (2, 10), (5, 0)]).check_fits(widths, "neurons.json")
    assert str(err.value) == "neurons.json: neuron [2, 10] is out of range: layer 2 has 10 neurons (0..9)"
    with pytest.raises(ValueError) as err:
        NeuronSet([(5, 0)]).check_fits(widths)
    assert str(err.value) == ("neuron set: neuron [5, 0] is out of range: there is no layer 5, "
                              "the model has 3 layers (0..2)")
    with pytest.raises(ValueError, match=r"neuron \[1, 3\] is out of range"):
        NeuronSet([(1, 3)]).to_mask(2, 3)


@pytest.mark.parametrize("neuron, words", [((0, MLP_WIDTH), f"layer 0 has {MLP_WIDTH} neurons"),
                                           ((2, 0), "there is no layer 2")])
def test_every_caller_raises_the_one_message(neuron, words):
    lm = tiny_lm()
    bad = NeuronSet([neuron])
    for call in (lambda: check_neurons(lm.sites, bad), lambda: masked(lm, bad).__enter__(),
                 lambda: attribute(lm, PairPreference(PAIRS), "grad_x_act", neurons=bad)):
        with pytest.raises(ValueError, match="out of range") as err:
            call()
        assert words in str(err.value) and str(list(neuron)) in str(err.value)


def test_a_method_gets_only_the_options_it_declares():
    available = {"steps": 5, "internal_batch_size": 8, "mode": "zero", "neurons": None, "means": None}
    assert bind_options("activation", available, {}) == {}
    assert bind_options("grad_x_act", available, {}) == {}
    assert bind_options("integrated_gradients", available, {}) == {"steps": 5, "internal_batch_size": 8}
    assert bind_options("ablation", available, {}) == {"internal_batch_size": 8, "mode": "zero", "neurons": None,
                                                        "means": None}


def test_an_option_the_method_does_not_take_is_a_type_error():
    message = r"attribution method 'activation' takes no option steps= \(its options: none\)"
    with pytest.raises(TypeError, match=message):
        bind_options("activation", {}, {"steps": 5})
    with pytest.raises(TypeError, match=r"'integrated_gradients' takes no option stpes= \(its options: steps=, "):
        bind_options("integrated_gradients", {}, {"stpes": 5})
    with pytest.raises(TypeError, match="attribute\\(\\) sets it"):
        bind_options("ablation", {"means": None}, {"means": {}})
    with pytest.raises(TypeError, match="'activation' takes no option alpha="):
        attribute(tiny_lm(), PairPreference(PAIRS), "activation", alpha=0.5)
    with pytest.raises(ValueError, match="unknown attribution method"):
        bind_options("nope", {}, {})


def test_methods_no_longer_swallow_unknown_options():
    with pytest.raises(TypeError, match="steps"):
        ATTRIBUTION_METHODS["activation"](None, [], None, [0], steps=3)


@pytest.fixture
def register():
    """``register_method``, undone after the test."""
    added: list[str] = []

    def add(name, fn):
        added.append(name)
        register_method(name, fn)

    yield add
    for name in added:
        ATTRIBUTION_METHODS.unregister(name)


def test_a_registered_method_receives_its_own_options(register):
    seen = {}

    def scaled(model, sites, batch, layers, *, alpha: float = 1.0, steps: int = 0):
        seen.update(alpha=alpha, steps=steps)
        return ATTRIBUTION_METHODS["grad_x_act"](model, sites, batch, layers) * alpha

    def forwarding(*args, **kwargs):  # names no option: gets none of attribute()'s, but any chosen one
        seen.update(kwargs)
        return ATTRIBUTION_METHODS["grad_x_act"](*args)

    register("scaled", scaled)
    lm = tiny_lm()
    base = attribute(lm, PairPreference(PAIRS), "grad_x_act")
    twice = attribute(lm, PairPreference(PAIRS), "scaled", alpha=2.0, steps=7)
    assert seen == {"alpha": 2.0, "steps": 7}
    torch.testing.assert_close(twice.scores, 2 * base.scores)
    assert twice.meta["settings"]["options"] == {"alpha": 2.0}
    assert "options" not in base.meta["settings"], "no options: the settings (and checkpoint keys) are as before"
    register("forwarding", forwarding)
    seen.clear()
    attribute(lm, PairPreference(PAIRS), "forwarding", extra=1)
    assert seen == {"extra": 1}
