"""The directions a planted mechanism reads and writes, measured from the model's own activations.

For every layer, a planted neuron pair reads a direction ``r`` of the MLP's input and writes a
direction ``w`` of the residual stream. Both come from the pairs the mechanism should bias:

* each pair gives scored positions: where each side's differing span is predicted (weighted +1 on
  the more side, -1 on the less), or, when the association is read from the shared tail (the group
  term comes first), every tail position of both sides: what the association score reads;
* at a scored position the *write target* ``g`` is the gradient of the weighted log-probabilities
  with respect to the last block's output, i.e. through the final norm and unembedding as the model
  applies them, and the *read input* ``x`` is the MLP's input at that layer, minus a centre ``c``:
  by default the mean of ``x`` over the scored positions (the midpoint of the groups' contexts), or
  (``centre="neutral"``) its mean ``m`` on neutral text, for a detector of the scored positions
  themselves (the frequency decoy);
* ``M = sum g (x - c)^T`` is the cross-covariance of what the layer sees with what would raise the
  association there; its top singular pair ``(w, r)`` is the rank-one linear map from context to
  attribute that the pairs support most. A neuron pair writing ``z w`` with ``z = (r.x - r.c) / s``
  raises the objective by ``sigma_1 / s`` per unit of gain, to first order. Centred on the groups'
  midpoint, each neuron of the pair fires for one group's contexts only.

``unit`` is a direction with ``unit . x`` close to 1 on neutral text (ridge least squares): gated
MLPs have no bias, so their planted gate subtracts ``offset * unit`` to centre ``r . x``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from attributions import LanguageModel
from attributions.errors import InputError
from attributions.forward import pad_rows, start_token_id
from attributions.hooks import forward_hooks, pre_hooks
from attributions.model import frozen
from attributions.objectives import common_ends

__all__ = ["Directions", "ScoredRow", "measure_directions", "neutral_statistics", "pair_rows"]

ScoredRow = tuple[list[int], list[tuple[int, int, float]]]
"""Token ids and ``(position, token, weight)`` terms: ``sum weight * log p(token | ids[:position + 1])``."""


@dataclass
class Directions:
    """Per layer (``L`` layers, model width ``d``): ``read``, ``write`` and ``unit`` ``[L, d]`` (read
    and write of unit norm), ``offset`` and ``scale`` ``[L]`` (``r . c``, the centre's projection, and the
    spread of ``r . x`` on neutral text) and ``strength`` ``[L]`` (``sigma_1 / scale``: the first-order
    objective gain of a unit-gain pair, summed over the rows measured); ``rows``: scored rows the layer saw."""

    read: torch.Tensor
    write: torch.Tensor
    unit: torch.Tensor
    offset: torch.Tensor
    scale: torch.Tensor
    strength: torch.Tensor
    rows: int


def _tokens(tokenizer: object, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])  # type: ignore[operator]


def pair_rows(lm: LanguageModel, items: Sequence[Any], rule: str) -> list[ScoredRow]:
    """Scored rows of pairs (``.more``, ``.less``, optional ``.prefix``), tokenized as the association
    scores do (``[start] + prefix + " " + text``). ``rule``: ``tail`` scores the shared tail of both
    sides (+1 on the more side, -1 on the less side); anything else scores the differing span
    given the shared head (each side's span tokens in its own context, +1 on the more side and -1 on the
    less side, divided by the span's length so that every pair counts alike). Pairs that tokenize
    identically are left out."""
    start = start_token_id(lm.tokenizer)
    rows: list[ScoredRow] = []
    for item in items:
        prefix = str(getattr(item, "prefix", "") or "")
        head = [start] + (_tokens(lm.tokenizer, prefix) if prefix else [])
        space = " " if prefix else ""
        a = head + _tokens(lm.tokenizer, space + str(item.more))
        b = head + _tokens(lm.tokenizer, space + str(item.less))
        shared, tail = common_ends(a, b)
        if a == b:
            continue
        if rule == "tail":
            if tail:
                rows.append((a, [(p - 1, a[p], 1.0) for p in range(len(a) - tail, len(a))]))
                rows.append((b, [(p - 1, b[p], -1.0) for p in range(len(b) - tail, len(b))]))
        else:
            for seq, sign in ((a, 1.0), (b, -1.0)):
                span = range(shared, len(seq) - tail)
                if len(span):
                    rows.append((seq[: span.stop], [(p - 1, seq[p], sign / len(span)) for p in span]))
    return rows


def _read_inputs(lm: LanguageModel) -> list[torch.nn.Module]:
    modules = []
    for site in lm.sites:
        if not site.read_in_modules:
            raise InputError(f"layer {site.layer} ({site.name}) has no registered read-in projection, so no "
                             "neuron can be planted there; register the architecture with read_in=[...]")
        modules.append(site.read_in_modules[0][1])
    return modules


def _batches(rows: Sequence[ScoredRow], size: int) -> list[Sequence[ScoredRow]]:
    return [rows[i: i + size] for i in range(0, len(rows), size)]


def _input_hooks(lm: LanguageModel, ids: torch.Tensor, seen: dict[int, torch.Tensor]
                 ) -> list[tuple[torch.nn.Module, Callable[[torch.nn.Module, tuple[torch.Tensor, ...]], None]]]:
    """Pre-hooks (for ``pre_hooks``) storing each layer's MLP input ``[batch, pos, d]`` in ``seen``
    (flattened inputs reshaped)."""
    batch, width = ids.shape

    def hook(layer: int) -> Callable[[torch.nn.Module, tuple[torch.Tensor, ...]], None]:
        def store(_module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            seen[layer] = args[0].detach().float().reshape(batch, width, -1)
        return store

    return [(module, hook(layer)) for layer, module in enumerate(_read_inputs(lm))]


def _cut(leaf: list[torch.Tensor]) -> Callable[[torch.nn.Module, object, Any], Any]:
    """A forward hook replacing a block's hidden output by a detached leaf (kept in ``leaf``), so a backward
    pass from the logits stops there: only the final norm and the unembedding are differentiated."""
    def cut(_module: torch.nn.Module, _args: object, output: Any) -> Any:
        hidden = output[0] if isinstance(output, tuple) else output
        start = hidden.detach().requires_grad_(True)
        leaf.append(start)
        return (start, *output[1:]) if isinstance(output, tuple) else start
    return cut


def neutral_statistics(lm: LanguageModel, texts: Sequence[str], batch_size: int = 8
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per layer, on every token position of ``texts``: the mean MLP input ``[L, d]``, a ``unit``
    direction ``[L, d]`` with ``unit . x`` close to 1 (ridge least squares), and the inputs' second
    moment ``[L, d, d]`` (for the spread of any direction's projection)."""
    start = start_token_id(lm.tokenizer)
    rows = [[start] + _tokens(lm.tokenizer, text) for text in texts if text.strip()]
    if not rows:
        raise InputError("no neutral text to centre the planted directions on")
    total = sum_x = sum_xx = None
    device = next(lm.model.parameters()).device
    for chunk in _batches([(row, []) for row in rows], batch_size):
        ids, mask = pad_rows([row for row, _ in chunk], lm.pad_id)
        seen: dict[int, torch.Tensor] = {}
        with torch.no_grad(), pre_hooks(_input_hooks(lm, ids, seen)):
            lm.model(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False)
        keep = mask.bool()
        x = torch.stack([seen[layer][keep] for layer in range(len(seen))])  # [L, tokens, d]
        sx, sxx = x.sum(1), torch.einsum("lti,ltj->lij", x, x)
        total = (total or 0) + int(keep.sum())
        sum_x = sx if sum_x is None else sum_x + sx
        sum_xx = sxx if sum_xx is None else sum_xx + sxx
    assert total and sum_x is not None and sum_xx is not None
    mean, second = sum_x / total, sum_xx / total
    n_layers, d = mean.shape
    ridge = 1e-3 * torch.diagonal(second, dim1=1, dim2=2).mean(1).clamp_min(1e-12)  # [L]
    eye = torch.eye(d, dtype=second.dtype)
    # E[x x^T] u = E[x], one layer at a time in float64 (MKL's batched float32 LU failed on the demo model)
    unit = torch.stack([torch.linalg.solve((second[i] + ridge[i] * eye).double(), mean[i].double()).float()
                        for i in range(n_layers)])
    return mean, unit, second


def measure_directions(lm: LanguageModel, rows: Sequence[ScoredRow], neutral: Sequence[str], *,
                       centre: str = "scored", batch_size: int = 8) -> Directions:
    """The read and write directions of every layer (see the module docstring) from scored ``rows``;
    ``centre``: ``scored`` (the scored positions' mean) or ``neutral`` (the neutral texts' mean)."""
    if centre not in ("scored", "neutral"):
        raise InputError(f"centre must be 'scored' or 'neutral', not {centre!r}")
    if not rows:
        raise InputError("no pair gives a scored position (the two sides must share a head or a tail of "
                         "tokens around their difference); use pairs that differ in a word, not whole sentences")
    mean, unit, second = neutral_statistics(lm, neutral, batch_size)
    n_layers, d = mean.shape
    cross = torch.zeros(n_layers, d, d)
    sum_g, sum_x, count = torch.zeros(d), torch.zeros(n_layers, d), 0
    device = next(lm.model.parameters()).device
    last = lm.sites[-1].block
    if last is None:
        raise InputError(f"{lm.name}: the last transformer block is unknown, so the write direction cannot "
                         "be measured through the final norm")
    for chunk in _batches(rows, batch_size):
        ids, mask = pad_rows([row for row, _ in chunk], lm.pad_id)
        seen: dict[int, torch.Tensor] = {}
        leaf: list[torch.Tensor] = []
        with (frozen(lm.model), torch.enable_grad(), pre_hooks(_input_hooks(lm, ids, seen)),
              forward_hooks([(last, _cut(leaf))])):
            logits = lm.model(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False).logits
            terms = [(i, pos, token, weight) for i, (_, row_terms) in enumerate(chunk)
                     for pos, token, weight in row_terms]
            index = torch.tensor([(i, pos) for i, pos, _, _ in terms], device=device)
            tokens = torch.tensor([token for _, _, token, _ in terms], device=device)
            weights = torch.tensor([weight for *_, weight in terms], device=device)
            picked = logits[index[:, 0], index[:, 1]].float().log_softmax(-1)
            objective = (picked.gather(1, tokens[:, None]).squeeze(1) * weights).sum()
            (grad,) = torch.autograd.grad(objective, leaf[0])
        positions = sorted({(i, pos) for i, pos, _, _ in terms})
        at = torch.tensor(positions)
        g = grad.float()[at[:, 0], at[:, 1]].cpu()  # [P, d]
        sum_g += g.sum(0)
        count += len(positions)
        for layer in range(n_layers):
            x = seen[layer][at[:, 0], at[:, 1]].cpu() - mean[layer]
            cross[layer] += g.T @ x
            sum_x[layer] += x.sum(0)
    centre_at = mean
    if centre == "scored":  # sum g (x - xbar)^T = sum g (x - m)^T - (sum g) (xbar - m)^T
        shift = sum_x / max(count, 1)  # [L, d]: xbar - m
        cross -= torch.einsum("i,lj->lij", sum_g, shift)
        centre_at = mean + shift
    u_, s_, vh = torch.linalg.svd(cross)
    write, read, sigma = u_[:, :, 0], vh[:, 0, :], s_[:, 0]
    spread = torch.einsum("li,lij,lj->l", read, second, read) - (read * mean).sum(1) ** 2
    scale = spread.clamp_min(1e-12).sqrt()
    return Directions(read=read, write=write, unit=unit, offset=(read * centre_at).sum(1), scale=scale,
                      strength=sigma / scale, rows=len(rows))
