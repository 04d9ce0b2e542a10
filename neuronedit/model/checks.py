"""Checks run before ``load_model`` hands a folder or a device to transformers.

Each check raises :class:`ModelLoadError` naming the file or folder at fault and the fix, so that
damaged checkpoints fail fast with a clear message instead of a traceback from deep inside
transformers or safetensors.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import torch

from attributions.errors import InputError

__all__ = ["TOKENIZER_HINT", "ModelLoadError", "available_devices", "check_device", "check_device_map", "check_files",
           "check_sizes", "config_error", "error_detail", "read_config"]

_SAFETENSORS_INDEX = "model.safetensors.index.json"
_WEIGHT_FILES = ("model.safetensors", _SAFETENSORS_INDEX, "pytorch_model.bin", "pytorch_model.bin.index.json")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "spiece.model",
                   "sentencepiece.bpe.model", "vocab.json", "vocab.txt", "merges.txt")
TOKENIZER_HINT = ("expected tokenizer.json (fast tokenizer), or tokenizer_config.json with the vocabulary files "
                  "(tokenizer.model, vocab.json + merges.txt, or vocab.txt); copy them from the original model "
                  "or write them with tokenizer.save_pretrained(<folder>)")
_RESAVE = "copy the checkpoint again from its source, or re-save it with model.save_pretrained(<folder>)"


_MAX_CONFIG_BYTES = 1 << 24
_LIMITS = {  # the largest value accepted for each size setting of a config.json (far above any real model)
    **dict.fromkeys(("num_hidden_layers", "n_layer", "num_layers", "n_layers", "num_decoder_layers",
                     "num_encoder_layers"), 1 << 10),
    **dict.fromkeys(("hidden_size", "n_embd", "d_model", "intermediate_size", "n_inner", "ffn_dim", "d_ff",
                     "head_dim", "word_embed_proj_dim", "moe_intermediate_size"), 1 << 18),
    **dict.fromkeys(("num_attention_heads", "n_head", "num_heads", "num_key_value_heads"), 1 << 14),
    **dict.fromkeys(("num_experts", "num_local_experts", "n_routed_experts"), 1 << 12),
    "vocab_size": 1 << 22,
    **dict.fromkeys(("max_position_embeddings", "n_positions", "n_ctx"), 1 << 24),
}
_MAX_PARAMETERS = 1 << 40


class ModelLoadError(InputError):
    """A model spec could not be loaded; the message says what to fix."""


def error_detail(err: BaseException, limit: int = 300) -> str:
    """The first lines of an exception's message, on one line."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    text = " ".join(lines[:3]) or type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_config(path: Path) -> dict[str, Any]:
    """``path/config.json`` as a dict (the folder is known to hold it), its sizes checked by :func:`check_sizes`."""
    file = path / "config.json"
    try:
        if file.stat().st_size > _MAX_CONFIG_BYTES:
            raise ModelLoadError(f"{file} is {file.stat().st_size:,} bytes, too large for a model's settings "
                                 f"(at most {_MAX_CONFIG_BYTES:,}); restore it: {_RESAVE}")
        config = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ModelLoadError(f"{file} is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno}); "
                             f"restore it: {_RESAVE}") from err
    except (OSError, UnicodeDecodeError) as err:
        raise ModelLoadError(f"cannot read {file} ({error_detail(err)}); check its permissions, or {_RESAVE}") from err
    except (ValueError, RecursionError):  # a 5000-digit integer, or nesting deeper than the decoder's stack
        raise ModelLoadError(f"{file} holds a number too long or nesting too deep for a model's settings; "
                             f"restore it: {_RESAVE}") from None
    if not isinstance(config, dict):
        raise ModelLoadError(f"{file} holds a JSON {type(config).__name__}, not an object of settings "
                             f"({{\"model_type\": ..., ...}}); restore it: {_RESAVE}")
    check_sizes(path, config)
    return config


def _first(config: dict[str, Any], keys: tuple[str, ...]) -> int:
    values = [config[k] for k in keys if isinstance(config.get(k), int) and not isinstance(config.get(k), bool)]
    return max(values[0], 0) if values else 0


def check_sizes(path: Path, config: dict[str, Any], where: str = "") -> int:
    """Refuse size settings of ``path/config.json`` beyond :data:`_LIMITS` (also in nested configs such as
    ``text_config``) before anything is built from them; returns a rough parameter count of the model."""
    file, estimate = path / "config.json", 0
    for key, value in config.items():
        if isinstance(value, dict):
            estimate = max(estimate, check_sizes(path, value, f"{where}{key}."))
        elif key in _LIMITS and isinstance(value, int) and not isinstance(value, bool) \
                and not 0 <= value <= _LIMITS[key]:
            raise ModelLoadError(f"{file}: {where}{key} is {value}, outside 0..{_LIMITS[key]:,}; a model of that "
                                 f"size cannot be built. Fix that entry, or {_RESAVE}")
    hidden = _first(config, ("hidden_size", "n_embd", "d_model"))
    inner = _first(config, ("intermediate_size", "n_inner", "ffn_dim", "d_ff")) or 4 * hidden
    layers = _first(config, ("num_hidden_layers", "n_layer", "num_layers", "n_layers"))
    estimate = max(estimate, _first(config, ("vocab_size",)) * hidden + layers * hidden * (4 * hidden + 3 * inner))
    if estimate > _MAX_PARAMETERS:
        raise ModelLoadError(f"{file}: its sizes describe a model of about {estimate:.2e} parameters, more than "
                             f"{_MAX_PARAMETERS:.2e}; fix the sizes, or {_RESAVE}")
    return estimate


def _check_weight_bytes(path: Path, parameters: int) -> None:
    """Refuse a config.json describing a model far larger than the weight files beside it hold."""
    stored = sum(f.stat().st_size for pattern in ("*.safetensors", "*.bin") for f in path.glob(pattern))
    if parameters > 8 * stored + (1 << 24):
        raise ModelLoadError(f"{path / 'config.json'} describes a model of about {parameters:.2e} parameters, but "
                             f"its weight files hold only {stored:,} bytes; config.json does not belong to these "
                             f"weights: {_RESAVE}")


def config_error(path: Path, config: dict[str, Any], err: BaseException, *, remote_code: bool) -> ModelLoadError:
    """The error for a config.json that transformers refused (``err``)."""
    import transformers

    file, model_type = path / "config.json", config.get("model_type")
    if model_type is None:
        return ModelLoadError(f"{file} has no \"model_type\" key, so transformers cannot tell the architecture "
                              f"({error_detail(err)}); add it (e.g. \"model_type\": \"llama\") or {_RESAVE}")
    if isinstance(model_type, str) and model_type not in transformers.CONFIG_MAPPING and not remote_code:
        return ModelLoadError(
            f"transformers {transformers.__version__} cannot build the model in {path} (model_type {model_type!r} "
            f"is unknown to it). Upgrade transformers if the model type is newer than it, or pass "
            "trust_remote_code=True if the checkpoint ships its own modelling code")
    return ModelLoadError(f"{file} has invalid settings: {error_detail(err)}. Fix that entry, or {_RESAVE}")


def _safetensors_size(file: Path) -> tuple[int, int | None]:
    """``(size, size its header implies)``; None when the header itself is cut off."""
    size = file.stat().st_size
    with open(file, "rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            return size, None
        (header_len,) = struct.unpack("<Q", prefix)
        if 8 + header_len > size:
            return size, None
        header = json.loads(handle.read(header_len))
    ends = [entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"]
    return size, 8 + header_len + max(ends, default=0)


def _check_safetensors(file: Path) -> None:
    """The header parses and the file is as long as the header says (catches truncated copies)."""
    try:
        size, expected = _safetensors_size(file)
    except PermissionError:
        raise ModelLoadError(f"weights file {file} cannot be read (permission denied); check its permissions") from None
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError) as err:
        raise ModelLoadError(f"weights file {file} is damaged ({error_detail(err)}); {_RESAVE}") from err
    if size != expected:
        says = "its header is cut off" if expected is None else f"its header says {expected}"
        raise ModelLoadError(f"weights file {file} is truncated or damaged ({size} bytes, {says}); {_RESAVE}")


def _check_weights(path: Path) -> None:
    present = [name for name in _WEIGHT_FILES if (path / name).is_file()]
    if not present:
        raise ModelLoadError(
            f"{path} has config.json but no weights: expected model.safetensors (or {_SAFETENSORS_INDEX} with its "
            f"model-*.safetensors shards, or pytorch_model.bin); {_RESAVE}")
    if "model.safetensors" in present:
        _check_safetensors(path / "model.safetensors")
    elif _SAFETENSORS_INDEX in present:
        index = path / _SAFETENSORS_INDEX
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except PermissionError:
            raise ModelLoadError(f"{index} cannot be read (permission denied); check its permissions") from None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise ModelLoadError(f"{index} is damaged ({error_detail(err)}); {_RESAVE}") from err
        missing = [name for name in shards if not (path / name).is_file()]
        if missing:
            raise ModelLoadError(f"{path} lacks {len(missing)} of the {len(shards)} weight shards listed in "
                                 f"{_SAFETENSORS_INDEX}: {', '.join(missing[:5])}; {_RESAVE}")
        for name in shards:
            _check_safetensors(path / name)


def check_files(path: Path) -> None:
    """Check that a checkpoint folder has complete weights, as many as config.json implies, and tokenizer files."""
    _check_weights(path)
    _check_weight_bytes(path, check_sizes(path, read_config(path)))
    if not any((path / name).is_file() for name in _TOKENIZER_FILES) and not any(path.glob("*.tiktoken")):
        raise ModelLoadError(f"{path} has no tokenizer files: {TOKENIZER_HINT}")


def _device_count(kind: str) -> int:
    if kind == "mps":
        mps = getattr(torch.backends, "mps", None)
        return int(mps is not None and mps.is_available())
    backend = getattr(torch, kind, None)
    try:
        return int(backend.device_count()) if backend is not None and backend.is_available() else 0
    except (AttributeError, RuntimeError):
        return 0


def available_devices() -> list[str]:
    """Devices this PyTorch build can use here, e.g. ``["cpu", "cuda:0"]``."""
    found = ["cpu"]
    for kind in ("cuda", "xpu", "mps"):
        count = _device_count(kind)
        found += ([kind] if count else []) if kind == "mps" else [f"{kind}:{i}" for i in range(count)]
    return found


def check_device(device: str | torch.device) -> torch.device:
    """Parse ``device`` and check that it exists here."""
    usable = ", ".join(available_devices())
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as err:
        raise ModelLoadError(f"invalid device {str(device)!r}: use cpu, cuda, cuda:<index> or mps "
                             f"(available here: {usable})") from err
    if parsed.type == "meta":
        raise ModelLoadError(f"device {str(device)!r} cannot run a model: tensors there have no values (it is "
                             f"PyTorch's placeholder device); use cpu, cuda or mps (available here: {usable})")
    if parsed.type == "cpu":
        return parsed
    count = _device_count(parsed.type)
    if count == 0:
        why = (f"PyTorch {torch.__version__} was built without CUDA" if parsed.type == "cuda" and
               torch.version.cuda is None else f"no {parsed.type} device is visible to PyTorch {torch.__version__}")
        raise ModelLoadError(f"device {str(device)!r} is not available ({why}); available here: {usable}. "
                             "Use device='cpu' (CLI: --device cpu)")
    if parsed.index is not None and parsed.index >= count:
        raise ModelLoadError(f"device {str(device)!r} is not available: there are {count} {parsed.type} "
                             f"device(s); available here: {usable}")
    return parsed


DEVICE_MAP_STRATEGIES = ("auto", "balanced", "balanced_low_0", "sequential")


def check_device_map(device_map: object) -> None:
    """A ``device_map`` must be a strategy name or ``{module name: device}`` whose devices exist here
    (an index means that CUDA device; ``"disk"`` offloads)."""
    hint = (f"give {', '.join(DEVICE_MAP_STRATEGIES)}, or a JSON object of module name to device, "
            'e.g. {"model.layers.0": 0, "lm_head": "cpu"}')
    try:
        import accelerate  # noqa: F401
    except ImportError as err:
        raise ModelLoadError("device_map needs the accelerate package: pip install 'neuronedit[scale]' "
                             "(or pip install accelerate)") from err
    if isinstance(device_map, str):
        if device_map not in DEVICE_MAP_STRATEGIES:
            raise ModelLoadError(f"device map {device_map!r} is not a placement strategy; {hint}")
        return
    if not isinstance(device_map, dict) or not device_map:
        raise ModelLoadError(f"a device map must be a strategy or a non-empty object, not "
                             f"{type(device_map).__name__}; {hint}")
    for module, device in device_map.items():
        if not isinstance(module, str) or isinstance(device, bool) or not isinstance(device, (int, str)):
            raise ModelLoadError(f"device map entry {module!r}: {device!r} is not a device; {hint}")
        if device != "disk":
            check_device(f"cuda:{device}" if isinstance(device, int) else device)
