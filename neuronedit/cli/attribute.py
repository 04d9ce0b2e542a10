"""``neuronedit attribute``: score every MLP neuron for an objective, with control scores, in one file."""

from __future__ import annotations

import argparse
from typing import Any

from attributions.errors import InputError

from .args import (
    ATTRIBUTION_METHOD,
    DEFAULT_ATTRIBUTION_METHOD,
    DEFAULT_CONTROL,
    MAX_SEED,
    MAX_STEPS,
    OBJECTIVES,
    POSITIVE,
    SPANS,
    add_control,
    add_model,
    add_output,
    add_placement,
    add_quiet,
    add_registered,
    int_at_least,
    load_placed,
    say,
)
from .mask_args import add_mask_options, mask_options
from .outputs import check_output_file


def add_parser(sub: Any) -> None:
    """Register ``attribute``."""
    parser = sub.add_parser("attribute", help="score every MLP neuron for an objective")
    add_model(parser)
    parser.add_argument("--data", help="KIND:PATH or probes:DOMAIN (text:PATH for lm/forget/contrast prompts)")
    parser.add_argument("--bias-type", help="keep only this bias type (also the domain of --control lm+knowledge)")
    parser.add_argument("--split", choices=["dev", "test"], default=None, help="use one deterministic half")
    parser.add_argument("--objective", choices=OBJECTIVES, default="pair")
    add_registered(parser, "--method", ATTRIBUTION_METHOD, default=DEFAULT_ATTRIBUTION_METHOD,
                   help="attribution method")
    parser.add_argument("--span", choices=SPANS, default="all",
                        help="pair objective: tokens to score (auto: what the data's association score reads: the "
                             "differing span for StereoSet/WinoBias/gender probes, the tokens after the group term "
                             "otherwise)")
    parser.add_argument("--prompt", action="append", help="contrast objective: a prompt (repeatable)")
    parser.add_argument("--a", default=" he", help="contrast objective: first token")
    parser.add_argument("--b", default=" she", help="contrast objective: second token")
    parser.add_argument("--limit", type=POSITIVE, help="use at most this many inputs")
    parser.add_argument("--batch-size", type=POSITIVE, default=16)
    parser.add_argument("--steps", type=int_at_least(1, MAX_STEPS), default=None,
                        help="integration steps (integrated_gradients, ig2; default 20) or training steps "
                             "(learned_mask; default 100)")
    parser.add_argument("--internal-batch-size", type=POSITIVE, default=64,
                        help="rows per forward pass for integrated-gradient steps and ablations (bounds memory)")
    parser.add_argument("--checkpoint", help="folder for partial sums: a killed run restarted with the same "
                                             "arguments resumes there (same scores as an uninterrupted run)")
    parser.add_argument("--checkpoint-every", type=POSITIVE, default=20, help="save partial sums every N batches")
    parser.add_argument("--seed", type=int_at_least(0, MAX_SEED), default=0)
    add_mask_options(parser)
    add_control(parser, default=None, default_help=f"{DEFAULT_CONTROL} when the data has one bias type with "
                "knowledge probes (as transfer), else lm")
    parser.add_argument("--no-control", action="store_true", help="skip the control scores")
    add_registered(parser, "--control-method", ATTRIBUTION_METHOD, default=DEFAULT_ATTRIBUTION_METHOD,
                   help="method for the control scores")
    add_output(parser, "scores file to write (.safetensors)")
    add_quiet(parser)
    add_placement(parser)
    parser.set_defaults(func=run, distributed=True)


def _check_inputs(args: argparse.Namespace) -> str | None:
    """Flag combinations the objective cannot use, named by their flags; returns the domain of the
    ``lm+knowledge`` control (the data's bias type, as ``transfer`` takes each source's)."""
    from ..data.knowledge import KNOWLEDGE_DOMAINS
    from ..locate.recipes import data_domain

    if args.objective == "contrast" and not args.prompt and not args.data:
        raise InputError("--objective contrast needs --prompt TEXT (repeatable) or --data text:PATH")
    if args.objective != "contrast" and not args.data:
        raise InputError(f"--objective {args.objective} needs --data KIND:PATH")
    if args.no_control and args.control is not None:
        raise InputError(f"--no-control skips the control scores, so --control {args.control} would be ignored; "
                         "give one of them")
    if args.no_control or args.control == "lm":
        return None
    domain = data_domain(args.data, args.bias_type, args.split) if args.data else None
    if args.control is None:  # the default: transfer's control wherever the data names the domain
        args.control = DEFAULT_CONTROL if domain in KNOWLEDGE_DOMAINS else "lm"
        say(f"control scores: {args.control}" + (f" (keeping {domain} knowledge)" if args.control != "lm" else
                                                  " (the data has no single bias type with knowledge probes)"))
        return domain if args.control != "lm" else None
    if domain not in KNOWLEDGE_DOMAINS:
        found = f"bias type {domain!r} has no knowledge probes" if domain else "no single bias type in the data"
        raise InputError(f"--control lm+knowledge keeps the knowledge of the data's bias type, but {found}; give "
                         f"--bias-type {'|'.join(KNOWLEDGE_DOMAINS)}, or --control lm")
    return domain


def run(args: argparse.Namespace) -> int:
    """Score every MLP neuron for an objective; store scores (and control scores) in one file."""
    from pathlib import Path

    from attributions import attribute
    from attributions.distributed import is_main

    from ..data.provenance import data_hashes
    from ..locate.learned import method_options
    from ..locate.recipes import choose_neurons, control_for, data_domain, objective_for

    out = check_output_file(args.out, flag="--out", kind="scores", overwrite=args.overwrite)
    assert out is not None
    mask = mask_options(args.mask, [args.method], args.steps)
    domain = _check_inputs(args)
    objective = objective_for(args.objective, args.data, prompts=args.prompt or (), a=args.a, b=args.b,
                              limit=args.limit, bias_type=args.bias_type, split=args.split, span=args.span)
    lm = load_placed(args)
    options: dict[str, Any] = {"batch_size": args.batch_size, "steps": args.steps, "seed": args.seed,
                               "internal_batch_size": args.internal_batch_size, "progress": not args.quiet,
                               "checkpoint_every": args.checkpoint_every}
    checkpoint = Path(args.checkpoint) if args.checkpoint else None
    located = method_options(args.method, domain or data_domain(args.data, args.bias_type, args.split), mask)
    scores = attribute(lm, objective, args.method, checkpoint=checkpoint, label="objective", **options, **located)
    if scores.meta["skipped"]:
        say(f"skipped {len(scores.meta['skipped'])} input(s): " + "; ".join(
            f"#{i}: {r}" for i, r in scores.meta["skipped"][:5]))
    scores.meta["data"] = args.data
    scores.meta.update(split=args.split, bias_type=args.bias_type, limit=args.limit)
    scores.meta["data_sha256"] = data_hashes(args.data)
    if not args.no_control:
        scores.control = control_for(lm, args.control_method, control=args.control, domain=domain,
                                     checkpoint=checkpoint / "control" if checkpoint else None, log=say, **options)
    if not is_main():
        return 0
    scores.save(out)
    print(f"{scores.meta['n_examples']} examples, method {args.method}, {scores.meta['seconds']} s, "
          f"{scores.meta['world_size']} process(es) -> {out}")
    chosen, rule, _ = choose_neurons(scores, 10)
    print(f"top 10 by rule {rule!r}: " + ", ".join(
        f"L{layer}.{n} ({float(scores.scores[layer, n]):+.4f})" for layer, n in chosen))
    return 0
