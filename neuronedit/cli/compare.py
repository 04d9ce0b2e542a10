"""``neuronedit compare``: neuron edits, unlearning and the debiasing baselines on the same held-out data."""

from __future__ import annotations

import argparse
from typing import Any

from .args import (
    CONTROLS,
    DEFAULT_CONTROL,
    DEFAULT_K,
    DEFAULT_RULE,
    POSITIVE,
    RULES,
    add_model,
    add_output,
    add_placement,
    add_quiet,
    check_output_dir,
    int_at_least,
    load_placed,
    say,
)

COMPARISON_METHODS = ("neurons", "neurons-mean", "prune", "unlearn-confined", "unlearn", "leace", "self-debias", "cda",
                      "random")  # neuronedit.analysis.methods.METHODS (kept here: the parser imports no torch)
DEFAULT_COMPARISON = "neurons,unlearn-confined,unlearn,leace,self-debias,cda,random"


def _methods(text: str) -> list[str]:
    names = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in names if m not in COMPARISON_METHODS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown method(s) {', '.join(unknown) or '(none given)'}; give a "
                                         f"comma-separated list of {', '.join(COMPARISON_METHODS)}")
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError("a method is named twice")
    return names


def add_parser(sub: Any) -> None:
    """Register ``compare``."""
    parser = sub.add_parser("compare", help="neuron edits vs unlearning, LEACE, Self-Debias, CDA and a random control "
                                            "on the same held-out data: table, figure, compare.html")
    add_model(parser)
    parser.add_argument("--methods", type=_methods, default=_methods(DEFAULT_COMPARISON),
                        help=f"comma-separated, from {', '.join(COMPARISON_METHODS)} (default {DEFAULT_COMPARISON})")
    parser.add_argument("--domains", nargs="+", default=["gender"], help="source domains (default gender)")
    parser.add_argument("--measure", nargs="+", default=["gender", "race", "religion"],
                        help="domains whose held-out suites are evaluated (the transfer row)")
    parser.add_argument("--data", default="stereoset",
                        help="dev half fits every method, test half evaluates: 'stereoset' (bundled), 'probes' or "
                             "KIND:PATH with bias types")
    parser.add_argument("--rule", default=DEFAULT_RULE, choices=RULES)
    parser.add_argument("--control", default=DEFAULT_CONTROL, choices=CONTROLS)
    parser.add_argument("--top-k", dest="top_k", type=POSITIVE, default=DEFAULT_K,
                        help="neurons the neuron methods edit")
    parser.add_argument("--ppl-tokens", type=POSITIVE, default=20000, help="WikiText-2 tokens scored for perplexity")
    parser.add_argument("--max-items", type=int_at_least(2),
                        help="cap the dev half and every held-out suite (evenly spaced; the run time follows it)")
    parser.add_argument("--n-boot", type=int_at_least(10), default=1000)
    parser.add_argument("--seed", type=int_at_least(0), default=0)
    parser.add_argument("--batch-size", type=POSITIVE, default=16)
    add_output(parser, "folder for the tables, figures and compare.html")
    add_quiet(parser)
    add_placement(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fit every method on the dev halves, evaluate on the held-out halves, write the report."""
    import shlex
    import sys
    import time

    from ..analysis import compare_methods
    from ..cache import atomic_dir
    from ..compare_report import write_compare_report
    from ..data import parse_spec

    out = check_output_dir(args.out, overwrite=args.overwrite)
    if args.data != "probes":
        parse_spec(args.data)  # a bad spec fails here, before the model loads
    start = time.perf_counter()
    lm = load_placed(args)
    say(f"model: {lm.name} ({lm.architecture}, {lm.n_layers} layers)")
    log = None if args.quiet else (lambda message: say(f"[{time.perf_counter() - start:6.0f} s] {message}"))
    result = compare_methods(lm, args.methods, args.domains, measure=args.measure, data=args.data, k=args.top_k,
                             selection=args.rule, control=args.control, ppl_tokens=args.ppl_tokens,
                             max_items=args.max_items, n_boot=args.n_boot, seed=args.seed,
                             batch_size=args.batch_size, log=log)
    command = "neuronedit " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else ""
    with atomic_dir(out, overwrite=args.overwrite) as tmp:
        write_compare_report(result, tmp, command=command)
    for source in args.domains:
        print(result.table(source).to_string(index=False))
    print(f"done in {time.perf_counter() - start:.0f} s; report: {(out / 'compare.html').resolve()}")
    return 0
