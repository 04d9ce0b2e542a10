"""The loaded-model handle passed between loading, attribution and editing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch
from torch import nn

from .sites import NeuronSite, find_sites

__all__ = ["LanguageModel", "frozen", "weights_fingerprint"]


def _offloaded(model: nn.Module, name: str) -> torch.Tensor:
    """The value of an offloaded tensor (accelerate ``device_map`` with ``"disk"``/``"cpu"`` offload)."""
    owner, _, leaf = name.rpartition(".")
    hook = getattr(model.get_submodule(owner), "_hf_hook", None)
    weights = getattr(hook, "weights_map", None)
    if weights is None:
        raise RuntimeError(f"{name} is on the meta device and no offload map holds it")
    return weights[leaf]


def weights_fingerprint(model: nn.Module) -> str:
    """SHA-256 (first 16 hex digits) of the parameters' names, shapes, dtypes and bytes.

    Offloaded weights are read one tensor at a time, so a model spread with a ``device_map``
    has the same fingerprint as the same weights loaded on one device.
    """
    import hashlib

    digest = hashlib.sha256()
    for name, param in sorted(model.state_dict().items()):
        tensor = _offloaded(model, name) if param.device.type == "meta" else param
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


@dataclass
class LanguageModel:
    """A Hugging Face model in eval mode with its tokenizer.

    Attributes:
        model: the ``transformers`` model.
        tokenizer: its tokenizer.
        name: the spec it was loaded from (``"demo"``, a path or a hub id).
        source: where the weights came from (``"hub"``, ``"dir"``, ``"gguf"``, ``"cache"``).
        path: local directory holding the weights, when there is one.
    """

    model: nn.Module
    tokenizer: Any
    name: str = ""
    source: str = ""
    path: str | None = None

    @cached_property
    def sites(self) -> list[NeuronSite]:
        """Neuron sites of every layer (see :func:`attributions.sites.find_sites`)."""
        return find_sites(self.model)

    def refresh_sites(self) -> None:
        """Forget the cached sites (after an edit that replaced modules, e.g. ``compact_``)."""
        self.__dict__.pop("sites", None)

    @property
    def n_layers(self) -> int:
        return len(self.sites)

    @property
    def n_neurons(self) -> int:
        """Total MLP neurons over all layers."""
        return sum(site.n_neurons for site in self.sites)

    @property
    def pad_id(self) -> int:
        """The id used to pad batches: the tokenizer's pad token, else 0 (padding is always masked out)."""
        pad = self.tokenizer.pad_token_id
        return int(pad) if pad is not None else 0

    def fingerprint(self) -> str:
        """SHA-256 (first 16 hex digits) of the parameters' names, shapes, dtypes and bytes."""
        return weights_fingerprint(self.model)

    @property
    def architecture(self) -> str:
        return type(self.model).__name__

    def __repr__(self) -> str:
        return f"LanguageModel({self.name!r}, {self.architecture}, source={self.source!r})"


@contextmanager
def frozen(model: nn.Module) -> Iterator[None]:
    """No parameter gradients inside the block (gradients flow to activations only); restored after."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        with torch.enable_grad():
            yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
