"""``neuronedit recovery``: on a planted model, does the pipeline find, remove and see the transfer of the plant?"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from attributions.errors import InputError

from .args import (
    ATTRIBUTION_METHOD,
    DEFAULT_K,
    DEFAULT_RULE,
    MAX_STEPS,
    POSITIVE,
    SPANS,
    add_location_options,
    add_output,
    add_quiet,
    add_registered,
    int_at_least,
    say,
)
from .mask_args import add_mask_options, mask_options
from .outputs import check_output_dir

NAMED_MODELS = ("demo",)
"""Model specs that planted.json may name as the base without --base (a path read from a file is never opened)."""


def add_parser(sub: Any) -> None:
    """Register ``recovery``."""
    parser = sub.add_parser("recovery", help="check that the pipeline finds, removes and sees the transfer of a "
                                             "bias planted by `neuronedit plant`")
    parser.add_argument("--model", required=True, help="the folder `neuronedit plant --out` wrote (with planted.json)")
    parser.add_argument("--base", help="the model it was planted in (default: the one planted.json names, when it "
                                       "is a named model such as demo)")
    add_registered(parser, "--methods", ATTRIBUTION_METHOD, default=None, many=True,
                   help="attribution methods to rank the planted neurons with (default: all registered; ablation "
                        "scores neurons one at a time and learned_mask trains 100 steps, slow on real models: "
                        "about 8 min per domain on the demo model)")
    parser.add_argument("--data", help="held-out and locating data (default: what planted.json names when it is "
                                       "stereoset or probes; give KIND:PATH for a file)")
    parser.add_argument("--objective", default="all", choices=SPANS, help="pair objective span (as transfer)")
    parser.add_argument("--top-k", dest="top_k", type=POSITIVE, default=DEFAULT_K,
                        help=f"neurons located and removed per source (default {DEFAULT_K})")
    parser.add_argument("--steps", type=int_at_least(1, MAX_STEPS), default=20,
                        help="integration steps of the integrated methods (learned_mask: --mask steps=N)")
    add_mask_options(parser)
    parser.add_argument("--ppl-text", default="text:bundled", help="real text for perplexity")
    parser.add_argument("--ppl-tokens", type=POSITIVE, default=20000, help="tokens of --ppl-text to score")
    add_location_options(parser, max_items="cap each domain's dev and test half (evenly spaced)")
    add_output(parser, "folder for recovery.html and its tables")
    add_quiet(parser)
    parser.set_defaults(func=run)


def planted_data(named: dict[str, str], folder: str) -> str:
    """The ``--data`` of ``plant`` from planted.json's per-domain dev specs (``probes:DOMAIN`` for probes),
    when it is built in; a path from the file is never opened."""
    specs = sorted({"probes" if spec.startswith("probes:") else spec for spec in named.values()})
    return _named(specs[0] if len(specs) == 1 else ", ".join(specs) or "nothing", "data", "--data",
                  ("stereoset", "probes"), folder)


def _named(value: Any, what: str, flag: str, allowed: tuple[str, ...], folder: str) -> str:
    if isinstance(value, str) and value in allowed:
        return value
    raise InputError(f"{folder}/planted.json names the {what} as {str(value)[:60]!r}, which is not opened because "
                     f"it came from a file; give {flag} explicitly")


def run(args: argparse.Namespace) -> int:
    """Load the planted model, its ground truth and the base model; run the checks; write the report."""
    import shlex
    import sys
    import time

    from ..data import parse_spec
    from ..groundtruth import GroundTruth, recover
    from ..model.cache import atomic_dir
    from ..model.loading import load_model
    from ..report.recovery import write_recovery_report

    out = check_output_dir(args.out, overwrite=args.overwrite)
    if Path(args.model).is_file():
        raise InputError(f"--model {args.model} is a file; give the folder `neuronedit plant --out` wrote (the one "
                         "holding planted.json and the weights)")
    mask = mask_options(args.mask, args.methods or _methods())
    truth = GroundTruth.load(args.model)
    data = args.data
    if data is None:
        data = planted_data(truth.provenance.get("data", {}), args.model)
    elif data != "probes":
        parse_spec(data)
    base = args.base or _named(truth.provenance.get("model_spec"), "base model", "--base", NAMED_MODELS,
                               args.model)
    start = time.perf_counter()
    planted, unplanted = load_model(args.model), load_model(base)
    log = None if args.quiet else (lambda message: say(f"[{time.perf_counter() - start:6.0f} s] {message}"))
    result = recover(planted, unplanted, truth, methods=args.methods or tuple(_methods()), data=data,
                     objective=args.objective, selection=args.rule or DEFAULT_RULE, control=args.control, k=args.top_k,
                     max_items=args.max_items, ppl_text=args.ppl_text, ppl_tokens=args.ppl_tokens, steps=args.steps,
                     mask=mask, n_boot=args.n_boot, seed=args.seed, batch_size=args.batch_size, log=log)
    command = "neuronedit " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else ""
    with atomic_dir(out, overwrite=args.overwrite) as tmp:
        truth.save(tmp)
        write_recovery_report(result, tmp, command=command)
    print("\n".join(result.summary()))
    print(f"done in {time.perf_counter() - start:.0f} s; report: {(out / 'recovery.html').resolve()}")
    return 0


def _methods() -> list[str]:
    from attributions import ATTRIBUTION_METHODS

    return list(ATTRIBUTION_METHODS)
