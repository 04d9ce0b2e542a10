"""``neuronedit plant``: plant a known bias mechanism in chosen neurons; save the checkpoint and planted.json."""

from __future__ import annotations

import argparse
from typing import Any

from .args import MAX_SEED, POSITIVE, add_model, add_output, add_quiet, int_at_least, positive_float, say
from .outputs import check_output_dir

VARIANTS = ("separate", "shared")  # neuronedit.groundtruth.VARIANTS (kept here so that --help imports no torch)


def add_parser(sub: Any) -> None:
    """Register ``plant``."""
    parser = sub.add_parser("plant", help="plant a known bias in chosen neurons (ground truth for `recovery`)")
    add_model(parser)
    parser.add_argument("--domains", nargs="+", default=["gender"],
                        help="bias domains to plant (shared needs two or more, e.g. gender race)")
    parser.add_argument("--variant", choices=VARIANTS, default="separate",
                        help="separate: each domain's neurons apart; shared: one set reads every domain and writes "
                             "one attribute direction")
    parser.add_argument("--neurons", type=int_at_least(2, 10**6), default=20,
                        help="bias neurons per domain (separate) or in all (shared); an even number")
    parser.add_argument("--strength", type=positive_float, default=10.0,
                        help="association points to add on each domain's dev pairs (default 10)")
    parser.add_argument("--gain", type=positive_float,
                        help="write this gain (the planted write rows' norm) instead of calibrating one to --strength: "
                             "e.g. a multiple of a calibrated gain, to see how strong a plant recovery needs")
    parser.add_argument("--decoys", action="store_true",
                        help="also plant a frequency decoy and a knowledge decoy of the first domain")
    parser.add_argument("--data", default="stereoset",
                        help="dev pairs to measure the directions and calibrate on: stereoset (bundled, default), "
                             "probes or KIND:PATH")
    parser.add_argument("--max-items", type=int_at_least(2), help="cap each domain's dev pairs (evenly spaced)")
    parser.add_argument("--seed", type=int_at_least(0, MAX_SEED), default=0, help="chooses the planted neurons")
    parser.add_argument("--batch-size", type=POSITIVE, default=8)
    add_output(parser, "checkpoint directory to write (with planted.json, the ground truth)")
    add_quiet(parser, "no calibration messages")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Plant, then save the edited checkpoint and its ground truth."""
    from ..data import parse_spec
    from ..edits import save_edited
    from ..groundtruth import plant
    from ..model.loading import load_model

    out = check_output_dir(args.out, overwrite=args.overwrite)
    if args.data != "probes":
        parse_spec(args.data)  # a bad spec fails before the model loads
    lm = load_model(args.model)
    _, truth = plant(lm, args.domains, neurons=args.neurons, variant=args.variant, strength=args.strength,
                     decoys=args.decoys, seed=args.seed, data=args.data, max_items=args.max_items,
                     gain=args.gain, batch_size=args.batch_size, log=None if args.quiet else say)
    truth.provenance["model_spec"] = args.model
    save_edited(lm, out, overwrite=args.overwrite)
    path = truth.save(out)
    roles = ", ".join(f"{sum(n.role == r for n in truth.neurons)} {r}" for r in ("bias", "frequency", "knowledge")
                      if any(n.role == r for n in truth.neurons))
    print(f"planted {roles} neurons ({args.variant}) -> {out}; ground truth {path}")
    print(f"next: neuronedit recovery --model {out} --out RESULTS")
    return 0
