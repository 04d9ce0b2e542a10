"""Argument types, output checks and the options several commands share.

Bad values fail at parse time, and every output is checked writable before any computation starts.
Building the parser imports no torch: the registry names below are spelled out, and a test keeps them
equal to the registries (``attributions.methods``, ``attributions.selection``, ``neuronedit.controls``,
``neuronedit.unlearn``, ``neuronedit.recipes``).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..cache import check_replaceable

__all__ = ["CONTROLS", "DEFAULT_CONTROL", "DEFAULT_K", "DEFAULT_METHOD", "DEFAULT_RULE", "DEFAULT_UNLEARN_METHOD",
           "DTYPES", "METHODS", "OBJECTIVES", "POSITIVE", "RULES", "SPANS", "UNLEARN_METHODS", "add_model",
           "add_output", "add_placement", "add_quiet", "add_renamed", "check_output_dir", "check_output_file",
           "finite_float", "int_at_least", "load_placed", "non_negative_float", "positive_float", "say", "text_lines"]

METHODS = ("activation", "grad_x_act", "integrated_gradients", "ig2", "ablation")  # attributions.methods.METHODS
DEFAULT_METHOD = "grad_x_act"
RULES = ("top", "exclude_control", "consistent", "ratio", "difference")  # attributions.selection.RULES
DEFAULT_RULE = "consistent"
DEFAULT_K = 50
CONTROLS = ("lm", "lm+knowledge")  # neuronedit.controls.CONTROLS
DEFAULT_CONTROL = "lm+knowledge"
UNLEARN_METHODS = ("gradient_ascent", "masked_token", "max_entropy", "dual")  # neuronedit.unlearn.METHODS
DEFAULT_UNLEARN_METHOD = "masked_token"
OBJECTIVES = ("pair", "contrast", "forget", "lm")  # neuronedit.recipes.OBJECTIVES
SPANS = ("auto", "all", "diff", "tail")  # "auto" + attributions.objectives.PAIR_SPANS
DTYPES = ("float32", "bfloat16", "float16", "float64")  # neuronedit.loading.DTYPES


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, not {value}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


POSITIVE = int_at_least(1)


def finite_float(text: str) -> float:
    """An argparse type: a finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, not {text}")
    return value


def non_negative_float(text: str) -> float:
    """An argparse type: a finite number >= 0."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def _writable_parent(path: Path, flag: str) -> None:
    """The nearest existing ancestor of ``path`` must be a writable folder."""
    parent = path.parent
    while not parent.exists():
        if parent.is_symlink():
            raise ValueError(f"{flag} {path}: {parent} is a broken link")
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{flag} {path}: {parent} is a file, not a folder; choose another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {path}: cannot write in {parent} (permission denied); choose a writable folder")


def check_output_dir(value: str, *, overwrite: bool, flag: str = "--out") -> Path:
    """The folder an output goes to, checked before computing: it must have a name, be new or
    a folder this toolkit wrote (with ``--overwrite``), and its parent must be writable."""
    path = Path(value).expanduser()
    if path.name in ("", ".", "..") or Path(os.path.abspath(path)).name == "":
        raise ValueError(f"{flag} {value!r} names no new folder; give one such as out/run1")
    check_replaceable(path, overwrite=overwrite)
    _writable_parent(path, flag)
    return path


def check_output_file(value: str | None, *, flag: str, overwrite: bool = True) -> Path | None:
    """A file an output goes to (``--json``, ``--csv``, a scores file), checked before computing."""
    if value is None:
        return None
    path = Path(value).expanduser()
    if path.name in ("", ".", "..") or path.is_dir():
        raise ValueError(f"{flag} {value}: is a folder; give a file name such as {Path(value) / 'results.json'}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{flag} {path} exists; pass --overwrite to replace it")
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{flag} {path}: the file is read-only; choose another path")
    _writable_parent(path, flag)
    return path


# ---- options several commands share ---------------------------------------------------------------

def add_model(parser: argparse.ArgumentParser,
              help: str = "demo, a .gguf file, a checkpoint directory or a hub id") -> None:
    """``--model`` (default: the demo model)."""
    parser.add_argument("--model", default="demo", help=help)


def add_output(parser: argparse.ArgumentParser, what: str) -> None:
    """``--out`` (required) and ``--overwrite``."""
    parser.add_argument("--out", required=True, help=what)
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing output (only a folder neuronedit wrote, never another folder)")


def add_quiet(parser: argparse.ArgumentParser, help: str | None = None) -> None:
    """``--quiet`` (the entry point silences transformers while the command runs)."""
    parser.add_argument("--quiet", action="store_true", help=help)


class _Renamed(argparse.Action):
    """The old spelling of a renamed option: hidden from --help, stores like the new one, says so on stderr."""

    def __init__(self, option_strings: list[str], dest: str, new: str = "", **kwargs: Any) -> None:
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print(f"{parser.prog}: {option_string} is now {self.new}; the old name goes in the next release",
              file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_renamed(parser: argparse.ArgumentParser, old: str, new: str, dest: str, **kwargs: Any) -> None:
    """Keep ``old`` working as a hidden alias of the option ``new`` (same ``dest``, ``type``, ``choices``)."""
    parser.add_argument(old, dest=dest, action=_Renamed, new=new, default=argparse.SUPPRESS, help=argparse.SUPPRESS,
                        **kwargs)


def add_placement(parser: argparse.ArgumentParser) -> None:
    """Options for where the model's weights go (for models larger than one device)."""
    group = parser.add_argument_group("model placement")
    group.add_argument("--dtype", default="float32", choices=DTYPES,
                       help="parameter dtype (default float32: exact gradients)")
    group.add_argument("--device", default=None,
                       help="cpu, cuda, cuda:1, ... (default: cpu; under torchrun with GPUs, this rank's GPU)")
    group.add_argument("--device-map", default=None,
                       help="spread the model over devices with accelerate: auto, balanced, sequential, or a JSON "
                            "file {module: device}; 'disk' entries offload to --offload-folder")
    group.add_argument("--offload-folder", default=None, help="folder for weights offloaded to disk")


def load_placed(args: argparse.Namespace) -> Any:
    """Load ``--model`` with the placement options; rank 0 first under torchrun,
    so that a conversion into the shared cache happens once."""
    import json

    from attributions.distributed import is_distributed, local_device, rank_zero_first

    from ..loading import load_model

    device_map = getattr(args, "device_map", None)
    if device_map and device_map.endswith(".json"):
        device_map = json.loads(Path(device_map).read_text())
    device = getattr(args, "device", None) or (str(local_device()) if is_distributed() else "cpu")
    with rank_zero_first():
        return load_model(args.model, dtype=getattr(args, "dtype", "float32"), device=device,
                          device_map=device_map, offload_folder=getattr(args, "offload_folder", None))


def say(*lines: str) -> None:
    """Print on rank 0 only (every rank computes the same results under torchrun)."""
    from attributions.distributed import is_main

    if is_main():
        print(*lines, sep="\n", flush=True)


def text_lines(spec: str, flag: str) -> list[str]:
    """The non-blank lines of the ``text:PATH`` spec given to ``flag``."""
    from ..data import TextCorpus, load

    corpus = load(spec)
    if not isinstance(corpus, TextCorpus):
        raise ValueError(f"{flag} takes text:PATH (one text per line), not {spec}")
    return corpus.lines()
