"""``attribute(model, objective, method=...)``: score every MLP neuron by how much it drives the objective."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import torch
from tqdm.auto import tqdm

from .distributed import all_reduce_sum, is_main, rank, shard, world_size
from .errors import InputError
from .forward import Batch, collate, group_rows, input_device, max_positions
from .hooks import capture_activations
from .memory import estimate_pass_memory
from .methods import bind_options, get_method
from .model import LanguageModel
from .neuron_set import NeuronSet
from .objectives import LanguageModeling, Objective
from .resume import PartialSums, run_key
from .scores import NeuronScores

__all__ = ["attribute", "mean_activations"]


class _Stats:
    """Running sums over examples, per neuron: count, sum, sum of squares, and sign counts (float64)."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.sums = {name: torch.zeros(shape, dtype=torch.float64) for name in ("sum", "sumsq", "pos", "neg")}
        self.sums["n"] = torch.zeros(1, dtype=torch.float64)

    def add(self, values: torch.Tensor, layers: list[int]) -> None:  # values [examples, len(layers), N]
        v = values.double().cpu()
        s = self.sums
        s["n"] += v.shape[0]
        index = torch.tensor(layers)
        s["sum"].index_add_(0, index, v.sum(0))
        s["sumsq"].index_add_(0, index, (v * v).sum(0))
        s["pos"].index_add_(0, index, (v > 0).double().sum(0))
        s["neg"].index_add_(0, index, (v < 0).double().sum(0))

    def result(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        s, n = self.sums, float(self.sums["n"])
        mean = s["sum"] / n
        var = (s["sumsq"] / n - mean * mean).clamp(min=0) * (n / max(n - 1, 1))
        agree = torch.where(mean >= 0, s["pos"], s["neg"]) / n
        return mean.float(), var.sqrt().float(), agree.float()


@torch.no_grad()
def _mean_activations(lm: LanguageModel, batches: list[Batch], layers: list[int]) -> dict[int, torch.Tensor]:
    """Mean activation per neuron over all unpadded positions of ``batches`` (sharded over ranks)."""
    sites = lm.sites
    was_training = lm.model.training
    lm.model.eval()
    sums = {layer: torch.zeros(sites[layer].n_neurons, dtype=torch.float64) for layer in layers}
    count = torch.zeros(1, dtype=torch.float64)
    try:
        for _, batch in shard(batches):
            with capture_activations([sites[layer] for layer in layers]) as acts:
                lm.model(input_ids=batch.ids, attention_mask=batch.mask, position_ids=batch.positions)
            mask = batch.mask.unsqueeze(-1).to(torch.float64).cpu()
            count += float(batch.mask.sum())
            for layer in layers:
                sums[layer] += (acts[layer].double().cpu() * mask).sum(dim=(0, 1))
    finally:
        lm.model.train(was_training)
    all_reduce_sum([count, *sums.values()])
    return {layer: (sums[layer] / count).float() for layer in layers}


def mean_activations(lm: LanguageModel, texts: list[str] | tuple[str, ...], *, layers: list[int] | None = None,
                     batch_size: int = 16) -> dict[int, torch.Tensor]:
    """Mean activation of every neuron over all token positions of ``texts``.

    Returns:
        ``{layer: FloatTensor [n_neurons]}`` for ``layers`` (default: all).
    """
    encoded = LanguageModeling(list(texts)).encode(lm.tokenizer, max_positions(lm.model))
    pad = lm.pad_id
    batches = [collate(rows, pad).to(input_device(lm.model)) for rows in group_rows(encoded.rows, batch_size)]
    return _mean_activations(lm, batches, list(range(len(lm.sites))) if layers is None else sorted(layers))


def attribute(
    lm: LanguageModel,
    objective: Objective,
    method: str = "grad_x_act",
    *,
    neurons: NeuronSet | None = None,
    batch_size: int = 16,
    steps: int | None = None,
    internal_batch_size: int = 64,
    mode: str = "zero",
    seed: int = 0,
    progress: bool = False,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 20,
    label: str | None = None,
    **options: Any,
) -> NeuronScores:
    """Score the MLP neurons of ``lm`` for ``objective``.

    Inside a ``torch.distributed`` process group (e.g. under ``torchrun``) every rank scores
    every ``world``-th batch and the sums are all-reduced: all ranks return the same scores,
    equal to the single-process ones up to the order of the float64 summation.

    Args:
        lm: the model and tokenizer.
        objective: e.g. :class:`~attributions.objectives.PairPreference`.
        method: ``activation``, ``grad_x_act``, ``integrated_gradients``, ``ig2``, ``ablation`` or
            ``learned_mask`` (trains gates instead; ``internal_batch_size`` and ``mode`` do not apply,
            its options are :class:`~attributions.masking.MaskOptions`' plus ``retain`` and ``keep``).
        neurons: score only these (other entries of the result are NaN); None scores all.
        batch_size: rows per forward pass (memory is bounded by it, whatever the number of examples).
        steps: integration steps (``integrated_gradients``, ``ig2``; default 20) or training steps
            (``learned_mask``; default :class:`~attributions.masking.MaskOptions`' 100).
        internal_batch_size: rows per forward pass for the tiled steps / ablations.
        mode: ``zero`` or ``mean`` (``ablation``).
        seed: recorded, and set before running (the methods are deterministic on CPU).
        progress: show a progress bar (rank 0) and, for the integrated methods, the memory estimate.
        checkpoint: a directory for partial sums, saved every ``checkpoint_every`` batches; a
            killed run called again with the same arguments resumes there and returns the same
            scores (see :mod:`attributions.resume`).
        label: names this pass on the progress bar (e.g. ``"control: neutral text"``).
        options: further options of ``method`` (e.g. of one added with ``register_method``). ``steps``,
            ``internal_batch_size`` and ``mode`` go to the methods that take them; an option in
            ``options`` that the method does not take raises TypeError naming both.

    Returns:
        :class:`NeuronScores` with the mean attribution per neuron over examples, its standard
        deviation and sign consistency; ``meta`` records the model, method and objective.
    """
    fn = get_method(method)
    if getattr(fn, "trains", False):
        if neurons is not None:
            raise InputError(f"{method} trains a gate for every neuron; it takes no neuron subset (neurons=None)")
        if steps is not None:
            options = {**options, "steps": steps}
        scores: NeuronScores = fn(lm, objective, batch_size=batch_size, seed=seed, progress=progress,
                                  checkpoint=checkpoint, checkpoint_every=checkpoint_every, label=label, **options)
        return scores
    steps = 20 if steps is None else steps
    if method == "ig2" and not objective.two_sided:
        raise InputError(f"ig2 needs a two-sided objective (pair or contrast), not {objective.name!r}")
    if checkpoint_every < 1:
        raise InputError(f"checkpoint_every must be >= 1, not {checkpoint_every}")
    by_layer = neurons.by_layer() if neurons is not None else None
    call = bind_options(method, {"steps": steps, "internal_batch_size": internal_batch_size, "mode": mode,
                                 "neurons": by_layer, "means": None}, options)
    torch.manual_seed(seed)
    started = time.time()
    sites = lm.sites
    encoded = objective.encode(lm.tokenizer, max_positions(lm.model))
    layers = sorted(by_layer) if by_layer is not None else list(range(len(sites)))
    if neurons is not None:
        if not neurons:
            raise InputError("the neuron subset is empty: pass neurons=None to score all neurons")
        neurons.check_fits([site.n_neurons for site in sites], "neuron subset")
    pad = lm.pad_id
    device = input_device(lm.model)
    batches = [collate(rows, pad).to(device) for rows in group_rows(encoded.rows, batch_size)]
    fingerprint = lm.fingerprint()
    settings: dict[str, Any] = {"batch_size": batch_size, "steps": steps, "mode": mode,
                                "subset": len(neurons) if neurons is not None else None}
    if options:
        settings["options"] = {k: v if isinstance(v, (bool, int, float, str, type(None))) else repr(v)
                               for k, v in sorted(options.items())}
    stats = _Stats((len(sites), sites[0].n_neurons))
    mine = assigned = shard(batches)
    saved = None
    if checkpoint is not None:
        key = run_key({"fingerprint": fingerprint, "method": method, "objective": objective.describe(),
                       "settings": settings, "internal_batch_size": internal_batch_size, "seed": seed,
                       "neurons": list(neurons) if neurons is not None else None, "world": world_size()},
                      encoded.rows)
        saved = PartialSums.open(checkpoint, rank=rank(), world=world_size(), key=key, sums=stats.sums,
                                 batches=[i for i, _ in assigned])
        done = set(saved.done)
        mine = [(i, b) for i, b in mine if i not in done]
    if method == "ablation" and mode == "mean":
        call["means"] = _mean_activations(lm, batches, layers)
    was_training = lm.model.training
    lm.model.eval()
    try:
        if method in ("integrated_gradients", "ig2") and progress and is_main() and mine:
            widest = max((b for _, b in mine), key=lambda b: b.ids.shape[1])
            n_rows = widest.ids.shape[0]
            rows = min(steps, max(1, internal_batch_size // n_rows)) * n_rows  # as the method tiles them
            estimate = estimate_pass_memory(lm.model, sites, widest, first_layer=layers[0], rows=rows)
            print(f"attribute ({method}) memory estimate: {estimate.describe()}", file=sys.stderr)
        desc = f"attribute ({method}{', ' + label if label else ''})"
        bar = tqdm(mine, desc=desc, disable=not (progress and is_main()), unit="batch",
                   initial=len(assigned) - len(mine), total=len(assigned))
        for done_here, (index, batch) in enumerate(bar, start=1):
            stats.add(fn(lm.model, sites, batch, layers, **call), layers)
            if saved is not None:
                saved.done.append(index)
                if done_here % checkpoint_every == 0 or done_here == len(mine):
                    saved.save()
    finally:
        lm.model.train(was_training)
    all_reduce_sum(list(stats.sums.values()))
    mean, std, agree = stats.result()
    if neurons is not None:
        keep = neurons.to_mask(*mean.shape)
        mean, std, agree = (torch.where(keep, t, torch.full_like(t, float("nan"))) for t in (mean, std, agree))
    meta = {
        "model": lm.name, "fingerprint": fingerprint, "method": method, **objective.describe(),
        "n_examples": encoded.n_examples, "skipped": [[i, r] for i, r in encoded.skipped], "seed": seed,
        "settings": settings, "seconds": round(time.time() - started, 2), "world_size": world_size(),
    }
    return NeuronScores(scores=mean, std=std, consistency=agree, meta=meta)
