"""Argument types and the options several commands share (output checks: :mod:`.outputs`).

Bad values fail at parse time, and every output is checked writable before any computation starts.
Building the parser imports no torch.

Registry options (attribution, unlearning and debiasing methods) take any name and check it against
the live registry when the option is given (:class:`RegisteredName`): the registries live in modules
that import torch, and a name registered at run time (``attributions.register_method``) before
:func:`neuronedit.cli.main` must be accepted. This is the simplest design that does both: torch-free
name modules would split each registry from its entries, and lazy argparse ``choices`` are iterated
when the parser is built (metavar, and help checks since Python 3.14). ``--help`` lists the built-in
names from here; a test keeps them, and the plain choices below, equal to their sources
(``attributions.selection``, ``neuronedit.locate``, ``neuronedit.model.loading``).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any, NoReturn

from attributions.errors import InputError

__all__ = ["ATTRIBUTION_METHOD", "CONTROLS", "DEBIAS_METHOD", "DEFAULT_ATTRIBUTION_METHOD", "DEFAULT_CONTROL",
           "DEFAULT_K", "DEFAULT_RULE", "DEFAULT_UNLEARNING_METHOD", "DTYPES", "MAX_BOOT", "MAX_STEPS", "OBJECTIVES",
           "POSITIVE", "RULES",
           "SPANS", "UNLEARNING_METHOD", "Parser", "RegisteredName", "add_control", "add_location_options", "add_model",
           "add_output", "add_placement", "add_quiet", "add_registered",
           "finite_float", "int_at_least", "load_placed", "non_negative_float", "positive_float", "say", "text_lines"]


class Parser(argparse.ArgumentParser):
    """An argument parser whose refusals are one line naming the fix, not the whole usage text."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


@dataclass(frozen=True)
class RegisteredName:
    """A name in the registry ``module.registry`` (imported only when a name is checked).

    ``built_in`` words ``--help`` without importing torch; a test keeps it equal to the registry's built-ins.
    """

    module: str
    registry: str
    built_in: tuple[str, ...]

    def names(self) -> Any:
        """The live registry (a :class:`~attributions.registry.Registry`)."""
        return getattr(import_module(self.module), self.registry)

    def check(self, values: Sequence[str], flag: str) -> None:
        """Raise ValueError naming ``flag`` and the registered names unless all ``values`` are registered."""
        registry = self.names()
        unknown = [v for v in values if v not in registry]
        if unknown or not values:
            raise ValueError(f"{flag}: unknown {registry.what} {', '.join(map(repr, unknown)) or '(none given)'}; "
                             f"choose from {', '.join(registry)}")


ATTRIBUTION_METHOD = RegisteredName("attributions.methods", "ATTRIBUTION_METHODS",
                                    ("activation", "grad_x_act", "integrated_gradients", "ig2", "ablation",
                                     "learned_mask"))
DEFAULT_ATTRIBUTION_METHOD = "grad_x_act"  # attributions.attribute's default
UNLEARNING_METHOD = RegisteredName("neuronedit.unlearn", "UNLEARNING_METHODS",
                                   ("gradient_ascent", "masked_token", "max_entropy", "dual"))
DEFAULT_UNLEARNING_METHOD = "masked_token"  # neuronedit.unlearn.unlearning_edit's default
DEBIAS_METHOD = RegisteredName("neuronedit.analysis.debias_methods", "DEBIAS_METHODS",
                               ("neurons", "neurons-mean", "prune", "unlearn-confined", "unlearn", "leace",
                                "self-debias", "cda", "random"))
RULES = ("top", "exclude_control", "consistent", "ratio", "difference")  # attributions.selection.RULES
DEFAULT_RULE = "consistent"
DEFAULT_K = 50
CONTROLS = ("lm", "lm+knowledge")  # neuronedit.locate.control_scores.CONTROLS
DEFAULT_CONTROL = "lm+knowledge"
OBJECTIVES = ("pair", "contrast", "forget", "lm")  # neuronedit.locate.recipes.OBJECTIVES
SPANS = ("auto", "all", "diff", "tail")  # "auto" + attributions.objectives.PAIR_SPANS
DTYPES = ("float32", "bfloat16", "float16", "float64")  # neuronedit.model.loading.DTYPES


class _Registered(argparse.Action):
    """Store a registered name (or, with ``many``, a comma-separated list of distinct names), checked
    against the live registry when the option is given: an unknown name exits 2 listing the names."""

    def __init__(self, option_strings: list[str], dest: str, *, names: RegisteredName, many: bool = False,
                 **kwargs: Any) -> None:
        self.names, self.many = names, many
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        chosen = [v.strip() for v in str(values).split(",") if v.strip()] if self.many else [str(values)]
        try:
            self.names.check(chosen, option_string or self.dest)
        except ValueError as err:
            parser.error(str(err))
        if len(set(chosen)) != len(chosen):
            parser.error(f"{option_string}: a name is given twice")
        setattr(namespace, self.dest, chosen if self.many else chosen[0])


def add_registered(parser: argparse.ArgumentParser, flag: str, names: RegisteredName, *, default: Any, help: str = "",
                   many: bool = False) -> None:
    """``flag NAME`` (``NAME,NAME,...`` with ``many``), a name in ``names``' registry; ``help`` says what for."""
    shown = f" (default {','.join(default) if many else default})" if default is not None else ""
    built_in = f"{'from' if many else 'one of'} {', '.join(names.built_in)}"
    parser.add_argument(flag, action=_Registered, names=names, many=many, default=default,
                        metavar="NAME[,NAME...]" if many else "NAME",
                        help=f"{help + '; ' if help else ''}{built_in}, or a name registered in "
                             f"{names.module}.{names.registry}{shown}")


def int_at_least(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer >= ``low`` (and <= ``high``: a bound on what a run can allocate)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{_shown(text)!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, not {_shown(text)}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:,}, not {_shown(text)}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


MAX_SEED = 2**63 - 1
"""The largest seed torch generators take."""


def _shown(text: str) -> str:
    """A value as echoed in a message: at most 20 characters (a 400-digit number is not repeated)."""
    return text if len(text) <= 20 else text[:17] + "..."


MAX_COUNT = 10**9
"""The largest count (neurons, items, tokens, batch size) a command takes."""
POSITIVE = int_at_least(1, MAX_COUNT)
MAX_BOOT = 100_000
"""The most bootstrap resamples a command takes (each holds one resampled index row per item)."""
MAX_STEPS = 100_000
"""The most integration or training steps a command takes."""


def finite_float(text: str) -> float:
    """An argparse type: a finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{_shown(text)!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {_shown(text)}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, not {_shown(text)}")
    return value


def non_negative_float(text: str) -> float:
    """An argparse type: a finite number >= 0."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {_shown(text)}")
    return value


MAX_LOSS_WEIGHT = 1e6
"""The largest weight of a loss term (``unlearn --kl-weight``, ``--retain-weight``): beyond it the sum
overflows or drowns the forget loss, and the run diverges for a reason the learning rate cannot fix."""


def loss_weight(text: str) -> float:
    """An argparse type: a loss term's weight, a finite number in [0, :data:`MAX_LOSS_WEIGHT`]."""
    value = non_negative_float(text)
    if value > MAX_LOSS_WEIGHT:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_LOSS_WEIGHT:g}, not {_shown(text)}")
    return value


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


def add_control(parser: argparse.ArgumentParser, default: str | None = DEFAULT_CONTROL,
                default_help: str = DEFAULT_CONTROL) -> None:
    """``--control``: the control scores that neuron selection keeps clear of (``default`` None: the
    command resolves it, ``default_help`` says how)."""
    parser.add_argument("--control", default=default, choices=CONTROLS,
                        help="neurons to keep: important for language modelling (lm) or also for the domain's "
                             f"knowledge probes (lm+knowledge); default {default_help}")


def add_location_options(parser: argparse.ArgumentParser, max_items: str) -> None:
    """How ``transfer`` and ``compare`` locate neurons and bootstrap: ``--rule``, ``--control``,
    ``--max-items`` (``max_items`` is its help), ``--n-boot``, ``--seed``, ``--batch-size``."""
    parser.add_argument("--rule", default=None, choices=RULES,
                        help=f"selection rule (default {DEFAULT_RULE}; top for --method learned_mask, whose gates "
                             "already weigh knowledge and text)")
    add_control(parser)
    parser.add_argument("--max-items", type=int_at_least(2), help=max_items)
    parser.add_argument("--n-boot", type=int_at_least(10, MAX_BOOT), default=1000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int_at_least(0, MAX_SEED), default=0)
    parser.add_argument("--batch-size", type=POSITIVE, default=16)


def load_placed(args: argparse.Namespace) -> Any:
    """Load ``--model`` with the placement options; rank 0 first under torchrun,
    so that a conversion into the shared cache happens once."""

    from attributions.distributed import is_distributed, local_device, rank_zero_first
    from attributions.files import read_json

    from ..model.loading import load_model

    device_map = getattr(args, "device_map", None)
    if device_map and device_map.endswith(".json"):
        device_map = read_json(Path(device_map), "device map (--device-map)",
                               'write an object of module name to device, e.g. {"model.layers.0": 0, "lm_head": "cpu"}')
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
        raise InputError(f"{flag} takes text:PATH (one text per line), not {spec}")
    return corpus.lines()
