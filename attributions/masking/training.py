"""``learn_mask``: locate neurons by training a gate per MLP neuron against four weighted terms.

The gates (:mod:`.gates`) start open and only they are trained (the model's weights get no
gradient). Each step draws one gate sample and adds, on one batch of each kind:

1. bias: ``((m - neutral) / (m0 - neutral))**2``, ``m`` the objective's mean over all examples, ``m0``
   its unedited mean: 1 at the start, 0 at neutral, rising again past it. ``m`` is estimated from each
   batch's sum when it was last seen (the current batch's is fresh), and its gradient from the current
   batch's, so a batch's own imbalance (a small batch of a large set rarely has the set's mean) is not
   what the term drives to neutral;
2. text: KL(unedited || gated) per predicted token of the retain texts;
3. knowledge: the share of the keep objectives' unedited per-example values that is lost
   (``relu(v0 - v) / mean |v0|``): keeping or growing a fact costs nothing;
4. sparsity: after every step all gate locations are shifted by one constant so that the expected number
   of closed gates (a closed form) equals ``budget``: an exact constraint rather than a penalty, whose
   gradient reaches every gate alike and, measured on the demo model, drowned the bias term (with Adam
   every gate then moved at the same speed, and the closed set was the same for any bias).

Under ``torchrun`` each rank scores its share of every batch's examples and the per-rank sums
and gradients are all-reduced, so the ranks take the steps a single process would.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence

import torch
from tqdm.auto import tqdm

from ..distributed import all_reduce_sum, is_main, rank, world_size
from ..errors import InputError
from ..forward import Batch, Row, collate, group_rows, input_device, logits_at, max_positions, per_example, row_values
from ..model import LanguageModel, frozen
from ..objectives import LanguageModeling, Objective
from ..resume import CheckpointMismatch, run_key
from ..scores import NeuronScores
from .gates import (
    BETA,
    GAMMA,
    ZETA,
    deterministic_gates,
    expected_closed,
    gated,
    hold_budget,
    open_location,
    sample_gates,
)
from .options import MaskOptions
from .state import MaskState

__all__ = ["HISTORY", "learn_mask"]

HISTORY = ("total", "bias", "text", "knowledge", "expected_closed")
"""The columns of the loss history, one row per step (in ``meta["history"]``)."""

_ADAM = (0.9, 0.999, 1e-8)


def _pieces(lm: LanguageModel, rows: list[Row], batch_size: int) -> list[Batch | None]:
    """This rank's part of every batch of ``rows`` (whole examples; None where it has none)."""
    out: list[Batch | None] = []
    for group in group_rows(rows, batch_size):
        examples = sorted({r.example for r in group})
        mine = set(examples[rank()::world_size()])
        part = [r for r in group if r.example in mine]
        out.append(collate(part, lm.pad_id).to(input_device(lm.model)) if part else None)
    return out


def _values(lm: LanguageModel, batch: Batch) -> torch.Tensor:
    """The objective per example of ``batch``, ``[examples]`` float64."""
    return per_example(batch, row_values(lm.model, batch).double())


def _log_probs(lm: LanguageModel, batch: Batch) -> torch.Tensor:
    """Log-probabilities of the next token at every scored position, ``[terms, vocab]`` float32."""
    logits = logits_at(lm.model, batch.ids, batch.mask, batch.positions, batch.keep)
    picked = logits[batch.term_row.to(logits.device), batch.term_col.to(logits.device)].float()
    return torch.log_softmax(picked, dim=-1)


def _global(*values: float) -> list[float]:
    """Sums over ranks of per-rank numbers."""
    t = torch.tensor(values, dtype=torch.float64)
    all_reduce_sum([t])
    return t.tolist()


def learn_mask(lm: LanguageModel, objective: Objective, *, retain: Sequence[str] = (),
               keep: Sequence[Objective] = (), options: MaskOptions | None = None, batch_size: int = 16,
               seed: int = 0, progress: bool = False, checkpoint: str | os.PathLike[str] | None = None,
               checkpoint_every: int = 20, label: str | None = None,
               on_step: Callable[[int, dict[str, float]], None] | None = None) -> NeuronScores:
    """Train a hard-concrete gate per MLP neuron of ``lm`` to bring ``objective`` to neutral.

    Args:
        objective: the bias objective on dev pairs (e.g. :class:`~attributions.objectives.PairPreference`).
        retain: texts whose next-token distributions the gated model must keep (the text term).
        keep: objectives whose per-example values the gated model must keep (the knowledge term).
        options: the term weights, budget, steps and optimiser (:class:`MaskOptions`).
        checkpoint: a directory for the training state, saved every ``checkpoint_every`` steps; a killed
            run called again with the same arguments resumes there and returns the same scores.
        on_step: called after every step with its index and losses (:data:`HISTORY`).

    Returns:
        :class:`NeuronScores` whose ``scores [L, N]`` are the gates' closing logits ``-log_alpha`` (high:
        the training closed the gate); :func:`learned_factors` turns them into the learned gate values.
    """
    opts = options or MaskOptions()
    if opts.text_weight > 0 and not retain:
        raise InputError("learned_mask's text term needs retain texts (retain=[...]); or set text_weight=0")
    if opts.knowledge_weight > 0 and not keep:
        raise InputError("learned_mask's knowledge term needs objectives to keep (keep=[...]); "
                         "or set knowledge_weight=0")
    if checkpoint_every < 1:
        raise InputError(f"checkpoint_every must be >= 1, not {checkpoint_every}")
    started = time.time()
    sites = lm.sites
    shape = (len(sites), sites[0].n_neurons)
    if opts.budget > shape[0] * shape[1] // 2:
        raise InputError(f"budget {opts.budget} is more than half of the model's {shape[0] * shape[1]} MLP neurons; "
                         f"give at most {shape[0] * shape[1] // 2}")
    context = max_positions(lm.model)
    encoded = objective.encode(lm.tokenizer, context)
    bias_rows = encoded.rows
    keep_rows = [o.encode(lm.tokenizer, context).rows for o in keep] if opts.knowledge_weight > 0 else []
    text_rows = LanguageModeling(list(retain)).encode(lm.tokenizer, context).rows if opts.text_weight > 0 else []
    bias = _pieces(lm, bias_rows, batch_size)
    kept = [p for rows in keep_rows for p in _pieces(lm, rows, batch_size)]
    texts = _pieces(lm, text_rows, batch_size) if text_rows else []
    was_training = lm.model.training
    lm.model.eval()
    try:
        with torch.no_grad():
            base = [None if b is None else _values(lm, b) for b in bias]
            total, count = _global(sum(float(v.sum()) for v in base if v is not None),
                                   sum(len(v) for v in base if v is not None))
            m0 = total / count
            keep0 = [None if b is None else _values(lm, b) for b in kept]
            gap0 = _global(sum(float(v.abs().sum()) for v in keep0 if v is not None),
                           sum(len(v) for v in keep0 if v is not None))
            text0 = [None if b is None else _log_probs(lm, b) for b in texts]
        if abs(m0 - opts.neutral) < 1e-6:
            raise InputError(f"the objective is already neutral on these examples (mean {m0:.3g}); nothing to learn")
        sums = torch.tensor([0.0 if v is None else float(v.sum()) for v in base], dtype=torch.float64)
        all_reduce_sum([sums])
        init = open_location(shape[0] * shape[1], opts.budget)
        fresh = MaskState(log_alpha=torch.full(shape, init, dtype=torch.float32),
                          exp_avg=torch.zeros(shape), exp_avg_sq=torch.zeros(shape),
                          noise=torch.Generator().manual_seed(seed).get_state(), seen=sums,
                          history=torch.zeros((0, len(HISTORY)), dtype=torch.float64))
        fingerprint = lm.fingerprint()
        key = run_key({"fingerprint": fingerprint, "objective": objective.describe(), "options": opts.to_dict(),
                       "batch_size": batch_size, "seed": seed, "world": world_size()},
                      [*bias_rows, *(r for rows in keep_rows for r in rows), *text_rows])
        state = MaskState.load(checkpoint, key, fresh) if checkpoint is not None else fresh
        if state.steps_done > opts.steps:
            raise CheckpointMismatch(f"{checkpoint} holds {state.steps_done} steps, more than steps={opts.steps}, "
                                     "which no run of these options saves; delete it to start over")
        if abs(float(expected_closed(state.log_alpha)) - opts.budget) > 1e-3 * opts.budget:
            raise CheckpointMismatch(f"{checkpoint}: its gates do not close budget={opts.budget} in expectation, "
                                     "which every saved state does; delete it to start over")
        generator = torch.Generator()
        generator.set_state(state.noise)
        log_alpha = state.log_alpha.clone().requires_grad_(True)
        history = [state.history]
        bar = tqdm(range(state.steps_done, opts.steps), desc=f"learned_mask{', ' + label if label else ''}",
                   disable=not (progress and is_main()), unit="step", initial=state.steps_done, total=opts.steps)
        with frozen(lm.model):
            for step in bar:
                losses = _step(lm, log_alpha, generator, step, opts, bias=bias, seen=state.seen, m0=m0,
                               count=count, kept=kept, keep0=keep0, gap0=gap0, texts=texts, text0=text0)
                _adam(log_alpha, state, step + 1, opts.lr)
                hold_budget(log_alpha.data, opts.budget)
                history.append(torch.tensor([[losses[h] for h in HISTORY]], dtype=torch.float64))
                bar.set_postfix(total=f"{losses['total']:.3f}", closed=f"{losses['expected_closed']:.0f}")
                if checkpoint is not None and ((step + 1) % checkpoint_every == 0 or step + 1 == opts.steps):
                    state.log_alpha, state.noise = log_alpha.detach().clone(), generator.get_state()
                    state.history = torch.cat(history)
                    if is_main():
                        state.save(checkpoint, key)
                if on_step is not None:
                    on_step(step, losses)
        final = log_alpha.detach().clone()
        with torch.no_grad(), gated(sites, deterministic_gates(final)):
            after = _global(sum(float(_values(lm, b).sum()) for b in bias if b is not None))[0] / count
    finally:
        lm.model.train(was_training)
    gates = deterministic_gates(final)
    rows = torch.cat(history)
    meta = {"model": lm.name, "fingerprint": fingerprint, "method": "learned_mask", **objective.describe(),
            "n_examples": int(count), "skipped": [[i, r] for i, r in encoded.skipped], "seed": seed,
            "world_size": world_size(),
            "settings": {"batch_size": batch_size, **opts.to_dict(), "retain_texts": len(retain),
                         "keep": [o.describe() for o in keep]},
            "gates": {"kind": "hard_concrete", "beta": BETA, "gamma": GAMMA, "zeta": ZETA,
                      "closed": int((gates == 0).sum()), "partial": int(((gates > 0) & (gates < 1)).sum())},
            "dev_objective": {"unedited": m0, "gated": after, "neutral": opts.neutral},
            "history": {"columns": list(HISTORY), "rows": json.loads(json.dumps(rows.tolist()))},
            "seconds": round(time.time() - started, 2)}
    return NeuronScores(scores=-final, meta=meta)


def _step(lm: LanguageModel, log_alpha: torch.Tensor, generator: torch.Generator, step: int, opts: MaskOptions, *,
          bias: list[Batch | None], seen: torch.Tensor, m0: float, count: float, kept: list[Batch | None],
          keep0: list[torch.Tensor | None], gap0: list[float], texts: list[Batch | None],
          text0: list[torch.Tensor | None]) -> dict[str, float]:
    """One step: forward and backward each term's batch with one gate sample; ``log_alpha.grad`` set."""
    gates = sample_gates(log_alpha, generator)
    losses = dict.fromkeys(HISTORY, 0.0)
    grad = torch.zeros_like(log_alpha)

    def backward(local: torch.Tensor, coef: float) -> None:
        if coef != 0.0 and local.requires_grad:
            grad.add_(torch.autograd.grad(local * coef, log_alpha, retain_graph=True)[0])

    with gated(lm.sites, gates):
        piece = bias[step % len(bias)]  # this rank's part of the batch
        local = _values(lm, piece).sum() if piece is not None else torch.zeros((), dtype=torch.float64)
        i = step % len(bias)
        total, n = _global(float(local.detach()), piece.n_examples if piece is not None else 0)
        seen[i] = total
        mean, span = float(seen.sum()) / count, m0 - opts.neutral
        losses["bias"] = ((mean - opts.neutral) / span) ** 2
        backward(local, opts.bias_weight * 2 * (mean - opts.neutral) / span**2 / n)
        if kept:
            i = step % len(kept)
            piece, v0 = kept[i], keep0[i]
            local = ((v0 - _values(lm, piece)).clamp(min=0).sum() if piece is not None and v0 is not None
                     else torch.zeros((), dtype=torch.float64))
            lost, n = _global(float(local.detach()), piece.n_examples if piece is not None else 0)
            scale = max(gap0[0] / gap0[1], 1e-9)
            losses["knowledge"] = lost / n / scale
            backward(local, opts.knowledge_weight / n / scale)
        if texts:
            i = step % len(texts)
            piece, ref = texts[i], text0[i]
            local = (torch.nn.functional.kl_div(_log_probs(lm, piece), ref, log_target=True, reduction="sum")
                     if piece is not None and ref is not None else torch.zeros(()))
            kl, n = _global(float(local.detach()), len(ref) if ref is not None else 0)
            losses["text"] = kl / n
            backward(local, opts.text_weight / n)
    losses["expected_closed"] = float(expected_closed(log_alpha.detach()))
    all_reduce_sum([grad])
    log_alpha.grad = grad
    losses["total"] = sum(w * losses[t] for t, w in (("bias", opts.bias_weight), ("text", opts.text_weight),
                                                      ("knowledge", opts.knowledge_weight)))
    return losses


@torch.no_grad()
def _adam(log_alpha: torch.Tensor, state: MaskState, t: int, lr: float) -> None:
    """One Adam step on ``log_alpha`` (its ``grad``), moments kept in ``state``."""
    b1, b2, eps = _ADAM
    g = log_alpha.grad
    assert g is not None
    state.exp_avg.mul_(b1).add_(g, alpha=1 - b1)
    state.exp_avg_sq.mul_(b2).addcmul_(g, g, value=1 - b2)
    step = lr * (1 - b2**t) ** 0.5 / (1 - b1**t)
    log_alpha.sub_(step * state.exp_avg / (state.exp_avg_sq.sqrt() + eps))
    log_alpha.grad = None
