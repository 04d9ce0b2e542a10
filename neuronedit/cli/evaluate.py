"""``neuronedit evaluate``: bias and language-modelling metrics with 95% intervals."""

from __future__ import annotations

import argparse
from typing import Any

from .args import MAX_BOOT, MAX_SEED, POSITIVE, add_model, add_placement, add_quiet, int_at_least, load_placed
from .outputs import EVALUATION_FORMAT, check_output_file


def add_parser(sub: Any) -> None:
    """Register ``evaluate``."""
    parser = sub.add_parser("evaluate", help="bias and language-modelling metrics with 95%% intervals")
    add_model(parser)
    parser.add_argument("--data", action="append", required=True,
                        help="KIND:PATH (crows, stereoset, winobias, bbq, text) or probes:gender|race|religion; "
                             "repeatable")
    parser.add_argument("--bias-type", help="keep only this bias type (e.g. gender)")
    parser.add_argument("--split", choices=["dev", "test"], help="evaluate one deterministic half only")
    parser.add_argument("--batch-size", type=POSITIVE, default=32)
    parser.add_argument("--n-boot", type=int_at_least(10, MAX_BOOT), default=1000,
                        help="bootstrap resamples for the intervals")
    parser.add_argument("--seed", type=int_at_least(0, MAX_SEED), default=0)
    parser.add_argument("--max-tokens", type=POSITIVE, help="score at most this many tokens of each text: corpus")
    parser.add_argument("--json", help="write the results as JSON here")
    parser.add_argument("--csv", help="write the tidy table as CSV here")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --json/--csv file (only one evaluate wrote)")
    add_quiet(parser, "no progress bars")
    add_placement(parser)
    parser.set_defaults(func=run, distributed=True)


def _print_frame(frame: Any) -> None:
    """The results table with its intervals, as text."""
    shown = frame.assign(ci=[f"[{lo:.2f}, {hi:.2f}]" for lo, hi in zip(frame.ci_low, frame.ci_high)])
    print(shown[["suite", "bias_type", "metric", "value", "ci", "n"]].to_string(index=False, float_format="%.2f"))


def run(args: argparse.Namespace) -> int:
    """Score benchmarks and probes; print a table and optionally write JSON/CSV."""
    import json

    from attributions.distributed import is_main
    from attributions.files import atomic_file

    from ..data import load
    from ..measure.evaluation import evaluate

    json_out = check_output_file(args.json, flag="--json", kind="evaluation-json", overwrite=args.overwrite)
    csv_out = check_output_file(args.csv, flag="--csv", kind="evaluation-csv", overwrite=args.overwrite)
    suites = [load(spec, bias_type=args.bias_type, split=args.split) for spec in args.data]
    lm = load_placed(args)
    result = evaluate(lm, suites, batch_size=args.batch_size, n_boot=args.n_boot, seed=args.seed,
                      progress=not args.quiet, text_max_tokens=args.max_tokens)
    if not is_main():
        return 0
    _print_frame(result.frame())
    if json_out is not None:
        with atomic_file(json_out) as tmp:
            tmp.write_text(json.dumps({"format": EVALUATION_FORMAT, **result.to_dict()}, indent=2))
        print(f"wrote {json_out}")
    if csv_out is not None:
        with atomic_file(csv_out) as tmp:
            result.frame().to_csv(tmp, index=False)
        print(f"wrote {csv_out}")
    return 0
