"""``load_model``: one entry point for hub ids, local checkpoints, GGUF files and the demo model."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import torch

from attributions import LanguageModel
from attributions.files import home_path

from .cache import atomic_dir, cache_dir, file_sha256
from .checks import (
    TOKENIZER_HINT,
    ModelLoadError,
    available_devices,
    check_device,
    check_device_map,
    check_files,
    config_error,
    error_detail,
    read_config,
)
from .demo import demo_gguf_path

__all__ = ["ModelLoadError", "available_devices", "gguf_cache_path", "load_model", "quiet_transformers"]

_GGUF_MAGIC = b"GGUF"
_HUB_ID = re.compile(r"^(?!.*(--|\.\.))[A-Za-z0-9][\w.-]{0,95}(/[A-Za-z0-9][\w.-]{0,95})?$")
logger = logging.getLogger(__name__)


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' logs below errors and its progress bars ("Loading weights", "Writing
    model shards", hub downloads) inside the block; the previous state is restored on exit."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hub_off = are_progress_bars_disabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
        if are_progress_bars_disabled() != hub_off:
            disable_progress_bars() if hub_off else enable_progress_bars()


def _auto_class(config: Any) -> Any:
    import transformers

    is_encoder = getattr(config, "model_type", "") in {"bert", "roberta", "xlm-roberta"}
    return transformers.AutoModelForMaskedLM if is_encoder else transformers.AutoModelForCausalLM


def _from_pretrained(source: str, *, dtype: torch.dtype, local_only: bool, **kwargs: Any) -> tuple[Any, Any]:
    import transformers

    placement = {k: kwargs.pop(k) for k in ("device_map", "offload_folder") if k in kwargs}  # model only
    config = transformers.AutoConfig.from_pretrained(source, local_files_only=local_only, **kwargs)
    model = _auto_class(config).from_pretrained(source, dtype=dtype, local_files_only=local_only, **kwargs,
                                                **placement)
    tokenizer = transformers.AutoTokenizer.from_pretrained(source, local_files_only=local_only, **kwargs)
    return model, tokenizer


def _load_local(path: Path, *, dtype: torch.dtype, **kwargs: Any) -> tuple[Any, Any]:
    """Load a checkpoint folder, checking its files first; each failure names the file and the fix."""
    import transformers

    settings = read_config(path)  # its sizes are checked: nothing huge is built from them
    placement = {k: kwargs.pop(k) for k in ("device_map", "offload_folder") if k in kwargs}  # model only
    try:
        config = transformers.AutoConfig.from_pretrained(str(path), local_files_only=True, **kwargs)
    except Exception as err:  # JSON, validation and unknown-architecture errors come in many types
        raise config_error(path, settings, err, remote_code="trust_remote_code" in kwargs) from err
    check_files(path)  # before the slow part: weights complete, tokenizer files present
    try:
        model = _auto_class(config).from_pretrained(str(path), dtype=dtype, local_files_only=True, **kwargs,
                                                    **placement)
    except ImportError:
        raise
    except (ValueError, KeyError) as err:
        raise ModelLoadError(
            f"transformers cannot build the model in {path} (model_type {settings.get('model_type')!r}): "
            f"{error_detail(err)} Upgrade transformers if the model type is newer than it, or pass "
            "trust_remote_code=True if the checkpoint ships its own modelling code") from err
    except Exception as err:  # safetensors, torch.load and size-mismatch errors
        raise ModelLoadError(f"could not read the weights in {path} ({type(err).__name__}: {error_detail(err)}); "
                             "they are damaged or do not match config.json: copy them again from the source, "
                             "or re-save the model with save_pretrained") from err
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True, **kwargs)
    except Exception as err:
        raise ModelLoadError(f"could not load the tokenizer in {path} ({type(err).__name__}: {error_detail(err)}); "
                             f"its files are missing or damaged: {TOKENIZER_HINT}") from err
    return model, tokenizer


def gguf_cache_path(gguf: str | os.PathLike[str]) -> Path:
    """Cache directory of the safetensors copy of a GGUF file (keyed by content hash)."""
    gguf = Path(gguf)
    return cache_dir("models", f"{gguf.stem}-{file_sha256(gguf)[:16]}")


def _check_gguf(path: Path) -> None:
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic != _GGUF_MAGIC:
        raise ModelLoadError(
            f"{path} is not a GGUF file (it starts with {magic!r}, not {_GGUF_MAGIC!r}); "
            "re-download it, or point load_model at a Hugging Face checkpoint directory instead"
        )


def _convert_gguf(path: Path, target: Path) -> None:
    """Dequantize a GGUF file with transformers and save a plain float32 safetensors checkpoint."""
    import transformers

    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            str(path.parent), gguf_file=path.name, dtype=torch.float32
        )
    except ModelLoadError:
        raise
    except Exception as err:  # gguf/transformers raise many types for damaged files
        raise ModelLoadError(
            f"could not read GGUF file {path}: {type(err).__name__}: {err}. The file is damaged or its "
            "architecture is not supported by transformers' GGUF loader; re-download it "
            "(for the demo model: delete it and run `neuronedit models --fetch-demo`)"
        ) from err
    # Dequantized weights are plain tensors: drop the quantizer so the model saves like any checkpoint.
    cast(Any, model).hf_quantizer = None  # set by from_pretrained; Module.__setattr__'s stub admits no None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    with atomic_dir(target, overwrite=True, foreign_ok=True) as tmp:  # our cache: entries may predate the marker
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "neuronedit_source.json").write_text(
            json.dumps(
                {"gguf": str(path), "gguf_sha256": file_sha256(path), "transformers": transformers.__version__},
                indent=2,
            )
        )


def _load_gguf(path: Path, *, dtype: torch.dtype, **kwargs: Any) -> tuple[Any, Any, str, Path]:
    """Load the cached conversion of a GGUF file, converting it first if absent or damaged."""
    _check_gguf(path)
    target = gguf_cache_path(path)
    kwargs.pop("trust_remote_code", None)
    if (target / "config.json").is_file():
        try:
            return (*_load_local(target, dtype=dtype, **kwargs), "cache", target)
        except ModelLoadError as err:
            logger.warning("the converted copy %s is damaged (%s); rebuilding it from %s", target, err, path)
    try:
        _convert_gguf(path, target)
    except OSError as err:
        raise ModelLoadError(f"could not write the converted {path.name} to {target} ({error_detail(err)}); "
                             "free disk space, or set NEURONEDIT_CACHE to a writable folder") from err
    try:
        return (*_load_local(target, dtype=dtype, **kwargs), "gguf", target)
    except ModelLoadError as err:
        raise ModelLoadError(f"the converted copy of {path} in {target} cannot be loaded ({err}); delete the "
                             f"folder {target} and retry (it is rebuilt from the GGUF file)") from err


def _looks_like_path(spec: str) -> bool:
    """True unless ``spec`` could be a hub id (``name`` or ``owner/name``)."""
    suffix = Path(spec).suffix.lower()
    return suffix in {".gguf", ".safetensors", ".bin", ".pt", ".pth", ".ckpt"} or not _HUB_ID.match(spec)


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16, "float64": torch.float64}


def _parse_dtype(name: str | torch.dtype) -> torch.dtype:
    """``"bfloat16"`` -> ``torch.bfloat16`` (also accepts a dtype)."""
    if isinstance(name, torch.dtype):
        return name
    if name not in DTYPES:
        raise ModelLoadError(f"unknown dtype {name!r}; choose one of {', '.join(DTYPES)}")
    return DTYPES[name]


def load_model(
    spec: str | os.PathLike[str],
    *,
    dtype: torch.dtype | str = torch.float32,
    device: str | torch.device = "cpu",
    device_map: str | dict[str, Any] | None = None,
    offload_folder: str | os.PathLike[str] | None = None,
    trust_remote_code: bool = False,
) -> LanguageModel:
    """Load a model and its tokenizer, in eval mode.

    Args:
        spec: ``"demo"`` (SmolLM2-135M-Instruct), a ``.gguf`` file (converted once to a
            cached safetensors checkpoint), a local checkpoint directory, or a hub id.
        dtype: parameter dtype (float32 by default: attribution wants exact gradients), or its name.
        device: where to put the model (ignored with ``device_map``).
        device_map: spread a model that does not fit one device over several (needs
            ``accelerate``): ``"auto"``, ``"balanced"``, or ``{module name: device}`` as in
            ``from_pretrained``; ``"disk"`` entries offload to ``offload_folder``. Hooks, masks and
            attribution work across devices; weight edits need the weights in memory.
        offload_folder: where offloaded weights go (``device_map`` with ``"disk"``).
        trust_remote_code: passed to ``from_pretrained`` for hub ids and directories.

    Raises:
        ModelLoadError: missing path, directory without ``config.json``, invalid config, missing or
            truncated weights, missing tokenizer files, damaged GGUF or cache entry (a damaged GGUF
            conversion in the cache is rebuilt first), unknown model type, unavailable device or
            unreachable hub id; the message names the file and what to do.
        DemoModelUnavailable: ``"demo"`` is neither installed, cached nor downloadable.
    """
    text = os.fspath(spec)
    if not text.strip():
        raise ModelLoadError("empty model spec; pass 'demo', a .gguf file, a checkpoint directory or a hub id")
    path = home_path(text, "model")
    dtype = _parse_dtype(dtype)
    extra: dict[str, Any] = {"trust_remote_code": True} if trust_remote_code else {}
    if device_map is None:
        device = check_device(device)
    else:
        check_device_map(device_map)  # and that accelerate is installed
        extra["device_map"] = device_map
        if offload_folder is not None:
            extra["offload_folder"] = str(offload_folder)
    if text == "demo":
        gguf = demo_gguf_path()
        model, tokenizer, source, local = _load_gguf(gguf, dtype=dtype, **extra)
    elif path.is_file():
        if not os.access(path, os.R_OK):
            raise ModelLoadError(f"{path} cannot be read (permission denied); check its permissions")
        if path.suffix != ".gguf":
            raise ModelLoadError(
                f"{path} is a file but not a .gguf file; pass a .gguf file or the directory "
                "written by save_pretrained (it holds config.json)"
            )
        model, tokenizer, source, local = _load_gguf(path, dtype=dtype, **extra)
    elif path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"directory {path} has no config.json, so it is not a Hugging Face checkpoint; "
                "point to the directory written by save_pretrained (config.json + *.safetensors) or to a .gguf file"
            )
        model, tokenizer = _load_local(path, dtype=dtype, **extra)
        source, local = "dir", path
    elif path.exists():
        raise ModelLoadError(f"{path} is neither a file nor a folder (a pipe or a device?); pass a .gguf file or "
                             "a checkpoint directory")
    elif _looks_like_path(text):
        not_hub = "" if text.startswith((".", "/", "~")) else f" (and '{text}' is not a hub id like 'owner/name')"
        raise ModelLoadError(f"no such file or directory: {path}{not_hub}. Check the path; "
                             "use 'demo' for the demo model")
    else:
        model, tokenizer = _load_hub(text, dtype=dtype, **extra)
        source, local = "hub", None
    if getattr(tokenizer, "pad_token", None) is None and getattr(tokenizer, "eos_token", None) is not None:
        tokenizer.pad_token = tokenizer.eos_token  # batching needs a pad id; padded positions are masked
    if device_map is None:
        model.to(device)
    model.eval()
    return LanguageModel(model=model, tokenizer=tokenizer, name=text, source=source, path=str(local) if local else None)


def _load_hub(repo_id: str, *, dtype: torch.dtype, **kwargs: Any) -> tuple[Any, Any]:
    offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
    try:
        return _from_pretrained(repo_id, dtype=dtype, local_only=offline, **kwargs)
    except OSError as err:
        raise ModelLoadError(
            f"could not load {repo_id!r}: there is no local file or directory of that name, and the Hugging Face "
            f"hub or its local cache failed ({error_detail(err)}) "
            "Without network access, pass a local checkpoint directory, a .gguf file, or 'demo'"
        ) from err
    except (ImportError, ModelLoadError):
        raise
    except Exception as err:  # unknown architecture, remote code, or a damaged download in the hub cache
        raise ModelLoadError(
            f"could not load {repo_id!r} ({type(err).__name__}: {error_detail(err)}). Upgrade transformers if its "
            "model type is newer, pass trust_remote_code=True if it ships its own code, or, if its files in the "
            f"Hugging Face cache are damaged, delete them (`hf cache rm model/{repo_id}`) and retry") from err
