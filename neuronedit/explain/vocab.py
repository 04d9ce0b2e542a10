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

if TYPE_CHECKING:
    from transformers import PreTrainedModel

__all__ = ["FINAL_NORMS", "TokenValue", "VocabProjection", "vocab_projection", "write_out_logits"]

FINAL_NORMS: dict[str, str] = {
    "gpt2": "transformer.ln_f", "gpt_neo": "transformer.ln_f", "gpt_neox": "gpt_neox.final_layer_norm",
    "opt": "model.decoder.final_layer_norm", "phi": "model.final_layernorm",
    **dict.fromkeys(["llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "phi3"], "model.norm"),
}
"""Path of the final norm by ``config.model_type``; other models use the last norm module after the layers."""

MASKED_HEADS: dict[str, Callable[[Any, torch.Tensor], torch.Tensor]] = {  # model: its own head classes
    "bert": lambda m, x: m.cls.predictions(x),
    "roberta": lambda m, x: m.lm_head(x),
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


def _final_norm(lm: LanguageModel) -> nn.Module:
    """The norm applied before the unembedding: from :data:`FINAL_NORMS`, else the last module named
    like a norm that is not inside a layer (registration order puts the final norm after the layers)."""
    model = lm.model
    path = FINAL_NORMS.get(str(getattr(model.config, "model_type", "")))
    if path is not None:
        return model.get_submodule(path)
    inside = tuple(site.name.rsplit(".mlp", 1)[0] + "." for site in lm.sites)
    norms = [(name, module) for name, module in model.named_modules()
             if type(module).__name__.lower().endswith("norm") and not name.startswith(inside)]
    if not norms:
        raise ValueError(f"no final norm found in {type(model).__name__}; add its path under config.model_type "
                         f"{getattr(model.config, 'model_type', '')!r} to neuronedit.explain.vocab.FINAL_NORMS")
    return norms[-1][1]


def _norm_scale(norm: nn.Module, columns: torch.Tensor) -> torch.Tensor:
    """``columns [d_model, n]`` with the norm's centring (LayerNorm) and per-dimension scale applied."""
    if isinstance(norm, nn.LayerNorm) or ("LayerNorm" in type(norm).__name__ and hasattr(norm, "bias")):
        columns = columns - columns.mean(dim=0, keepdim=True)
        weight = getattr(norm, "weight", None)
        return columns if weight is None else columns * weight.detach().double()[:, None]
    # RMS-style norms: norm(ones) = scale / sqrt(1 + eps); the scale may be (1 + weight), so read it off the module
    eps = float(getattr(norm, "variance_epsilon", getattr(norm, "eps", 0.0)) or 0.0)
    ones = torch.ones(1, columns.shape[0], dtype=next(norm.parameters()).dtype, device=columns.device)
    with torch.no_grad():
        scale = norm(ones)[0].double() * (1.0 + eps) ** 0.5
    return columns * scale[:, None]


@torch.no_grad()
def write_out_logits(lm: LanguageModel, neurons: NeuronSet) -> torch.Tensor:
    """The direct logit effect of one unit of each neuron's activation, ``[len(neurons), vocab]`` (float64)."""
    model, arch = lm.model, str(getattr(lm.model.config, "model_type", ""))
    columns = torch.stack([lm.sites[layer].write_out[:, n].detach().double() for layer, n in neurons], dim=1)
    if arch in MASKED_HEADS:
        hidden = columns.T.to(next(model.parameters()).dtype)
        head = MASKED_HEADS[arch]
        return (head(model, hidden) - head(model, torch.zeros_like(hidden[:1]))).double()
    scaled = _norm_scale(_final_norm(lm), columns)  # [d_model, n]
    project_out = getattr(getattr(getattr(model, "model", None), "decoder", None), "project_out", None)
    if project_out is not None:  # OPT with a smaller word-embedding size
        scaled = project_out.weight.detach().double() @ scaled
    unembed = cast("PreTrainedModel", model).get_output_embeddings().weight.detach().double()  # [vocab, d_model]
    return (unembed @ scaled).T


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
