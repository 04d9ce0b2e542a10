"""Compaction: neurons removed from the MLPs, which become narrower (the weight surgery of a
``compact`` edit; :func:`~neuronedit.edits.weights.compact_` is the public editor).

The down-projection loses the neurons' input columns and every read-in projection (up, gate,
fused gate+up) loses their output rows; biases follow. Logits equal those of pruning the same
neurons. Removing the same number from every layer keeps the config's MLP width valid.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn
from transformers.pytorch_utils import Conv1D, prune_linear_layer

from attributions import LanguageModel, NeuronSet, NeuronSite, find_sites
from attributions.layout import is_conv1d, linear_view

from .handle import as_language_model
from .record import EditError

__all__ = ["mlp_widths", "remove_neurons", "replace_module"]

_WIDTH_KEYS = {"gpt2": "n_inner", "opt": "ffn_dim"}
"""``config`` key of the MLP width where it is not ``intermediate_size``."""


def mlp_widths(model: LanguageModel) -> list[int]:
    """Neurons per layer."""
    return [site.n_neurons for site in as_language_model(model).sites]


def replace_module(module: nn.Module, path: str, new: nn.Module) -> None:
    """Put ``new`` at the dotted ``path`` inside ``module``."""
    parent_path, _, attr = path.rpartition(".")
    setattr(module.get_submodule(parent_path) if parent_path else module, attr, new)


def _narrow(linear: nn.Module, keep: torch.Tensor, dim_in: bool) -> nn.Module:
    """A copy of ``linear`` keeping input (``dim_in``) or output features ``keep`` (LongTensor ``[k]``)."""
    if is_conv1d(linear):  # GPT-2's Conv1D(nf=out, nx=in); linear_view shows its weight [out, in]
        weight = linear_view(linear).index_select(1 if dim_in else 0, keep)
        bias = cast(torch.Tensor, linear.bias)
        bias = bias if dim_in else bias[keep]
        new = Conv1D(weight.shape[0], weight.shape[1]).to(weight.device, weight.dtype)
        linear_view(new).data.copy_(weight)
        new.bias.data.copy_(bias)
        return new
    if isinstance(linear, nn.Linear):  # weight [out, in]
        return prune_linear_layer(linear, cast(torch.LongTensor, keep), dim=1 if dim_in else 0)
    raise EditError(f"compact does not know how to narrow a {type(linear).__name__}")


def remove_neurons(module: nn.Module, sites: list[NeuronSite], neurons: NeuronSet) -> None:
    """Replace the MLP projections of the layers in ``neurons`` by narrower copies without them
    (in place; no checks, no record). ``sites`` are the module's sites before the change."""
    for layer, idx in neurons.by_layer().items():
        site = sites[layer]
        n = site.n_neurons
        keep_mask = torch.ones(n, dtype=torch.bool)
        keep_mask[idx] = False
        keep = keep_mask.nonzero().squeeze(1).to(site.write_out.device)  # [n - removed]
        replace_module(module, site.name, _narrow(site.module, keep, dim_in=True))
        for path, read_in, chunks in site.read_in_modules:  # a fused projection holds `chunks` blocks of n rows
            rows = torch.cat([keep + c * n for c in range(chunks)])
            replace_module(module, path, _narrow(read_in, rows, dim_in=False))
    widths = {site.n_neurons for site in find_sites(module)}
    if len(widths) == 1:
        key = _WIDTH_KEYS.get(getattr(module.config, "model_type", ""), "intermediate_size")
        setattr(module.config, key, widths.pop())
