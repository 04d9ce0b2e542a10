"""Where the MLP neurons of each architecture live.

A *neuron* is one coordinate of the activation vector that enters an MLP's
down-projection (``c_proj`` in GPT-2, ``down_proj`` in Llama, ``fc2`` in OPT, ...).
For every layer a :class:`NeuronSite` names that module, gives neuron-major views of
the weights that write each neuron out and read it in, and the equivalent
TransformerLens ``TransformerBridge`` hook name.

Architectures are module-path patterns with a ``{layer}`` placeholder, matched against the end of
``model.named_modules()`` names (one entry serves ``LlamaForCausalLM``, ``LlamaModel`` and wrapped
models alike). Registering a new architecture is one line::

    register_architecture("my_arch", down="layers.{layer}.ffn.out", read_in=["layers.{layer}.ffn.inp"])
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from .errors import InputError
from .layout import is_conv1d, linear_view
from .registry import Registry

__all__ = [
    "TL_BRIDGE_HOOK",
    "ArchitectureSpec",
    "NeuronSite",
    "ReadIn",
    "UnsupportedArchitectureError",
    "find_sites",
    "register_architecture",
    "supported_architectures",
]

TL_BRIDGE_HOOK = "blocks.{layer}.mlp.hook_post"
"""TransformerBridge hook whose value is the activation entering the down-projection."""


@dataclass(frozen=True)
class ReadIn:
    """A projection that reads neurons in (e.g. ``up_proj``).

    ``chunks`` > 1 marks fused projections (Phi-3's ``gate_up_proj``): neuron ``j`` owns
    output rows ``j, j + n, ..., j + (chunks - 1) * n``.
    """

    path: str
    chunks: int = 1


@dataclass(frozen=True)
class ArchitectureSpec:
    """Module-path patterns (with ``{layer}``) of one architecture's MLP neurons."""

    name: str
    down: str
    read_in: tuple[ReadIn, ...] = ()
    tl_hook: str = TL_BRIDGE_HOOK
    model_types: tuple[str, ...] = ()
    flat_block: str | None = None
    """For models that flatten tokens to ``[batch * pos, n]`` before the MLP (OPT): the
    layer module (with ``{layer}``) whose input still has shape ``[batch, pos, d_model]``."""

    def down_regex(self) -> re.Pattern[str]:
        escaped = re.escape(self.down).replace(re.escape("{layer}"), r"(\d+)")
        return re.compile(r"(?:^|\.)" + escaped + r"$")


@dataclass
class NeuronSite:
    """The neurons of one layer: the input coordinates of its down-projection.

    Attributes:
        layer: layer index.
        name: full module path of the down-projection.
        module: the down-projection module; a forward pre-hook on it sees the
            activations ``[batch, pos, n_neurons]``.
        read_in_modules: projections writing the activation (up/gate/fc1), with ``chunks``.
        tl_hook: TransformerBridge hook name holding the same activation.
    """

    layer: int
    name: str
    module: nn.Module
    read_in_modules: list[tuple[str, nn.Module, int]] = field(default_factory=list)
    tl_hook: str = ""
    flat_block: nn.Module | None = None
    """Set when the activation arrives flattened ``[batch * pos, n]``; this module's input
    gives ``(batch, pos)``. Hooks in :mod:`attributions.hooks` restore the 3-d shape."""
    block: nn.Module | None = None
    """The transformer layer (decoder block) that contains this site."""

    @property
    def n_neurons(self) -> int:
        return int(linear_view(self.module).shape[1])

    @property
    def is_conv1d(self) -> bool:
        """Whether the weights are stored ``[in, out]`` (GPT-2's ``Conv1D``); the views handle it."""
        return is_conv1d(self.module)

    def write_rows(self, of: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
        """View ``[n_neurons, d_model]`` of the down-projection weight: row j is what neuron j writes.
        It aliases the parameter (in-place edits edit the model); ``of``: see :func:`linear_view`."""
        return linear_view(self.module, of).T

    def read_rows(self, of: Callable[[torch.Tensor], torch.Tensor] | None = None
                  ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """Yield views ``([n_neurons, d_model], [n_neurons] | None)``: row j is what neuron j reads.

        One pair per read-in projection and per fused chunk, with the bias entries; zeroing row j
        of every view (and its bias entry) makes neuron j's activation exactly zero for activations
        with f(0) = 0 (ReLU, GELU, SiLU and gated products). ``of`` maps weights and biases alike.
        """
        n = self.n_neurons
        for _, module, chunks in self.read_in_modules:
            rows = linear_view(module, of)
            bias = getattr(module, "bias", None)
            bias = (of(bias) if of is not None else bias) if isinstance(bias, torch.Tensor) else None
            for c in range(chunks):
                part = slice(c * n, (c + 1) * n)
                yield rows[part], (bias[part] if bias is not None else None)

    @property
    def write_out(self) -> torch.Tensor:
        """View ``[d_model, n_neurons]`` of the down-projection: column j writes neuron j."""
        return self.write_rows().T

    @property
    def out_bias(self) -> torch.Tensor | None:
        """Output bias ``[d_model]`` of the down-projection, or None."""
        bias = getattr(self.module, "bias", None)
        return bias if isinstance(bias, torch.Tensor) else None


class UnsupportedArchitectureError(InputError):
    """The model's architecture has no entry in the site registry."""


_REGISTRY: Registry[ArchitectureSpec] = Registry("architecture")
_BY_MODEL_TYPE: dict[str, str] = {}


def register_architecture(
    name: str,
    *,
    down: str,
    read_in: Sequence[str | ReadIn] = (),
    model_types: Sequence[str] = (),
    tl_hook: str = TL_BRIDGE_HOOK,
    flat_block: str | None = None,
) -> ArchitectureSpec:
    """Register (or replace) where an architecture's neurons are.

    Args:
        name: registry key; also matched against ``config.model_type`` unless
            ``model_types`` lists others.
        down: path of the down-projection with ``{layer}``, e.g. ``"layers.{layer}.mlp.down_proj"``.
        read_in: paths of the projections feeding the activation (for pruning both ways).
        model_types: ``config.model_type`` values served by this entry.
        tl_hook: TransformerBridge hook name pattern of the same activation.
        flat_block: layer module pattern, for models that flatten tokens before the MLP.
    """
    if "{layer}" not in down:
        raise InputError(f"down pattern {down!r} must contain '{{layer}}'")
    spec = ArchitectureSpec(
        name=name,
        down=down,
        read_in=tuple(r if isinstance(r, ReadIn) else ReadIn(r) for r in read_in),
        tl_hook=tl_hook,
        model_types=tuple(model_types) or (name,),
        flat_block=flat_block,
    )
    _REGISTRY.register(name, spec)
    for model_type in spec.model_types:
        _BY_MODEL_TYPE[model_type] = name
    return spec


def supported_architectures() -> dict[str, ArchitectureSpec]:
    """Registered architectures by name (a copy)."""
    return dict(_REGISTRY)


_LLAMA_LIKE = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2")
register_architecture(
    "gpt2", down="h.{layer}.mlp.c_proj", read_in=["h.{layer}.mlp.c_fc"], model_types=["gpt2"]
)
register_architecture("gpt_neo", down="h.{layer}.mlp.c_proj", read_in=["h.{layer}.mlp.c_fc"])
register_architecture(
    "gpt_neox", down="layers.{layer}.mlp.dense_4h_to_h", read_in=["layers.{layer}.mlp.dense_h_to_4h"]
)
register_architecture(
    "opt",
    down="decoder.layers.{layer}.fc2",
    read_in=["decoder.layers.{layer}.fc1"],
    flat_block="decoder.layers.{layer}",
)
register_architecture(
    "llama",
    down="layers.{layer}.mlp.down_proj",
    read_in=["layers.{layer}.mlp.gate_proj", "layers.{layer}.mlp.up_proj"],
    model_types=_LLAMA_LIKE,
)
register_architecture("phi", down="layers.{layer}.mlp.fc2", read_in=["layers.{layer}.mlp.fc1"])
register_architecture(
    "phi3", down="layers.{layer}.mlp.down_proj", read_in=[ReadIn("layers.{layer}.mlp.gate_up_proj", 2)]
)
register_architecture(
    "bert",
    down="encoder.layer.{layer}.output.dense",
    read_in=["encoder.layer.{layer}.intermediate.dense"],
    model_types=["bert", "roberta", "xlm-roberta"],
)


def _model_type(model: nn.Module) -> str | None:
    config = getattr(model, "config", None)
    return getattr(config, "model_type", None)


def _resolve_spec(model: nn.Module, arch: str | None) -> ArchitectureSpec:
    key = arch or _BY_MODEL_TYPE.get(_model_type(model) or "")
    if key is None or key not in _REGISTRY:
        covered = ", ".join(sorted(_BY_MODEL_TYPE))
        raise UnsupportedArchitectureError(
            f"no neuron sites known for architecture {arch or _model_type(model)!r} "
            f"({type(model).__name__}). Covered model types: {covered}. Register it in one line, e.g. "
            "attributions.register_architecture('<model_type>', down='layers.{layer}.mlp.down_proj', "
            "read_in=['layers.{layer}.mlp.up_proj'])"
        )
    return _REGISTRY[key]


def find_sites(model: nn.Module, arch: str | None = None) -> list[NeuronSite]:
    """Locate the neuron site of every layer, ordered by layer.

    Args:
        model: a Hugging Face model (any head, or a bare base model).
        arch: registry name to use instead of ``model.config.model_type``.

    Raises:
        UnsupportedArchitectureError: no entry, or the entry matches no module.
    """
    spec = _resolve_spec(model, arch)
    pattern = spec.down_regex()
    modules = dict(model.named_modules())
    found: dict[int, NeuronSite] = {}
    for name, module in modules.items():
        match = pattern.search(name)
        if match is None:
            continue
        layer = int(match.group(1))
        if layer in found:
            raise UnsupportedArchitectureError(
                f"pattern {spec.down!r} matches two modules for layer {layer}: "
                f"{found[layer].name!r} and {name!r}; register a more specific pattern"
            )
        prefix = name[: match.start(0) + (1 if match.group(0).startswith(".") else 0)]
        read_ins = []
        for r in spec.read_in:
            path = prefix + r.path.replace("{layer}", str(layer))
            if path not in modules:
                raise UnsupportedArchitectureError(f"read-in module {path!r} not found for layer {layer}")
            read_ins.append((path, modules[path], r.chunks))
        block_path = prefix + spec.down[: spec.down.index("{layer}") + len("{layer}")].replace("{layer}", str(layer))
        layer_block = modules.get(block_path)
        block = None
        if spec.flat_block is not None:
            block_path = prefix + spec.flat_block.replace("{layer}", str(layer))
            if block_path not in modules:
                raise UnsupportedArchitectureError(f"layer module {block_path!r} not found for layer {layer}")
            block = modules[block_path]
        found[layer] = NeuronSite(
            layer=layer,
            name=name,
            module=module,
            read_in_modules=read_ins,
            tl_hook=spec.tl_hook.replace("{layer}", str(layer)),
            flat_block=block,
            block=layer_block,
        )
    if not found:
        raise UnsupportedArchitectureError(
            f"architecture entry {spec.name!r} matched no module of {type(model).__name__} "
            f"(pattern {spec.down!r}); register the right pattern with attributions.register_architecture"
        )
    layers = sorted(found)
    if layers != list(range(len(layers))):
        raise UnsupportedArchitectureError(f"layers found are not contiguous from 0: {layers}")
    return [found[i] for i in layers]
