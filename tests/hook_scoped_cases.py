"""Cases of test_hook_hygiene.py, kept apart for size: the general scoped hooks of ``attributions.hooks``,
the early exit of the top-context search, and the transfer matrix."""

from __future__ import annotations

from typing import Any

import torch
from hook_checks import Boom, raise_if

from attributions import LanguageModel, NeuronSet
from attributions.hooks import forward_hooks, grad_hooks, stop_before

IDS = torch.tensor([[2, 3, 5, 7, 9, 11]])


def _forward(lm: LanguageModel) -> torch.Tensor:
    return lm.model(input_ids=IDS).logits


def forward_hooks_block(lm: LanguageModel) -> Any:
    """Forward hooks with and without keyword arguments, on a block and on the whole model."""
    from contextlib import ExitStack

    stack = ExitStack()
    stack.enter_context(forward_hooks([(lm.sites[0].block, lambda module, args, output: None)]))
    stack.enter_context(forward_hooks([(lm.model, lambda module, args, kwargs, output: None)], with_kwargs=True))
    return stack


def grad_hooks_case(lm: LanguageModel, boom: bool) -> None:
    """A gradient hook on a parameter (the gradient is zeroed; no step is taken)."""
    weight = lm.model.get_input_embeddings().weight
    with grad_hooks([(weight, lambda grad: grad * 0)]):
        _forward(lm).sum().backward()
        raise_if(boom)


def stop_before_case(lm: LanguageModel, boom: bool) -> None:
    """A pass stopped before the second block; the exception run raises inside the block before the pass."""
    with stop_before(lm.sites[1].block):
        raise_if(boom)
        _forward(lm)
    assert not boom


def top_contexts_case(lm: LanguageModel, boom: bool) -> None:
    """Top contexts capture activations in passes stopped at the last layer the neurons are in (the head
    never runs): the exception run makes the first block raise in the first pass (the hooks in place)."""
    from neuronedit.explain.contexts import top_contexts

    block = lm.sites[0].block

    def forward(*_: Any, **__: Any) -> Any:
        raise Boom("raised inside the first block")

    if boom:
        block.forward = forward
    try:
        top_contexts(lm, NeuronSet([(0, 3)]), [[2, 3, 5], [7, 9, 11, 13]], batch_size=1)
    finally:
        if boom:
            del block.forward


def transfer_matrix_(lm: LanguageModel) -> Any:
    from neuronedit.analysis import domains_from, transfer_matrix
    from neuronedit.data import Dataset
    from neuronedit.data.neutral import heldout_corpus

    (domain,) = domains_from(["gender"], "probes", others=False)
    domain.attribution = domain.attribution[:4] + domain.attribution[-4:]
    test = domain.evaluation[0]
    domain.evaluation = [Dataset(list(test[:6]) + list(test[-6:]), kind=test.kind, spec=test.spec,
                                 bias_type=test.bias_type, split=test.split)]
    return transfer_matrix(lm, [domain], k=2, dose=(), n_boot=20, log=None, ppl_text=heldout_corpus(),
                           ppl_tokens=200)


def measure_directions_(lm: LanguageModel) -> Any:
    """The ground truth's direction measurement on three pairs (a neutral pass, then a gradient pass)."""
    from types import SimpleNamespace

    from neuronedit.groundtruth.directions import measure_directions, pair_rows

    sides = (("the nurse said that she was home", "the nurse said that he was home"),
             ("he is at work", "she is at work"))
    pairs = [SimpleNamespace(more=a, less=b) for a, b in sides]
    return measure_directions(lm, pair_rows(lm, pairs, "span"), ["the man was at work in the city"], batch_size=2)
