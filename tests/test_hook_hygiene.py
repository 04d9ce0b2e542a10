"""Hook hygiene: no entry point leaves a hook behind, also when an exception interrupts it.

Every hook is installed by a context manager of ``attributions.hooks`` (test_hooks_in_one_place.py checks
that no other module registers one).
(a) ``test_every_hook_function_has_a_case`` reads the source of ``attributions`` and ``neuronedit`` with
    ``ast`` and lists the scoped hooks of ``attributions.hooks`` that register hooks (module, parameter and
    tensor hooks), the function that installs saved-tensors hooks, and every function elsewhere that enters
    a context manager of ``attributions.hooks``. Each must be named in the ``covers`` of a case below, so a
    new function that installs hooks without a case fails the suite.
(b) ``test_entry_point_leaves_no_hook`` runs each case's public entry point on a tiny model once normally
    and once with an exception raised inside (in the ``with`` block, or in the forward pass through
    ``exploding``). Afterwards no module, parameter, buffer or global hook table holds a hook, no
    saved-tensors hooks are active, ``requires_grad`` and training flags are as before, and the weights
    are bitwise unchanged unless the entry point edits them. The registrations the case made are recorded
    (the scoped hook that made each, and the function that entered it): they must include the functions
    the case claims to cover and come only from functions the scan found.

The scans, the injected exception, the leftover search and the recorder are in hook_checks.py; the helpers
of the baselines' cases are in hook_baseline_cases.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import hook_baseline_cases as baselines
import hook_scoped_cases as scoped
import pytest
import torch
from hook_checks import (
    PACKAGES,
    Boom,
    exploding,
    hook_functions,
    leftover_hooks,
    raise_if,
    record_registrations,
    weight_bits,
)
from locations import FIXTURES
from tiny_models import tiny_lm

from attributions import LanguageModel, NeuronSet, PairPreference, TokenContrast, attribute, mean_activations
from attributions.hooks import capture_activations, edit_activations, pre_hooks, tile_from
from attributions.methods._common import graph_activations

PAIRS = [("the nurse said that she was home", "the nurse said that he was home"),
         ("he is at work", "she is at work"), ("the man was lazy", "the woman was lazy")]
PROMPTS = ["the nurse said that", "the doctor said"]
TEXTS = ["the man was at work in the city", "the woman lived in paris"]
REQUESTS = [("the nurse said that", "she was home"), ("the doctor said", "he was at work")]
NEURONS = NeuronSet([(0, 3), (1, 5)])
IDS = torch.tensor([[2, 3, 5, 7, 9, 11]])


@pytest.fixture
def registrations(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The callers (``"module:qualname"``) of every hook registration made during the test."""
    return record_registrations(monkeypatch)


# --- the cases -----------------------------------------------------------------------------------------

HOOKS = "attributions.hooks:pre_hooks"
FORWARD_HOOKS = "attributions.hooks:forward_hooks"
GRAD_HOOKS = "attributions.hooks:grad_hooks"
GRAPH = "attributions.methods._common:graph_activations"
LEAVES = "attributions.methods._common:leaf_activations"
MEAN = "attributions.engine:_mean_activations"
ACTIVATION = "attributions.methods.activation:activation"
ABLATION = "attributions.methods.ablation:ablation"
INTEGRATE = "attributions.methods.integrated:_integrate"
SAVED_BYTES = "attributions.memory:_saved_bytes"
MASKED = "neuronedit.edits.masks:masked"
CONTEXTS = "neuronedit.explain.contexts:activations_of"
LOGIT_SHIFT = "neuronedit.measure.diagnostics:logit_shift"
TRAINABLE = "neuronedit.unlearn.confine:trainable"
GATED = "attributions.masking.gates:gated"


@dataclass(frozen=True)
class Case:
    id: str
    run: Callable[[LanguageModel, bool], Any]  # (model, boom): raises Boom inside the entry point when boom
    covers: tuple[str, ...]  # hook-registering functions (as the scan names them) that the run reaches
    edits_weights: bool = False  # a permanent edit: the weights may change (hooks must still go)
    xfail: str | None = None  # a known leak (strict: the case fails when the leak is fixed)
    arch: str = "llama"  # of the tiny model (OPT flattens tokens before its MLP: more hooks per site)


def _forward(lm: LanguageModel) -> torch.Tensor:
    return lm.model(input_ids=IDS).logits


def _in_block(make_block: Callable[[LanguageModel], Any], then: Callable[[LanguageModel], Any] = _forward):
    """A case that enters ``make_block(lm)``, runs ``then(lm)`` inside and raises at the end of the block."""

    def run(lm: LanguageModel, boom: bool) -> None:
        with make_block(lm):
            then(lm)
            raise_if(boom)

    return run


def _in_forward(call: Callable[[LanguageModel], Any], when: Callable[[LanguageModel], bool] | None = None):
    """A case that calls ``call(lm)``, with the forward pass raising (when ``when(lm)``) in the exception run."""

    def run(lm: LanguageModel, boom: bool) -> None:
        with exploding(lm, boom, (lambda: when(lm)) if when is not None else (lambda: True)):
            call(lm)

    return run


def _site_hooked(lm: LanguageModel) -> bool:
    """A neuron site carries a hook (an edit or a capture is in place)."""
    return any(site.module._forward_pre_hooks for site in lm.sites)


def _attribute(method: str, **options: Any) -> Callable[[LanguageModel], Any]:
    options = {"steps": 3, "internal_batch_size": 8, **options}  # 6 rows: IG runs one step per pass
    return lambda lm: attribute(lm, PairPreference(PAIRS), method, **options)


def _with_masked(call: Callable[[LanguageModel], Any]) -> Callable[[LanguageModel], Any]:
    from neuronedit import masked

    def run(lm: LanguageModel) -> Any:
        with masked(lm, NEURONS):
            return call(lm)

    return run


def _masked_block(lm: LanguageModel) -> Any:
    from neuronedit import masked

    return masked(lm, NEURONS, "scale", factor=3.0)


def _score(lm: LanguageModel) -> Any:
    from neuronedit.measure.scoring import score_texts

    return score_texts(lm, REQUESTS)


def _evaluate(lm: LanguageModel) -> Any:
    from neuronedit import evaluate

    return evaluate(lm, [f"crows:{FIXTURES / 'crows_small.csv'}"], n_boot=20, progress=False)


def _logit_shift(lm: LanguageModel) -> Any:
    from neuronedit.measure.diagnostics import logit_shift, single_token

    return logit_shift(lm, {single_token(lm, "he"): 1.0}, [single_token(lm, "she")])


def _trainable(lm: LanguageModel, boom: bool) -> None:
    from neuronedit.unlearn.confine import neuron_masks, trainable

    with trainable(lm.model, neuron_masks(lm.sites, NEURONS)):
        _forward(lm).sum().backward()
        raise_if(boom)


UNLEARN = {"lr": 1e-2, "steps": 2, "batch_size": 2, "eval_every": 1, "max_retain_ppl_increase": None,
           "max_retain_texts": 4}


def _unlearn(lm: LanguageModel) -> Any:
    from neuronedit.unlearn import unlearn

    return unlearn(lm, PAIRS, "masked_token", neurons=NEURONS, monitor=TEXTS, **UNLEARN)


def _unlearn_restored(lm: LanguageModel) -> Any:
    from neuronedit.edits import restoring

    with restoring(lm):
        return _unlearn(lm)


def _unlearning_edit(lm: LanguageModel) -> Any:
    from neuronedit.unlearn import unlearning_edit

    with unlearning_edit("masked_token", confine=True, monitor=TEXTS, **UNLEARN)(
            lm, NEURONS, SimpleNamespace(attribution=PAIRS)) as edit:
        return edit


DIRECTIONS = "neuronedit.groundtruth.directions:measure_directions"
NEUTRAL = "neuronedit.groundtruth.directions:neutral_statistics"


def _grad_enabled(_lm: LanguageModel) -> bool:
    return torch.is_grad_enabled()


CASES = [
    # attributions: the scoped hooks and what the methods build on them
    Case("pre_hooks", _in_block(lambda lm: pre_hooks([(lm.sites[0].module, lambda module, args: None)])), (HOOKS,)),
    Case("forward_hooks", _in_block(scoped.forward_hooks_block), (FORWARD_HOOKS,)),
    Case("grad_hooks", scoped.grad_hooks_case, (GRAD_HOOKS,)),
    Case("stop_before", scoped.stop_before_case, (HOOKS,)),
    Case("edit_activations", _in_block(lambda lm: edit_activations(lm.sites, lambda site, act: act * 2)), (HOOKS,)),
    Case("capture_activations", _in_block(lambda lm: capture_activations(lm.sites)), (HOOKS,)),
    Case("capture_activations-opt", _in_block(lambda lm: capture_activations(lm.sites)), (HOOKS,), arch="opt"),
    Case("tile_from", _in_block(lambda lm: tile_from([s.block for s in lm.sites[1:]], 1, 2)), (HOOKS,)),
    Case("graph_activations", _in_block(lambda lm: graph_activations(lm.model, lm.sites)),
         (GRAPH, FORWARD_HOOKS, HOOKS)),
    Case("mean_activations", _in_forward(lambda lm: mean_activations(lm, TEXTS)), (MEAN, HOOKS)),
    # attributions: every attribution method
    Case("attribute-activation", _in_forward(_attribute("activation")), (ACTIVATION, HOOKS)),
    Case("attribute-grad_x_act", _in_forward(_attribute("grad_x_act")), (GRAPH, HOOKS)),
    Case("attribute-integrated_gradients", _in_forward(_attribute("integrated_gradients")), (LEAVES, HOOKS)),
    Case("attribute-integrated_gradients-tiled",  # 3 steps per pass: the later blocks' inputs are tiled
         _in_forward(_attribute("integrated_gradients", internal_batch_size=18)), (INTEGRATE, LEAVES, HOOKS)),
    Case("attribute-ig2", _in_forward(lambda lm: attribute(lm, TokenContrast(PROMPTS, " he", " she"), "ig2",
                                                           steps=3, internal_batch_size=8)), (HOOKS,)),
    Case("attribute-ablation", _in_forward(_attribute("ablation", neurons=NEURONS), _site_hooked), (ABLATION, HOOKS)),
    Case("attribute-ablation-mean", _in_forward(_attribute("ablation", neurons=NEURONS, mode="mean"), _site_hooked),
         (MEAN, HOOKS)),  # the exception rises in the mean pass
    Case("attribute-memory-estimate", _in_forward(_attribute("integrated_gradients", progress=True)),
         (SAVED_BYTES, HOOKS)),
    # neuronedit: hook edits, and scoring and evaluating under them
    Case("attribute-learned_mask",  # gates on every step and on the final evaluation
         _in_forward(_attribute("learned_mask", retain=TEXTS, keep=[PairPreference(PAIRS[:1])], budget=2,
                                **{"steps": 2}), _site_hooked), (GATED, HOOKS)),
    Case("masked", _in_block(_masked_block), (MASKED, HOOKS)),
    Case("masked-score_texts", _in_forward(_with_masked(_score)), (MASKED, HOOKS)),
    Case("masked-score_texts-opt", _in_forward(_with_masked(_score)), (MASKED, HOOKS), arch="opt"),
    Case("masked-evaluate", _in_forward(_with_masked(_evaluate)), (MASKED, HOOKS)),
    Case("logit_shift-score_texts", _in_block(_logit_shift, _score), (LOGIT_SHIFT, HOOKS, FORWARD_HOOKS)),
    Case("transfer_matrix", _in_forward(scoped.transfer_matrix_, _site_hooked), (GRAPH, HOOKS)),
    Case("top_contexts", scoped.top_contexts_case, (CONTEXTS, HOOKS)),
    # neuronedit: unlearning's gradient hooks
    Case("trainable", _trainable, (TRAINABLE, GRAD_HOOKS)),
    Case("unlearn", _in_forward(_unlearn, _grad_enabled), (TRAINABLE,), edits_weights=True),
    Case("unlearn-restoring", _in_forward(_unlearn_restored, _grad_enabled), (TRAINABLE,)),
    Case("unlearning_edit", _in_forward(_unlearning_edit, _grad_enabled), (TRAINABLE,)),
    # neuronedit: the baselines (LEACE's erasers and Self-Debias's rescaling are forward hooks)
    Case("measure_directions", _in_forward(scoped.measure_directions_, _grad_enabled),  # raises in the gradient pass
         (DIRECTIONS, NEUTRAL, HOOKS, FORWARD_HOOKS)),
    Case("fit_leace", baselines.fit_leace_case, (baselines.LEACE_FIT, HOOKS)),
    Case("leace-erased", _in_block(baselines.erased_block, _score),
         (baselines.LEACE_FIT, baselines.LEACE_ERASED, FORWARD_HOOKS)),
    Case("self_debiased", _in_block(baselines.self_debiased_, _score), (baselines.SELF_DEBIAS, FORWARD_HOOKS)),
    Case("self_debiased-score", _in_forward(baselines.self_debiased_score, baselines.second_call()),
         (baselines.SELF_DEBIAS,)),
]


def test_every_hook_function_has_a_case():
    found = hook_functions()
    assert HOOKS in found, f"the scan no longer finds {HOOKS}: it is broken ({sorted(found)})"
    covered = {name for case in CASES for name in case.covers}
    missing = {name: where for name, where in found.items() if name not in covered}
    assert not missing, ("functions that install hooks but no case of test_hook_hygiene.py runs (add a Case "
                         "that calls the entry point that reaches each, normally and with an exception): "
                         + ", ".join(f"{name} ({where})" for name, where in sorted(missing.items())))
    stale = covered - set(found)
    assert not stale, f"cases cover functions that install no hook any more (renamed or moved?): {sorted(stale)}"


def _param(case: Case) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("fail", [False, True], ids=["normal", "exception"])
@pytest.mark.parametrize("case", [_param(case) for case in CASES])
def test_entry_point_leaves_no_hook(case: Case, fail: bool, registrations: set[str]):
    lm = tiny_lm(case.arch)
    model = lm.model
    assert not leftover_hooks(model), "the fresh model already carries hooks"
    weights = {name: weight_bits(p) for name, p in model.named_parameters()}
    flags = {name: p.requires_grad for name, p in model.named_parameters()}
    training = {name: m.training for name, m in model.named_modules()}
    if fail:
        with pytest.raises(Boom):
            case.run(lm, True)
    else:
        case.run(lm, False)
    assert not leftover_hooks(model), f"{case.id} left hooks behind: {leftover_hooks(model)}"
    assert {name: p.requires_grad for name, p in model.named_parameters()} == flags, "requires_grad not restored"
    assert {name: m.training for name, m in model.named_modules()} == training, "train/eval mode not restored"
    if not case.edits_weights:
        changed = [name for name, p in model.named_parameters() if not torch.equal(weight_bits(p), weights[name])]
        assert not changed, f"{case.id} changed weights: {changed}"
    ours = {caller for caller in registrations if caller.split(".")[0] in PACKAGES}
    assert set(case.covers) <= ours, f"the case never reached {sorted(set(case.covers) - ours)} (it reached {ours})"
    unknown = ours - set(hook_functions())
    assert not unknown, f"hooks registered from functions the scan does not find: {sorted(unknown)}"
