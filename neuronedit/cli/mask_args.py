"""``--mask NAME=VALUE``: the options of the ``learned_mask`` method on the command line (``attribute``,
``transfer``, ``recovery``), checked before any model loads."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from typing import Any

from attributions.errors import InputError

from .args import _shown

__all__ = ["add_mask_options", "mask_options"]


def add_mask_options(parser: argparse.ArgumentParser) -> None:
    """``--mask NAME=VALUE`` (repeatable): options of the ``learned_mask`` method."""
    parser.add_argument("--mask", action="append", default=[], metavar="NAME=VALUE",
                        help="a learned_mask option (repeatable), e.g. budget=50, text_weight=2, steps=200 "
                             "(attributions.masking.MaskOptions; docs/learned-masks.md)")


def mask_options(given: Sequence[str], methods: Sequence[str], steps: int | None = None) -> dict[str, Any]:
    """The ``--mask`` options ``given`` as keyword arguments, checked before any model loads (``steps``: the
    command's ``--steps``, when it also sets learned_mask's training steps).

    Raises:
        InputError: a malformed or unknown option, a value the option refuses, or ``--mask`` without
            ``learned_mask`` among ``methods``; the message names the flag and the fix.
    """
    from attributions.masking import MaskOptions

    if not given:
        return {}
    if steps is not None and any(item.startswith("steps=") for item in given):
        raise InputError("--steps and --mask steps=N both set learned_mask's training steps; give one of them")
    if "learned_mask" not in methods:
        raise InputError("--mask sets options of the learned_mask method, which this run does not use; "
                         "add learned_mask to the methods or drop --mask")
    kinds = {f.name: f.type for f in dataclasses.fields(MaskOptions)}
    chosen: dict[str, Any] = {}
    for item in given:
        name, sep, text = item.partition("=")
        if not sep or name not in kinds:
            raise InputError(f"--mask {_shown(item)}: give NAME=VALUE with NAME one of {', '.join(kinds)}")
        try:
            chosen[name] = int(text) if kinds[name] == "int" else float(text)
        except ValueError:
            raise InputError(f"--mask {_shown(item)}: {name} takes a {kinds[name]}, not {_shown(text)}") from None
    try:
        MaskOptions(**chosen)
    except InputError as err:
        raise InputError(f"--mask: {err}") from None
    return chosen
