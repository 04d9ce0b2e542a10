"""``attribute(model, objective, method=...)``: score every MLP neuron by how much it drives the objective."""

from __future__ import annotations

import itertools
import time
from typing import Any

import torch
from tqdm.auto import tqdm

from .forward import Batch, Row, collate, max_positions
from .hooks import capture_activations
from .methods import get_method
from .model import LanguageModel
from .neurons import NeuronScores, NeuronSet
from .objectives import LanguageModeling, Objective

__all__ = ["attribute", "mean_activations"]


def _batches(rows: list[Row], batch_size: int) -> list[list[Row]]:
    """Split rows into batches of at most ``batch_size`` rows, never splitting an example
    (objectives emit each example's rows consecutively)."""
    out: list[list[Row]] = [[]]
    for _, group in itertools.groupby(rows, key=lambda r: r.example):
        members = list(group)
        if out[-1] and len(out[-1]) + len(members) > batch_size:
            out.append([])
        out[-1].extend(members)
    return out


class _Stats:
    """Running mean, standard deviation and sign counts over examples, per neuron."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.n = 0
        self.sum = torch.zeros(shape, dtype=torch.float64)
        self.sumsq = torch.zeros(shape, dtype=torch.float64)
        self.pos = torch.zeros(shape, dtype=torch.float64)
        self.neg = torch.zeros(shape, dtype=torch.float64)

    def add(self, values: torch.Tensor, layers: list[int]) -> None:  # values [examples, len(layers), N]
        v = values.double().cpu()
        self.n += v.shape[0]
        index = torch.tensor(layers)
        self.sum.index_add_(0, index, v.sum(0))
        self.sumsq.index_add_(0, index, (v * v).sum(0))
        self.pos.index_add_(0, index, (v > 0).double().sum(0))
        self.neg.index_add_(0, index, (v < 0).double().sum(0))

    def result(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mean = self.sum / self.n
        var = (self.sumsq / self.n - mean * mean).clamp(min=0) * (self.n / max(self.n - 1, 1))
        agree = torch.where(mean >= 0, self.pos, self.neg) / self.n
        return mean.float(), var.sqrt().float(), agree.float()


@torch.no_grad()
def _mean_activations(lm: LanguageModel, batches: list[Batch], layers: list[int]) -> dict[int, torch.Tensor]:
    sites = lm.sites
    was_training = lm.model.training
    lm.model.eval()
    sums = {layer: torch.zeros(sites[layer].n_neurons, dtype=torch.float64) for layer in layers}
    count = 0
    for batch in batches:
        with capture_activations([sites[layer] for layer in layers]) as acts:
            lm.model(input_ids=batch.ids, attention_mask=batch.mask, position_ids=batch.positions)
        mask = batch.mask.unsqueeze(-1).to(torch.float64)
        count += int(batch.mask.sum())
        for layer in layers:
            sums[layer] += (acts[layer].double().cpu() * mask.cpu()).sum(dim=(0, 1))
    lm.model.train(was_training)
    return {layer: (sums[layer] / count).float() for layer in layers}


def mean_activations(lm: LanguageModel, texts: list[str] | tuple[str, ...], *, layers: list[int] | None = None,
                     batch_size: int = 16) -> dict[int, torch.Tensor]:
    """Mean activation of every neuron over all token positions of ``texts``.

    Returns:
        ``{layer: FloatTensor [n_neurons]}`` for ``layers`` (default: all).
    """
    encoded = LanguageModeling(list(texts)).encode(lm.tokenizer, max_positions(lm.model))
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    device = next(lm.model.parameters()).device
    batches = [collate(rows, pad).to(device) for rows in _batches(encoded.rows, batch_size)]
    return _mean_activations(lm, batches, list(range(len(lm.sites))) if layers is None else sorted(layers))


def attribute(
    lm: LanguageModel,
    objective: Objective,
    method: str = "grad_x_act",
    *,
    neurons: NeuronSet | None = None,
    batch_size: int = 16,
    steps: int = 20,
    internal_batch_size: int = 64,
    mode: str = "zero",
    seed: int = 0,
    progress: bool = False,
) -> NeuronScores:
    """Score the MLP neurons of ``lm`` for ``objective``.

    Args:
        lm: the model and tokenizer.
        objective: e.g. :class:`~attributions.objectives.PairPreference`.
        method: ``activation``, ``grad_x_act``, ``integrated_gradients``, ``ig2`` or ``ablation``.
        neurons: score only these (other entries of the result are NaN); None scores all.
        batch_size: rows per forward pass (memory is bounded by it, whatever the number of examples).
        steps: integration steps (``integrated_gradients``, ``ig2``).
        internal_batch_size: rows per forward pass for the tiled steps / ablations.
        mode: ``zero`` or ``mean`` (``ablation``).
        seed: recorded, and set before running (the methods are deterministic on CPU).

    Returns:
        :class:`NeuronScores` with the mean attribution per neuron over examples, its standard
        deviation and sign consistency; ``meta`` records the model, method and objective.
    """
    fn = get_method(method)
    if method == "ig2" and not objective.two_sided:
        raise ValueError(f"ig2 needs a two-sided objective (pair or contrast), not {objective.name!r}")
    torch.manual_seed(seed)
    started = time.time()
    sites = lm.sites
    encoded = objective.encode(lm.tokenizer, max_positions(lm.model))
    by_layer = neurons.by_layer() if neurons is not None else None
    layers = sorted(by_layer) if by_layer is not None else list(range(len(sites)))
    if by_layer is not None and (not layers or layers[-1] >= len(sites)):
        raise ValueError(f"neuron subset has layers {layers}, the model has {len(sites)}")
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    device = next(lm.model.parameters()).device
    batches = [collate(rows, pad).to(device) for rows in _batches(encoded.rows, batch_size)]
    options: dict[str, Any] = {"steps": steps, "internal_batch_size": internal_batch_size, "mode": mode,
                               "neurons": by_layer}
    if method == "ablation" and mode == "mean":
        options["means"] = _mean_activations(lm, batches, layers)
    stats = _Stats((len(sites), sites[0].n_neurons))
    was_training = lm.model.training
    lm.model.eval()
    try:
        for batch in tqdm(batches, desc=f"attribute ({method})", disable=not progress, unit="batch"):
            stats.add(fn(lm.model, sites, batch, layers, **options), layers)  # type: ignore[operator]
    finally:
        lm.model.train(was_training)
    mean, std, agree = stats.result()
    if neurons is not None:
        keep = neurons.to_mask(*mean.shape)
        mean, std, agree = (torch.where(keep, t, torch.full_like(t, float("nan"))) for t in (mean, std, agree))
    meta = {
        "model": lm.name, "fingerprint": lm.fingerprint(), "method": method, **objective.describe(),
        "n_examples": encoded.n_examples, "skipped": [[i, r] for i, r in encoded.skipped], "seed": seed,
        "settings": {"batch_size": batch_size, "steps": steps, "mode": mode,
                     "subset": len(neurons) if neurons is not None else None},
        "seconds": round(time.time() - started, 2),
    }
    return NeuronScores(scores=mean, std=std, consistency=agree, meta=meta)
