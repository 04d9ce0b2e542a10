"""What a neuron writes: its write-out column projected onto the vocabulary (the logit-lens view).

For neuron ``j`` of layer ``l`` with write-out column ``w = W_down[:, j]`` (``[d_model]``), the
direct effect of one unit of activation on the logits is ``W_U (g * w)``: ``g`` is the final
norm's scale (``1 + weight`` for Gemma) and a LayerNorm also subtracts ``mean(w)``. This ignores
the norm's division by the residual stream's size and every later layer, so it is an
approximation: it says which tokens the neuron pushes directly, not its whole effect. For masked
LMs the head's transform (dense, activation, norm) is nonlinear; the projection passes ``w`` and
``0`` through it and takes the difference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from attributions import LanguageModel, NeuronSet
from attributions.errors import InputError

if TYPE_CHECKING:
    from transformers import PreTrainedModel

__all__ = ["FINAL_NORMS", "TokenValue", "VocabProjection", "vocab_projection", "write_out_logits"]

FINAL_NORMS: dict[str, str] = {
    "gpt2": "transformer.ln_f", "gpt_neo": "transformer.ln_f", "gpt_neox": "gpt_neox.final_layer_norm",
    "opt": "model.decoder.final_layer_norm", "phi": "model.final_layernorm",
    **dict.fromkeys(["llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "phi3"], "model.norm"),
}
"""Path of the final norm by ``config.model_type``; other models use the last norm module after the layers."""

_MASKED_HEADS: dict[str, Callable[[Any, torch.Tensor], torch.Tensor]] = {  # model: its own head classes
    "bert": lambda m, x: m.cls.predictions(x),
    "roberta": lambda m, x: m.lm_head(x),
    "xlm-roberta": lambda m, x: m.lm_head(x),
}
"""The whole output head of masked LMs, ``head(model, hidden [n, d_model]) -> logits [n, vocab]``."""


@dataclass(frozen=True)
class TokenValue:
    token: str
    id: int
    value: float


@dataclass(frozen=True)
class VocabProjection:
    """The ``k`` tokens a neuron promotes most (highest logit effect first) and suppresses most (lowest first)."""

    promoted: tuple[TokenValue, ...]
    suppressed: tuple[TokenValue, ...]


def _final_norm(lm: LanguageModel) -> nn.Module | None:
    """The norm applied before the unembedding: from :data:`FINAL_NORMS` (None where the config has
    none, e.g. post-LN OPT-350m), else the last norm module outside the layers (registration order
    puts the final norm after them)."""
    model = lm.model
    path = FINAL_NORMS.get(str(getattr(model.config, "model_type", "")))
    if path is not None:
        owner, _, leaf = path.rpartition(".")
        return getattr(model.get_submodule(owner), leaf, None)
    blocks = [site.block for site in lm.sites if site.block is not None]
    inside = {id(m) for block in blocks for m in block.modules()}
    norms = [module for module in model.modules()
             if type(module).__name__.lower().endswith("norm") and id(module) not in inside]
    if not norms:
        raise InputError(f"no final norm found in {type(model).__name__}; add its path under config.model_type "
                         f"{getattr(model.config, 'model_type', '')!r} to neuronedit.explain.vocab.FINAL_NORMS")
    return norms[-1]


def _norm_scale(norm: nn.Module | None, columns: torch.Tensor) -> torch.Tensor:
    """``columns [d_model, n]`` with the norm's centring (LayerNorm) and per-dimension scale applied."""
    if norm is None:
        return columns
    if isinstance(norm, nn.LayerNorm) or ("LayerNorm" in type(norm).__name__ and hasattr(norm, "bias")):
        columns = columns - columns.mean(dim=0, keepdim=True)
        weight = getattr(norm, "weight", None)
        return columns if weight is None else columns * weight.detach().to(columns.device).double()[:, None]
    # RMS-style norms: norm(ones) = scale / sqrt(1 + eps); the scale may be (1 + weight), so read it off the module
    eps = float(getattr(norm, "variance_epsilon", getattr(norm, "eps", 0.0)) or 0.0)
    param = next(norm.parameters())
    with torch.no_grad():
        scale = norm(torch.ones(1, columns.shape[0], dtype=param.dtype, device=param.device))[0]
    return columns * (scale.double().to(columns.device) * (1.0 + eps) ** 0.5)[:, None]


def _columns(lm: LanguageModel, neurons: NeuronSet, device: torch.device) -> torch.Tensor:
    """Write-out columns ``[d_model, n]`` (float64 on ``device``), through each layer's norm of the MLP
    output where the architecture has one (Gemma 2/3's ``post_feedforward_layernorm``)."""
    columns = []
    for layer, n in neurons:
        site = lm.sites[layer]
        column = site.write_out[:, n].detach().to(device).double()[:, None]
        post = getattr(site.block, "post_feedforward_layernorm", None) if site.block is not None else None
        columns.append(_norm_scale(post, column))
    return torch.cat(columns, dim=1)


@torch.no_grad()
def write_out_logits(lm: LanguageModel, neurons: NeuronSet) -> torch.Tensor:
    """The direct logit effect of one unit of each neuron's activation, ``[len(neurons), vocab]``
    (float64, on the CPU; the unembedding is read 8,192 rows at a time)."""
    chunk = 8192
    model, arch = lm.model, str(getattr(lm.model.config, "model_type", ""))
    offloaded = [name for name, p in model.named_parameters() if p.device.type == "meta"]
    if offloaded:
        raise InputError(f"the vocabulary projection needs the weights in memory, but {len(offloaded)} parameters "
                         f"(e.g. {offloaded[0]}) are offloaded; load the model without disk/CPU offload")
    unembed = cast("PreTrainedModel", model).get_output_embeddings().weight  # [vocab, d_model]
    columns = _columns(lm, neurons, unembed.device)
    if arch in _MASKED_HEADS:
        hidden = columns.T.to(unembed.dtype)
        head = _MASKED_HEADS[arch]
        return (head(model, hidden) - head(model, torch.zeros_like(hidden[:1]))).double().cpu()
    scaled = _norm_scale(_final_norm(lm), columns)  # [d_model, n]
    project_out = getattr(getattr(getattr(model, "model", None), "decoder", None), "project_out", None)
    if project_out is not None:  # OPT with a smaller word-embedding size
        scaled = project_out.weight.detach().to(scaled.device).double() @ scaled
    parts = [(unembed[first : first + chunk].detach().double() @ scaled).T.cpu()
             for first in range(0, unembed.shape[0], chunk)]
    return torch.cat(parts, dim=1)


def _token(tokenizer: object, index: int) -> str:
    return tokenizer.decode([index]) if tokenizer is not None else str(index)  # type: ignore[attr-defined]


def vocab_projection(lm: LanguageModel, neurons: NeuronSet, k: int = 10) -> list[VocabProjection]:
    """Top and bottom ``k`` tokens of each neuron's :func:`write_out_logits`, in the order of ``neurons``."""
    logits = write_out_logits(lm, neurons)
    k = min(k, logits.shape[1])
    out = []
    for row in logits:
        top = torch.topk(row, k)
        bottom = torch.topk(-row, k)
        out.append(VocabProjection(
            promoted=tuple(TokenValue(_token(lm.tokenizer, int(i)), int(i), float(v))
                           for v, i in zip(top.values, top.indices)),
            suppressed=tuple(TokenValue(_token(lm.tokenizer, int(i)), int(i), float(-v))
                             for v, i in zip(bottom.values, bottom.indices)),
        ))
    return out
