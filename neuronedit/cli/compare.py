"""``neuronedit compare``: neuron edits, unlearning and the debiasing baselines on the same held-out data."""

from __future__ import annotations

import argparse
from typing import Any

from .args import (
    DEBIAS_METHOD,
    DEFAULT_K,
    DEFAULT_RULE,
    POSITIVE,
    add_location_options,
    add_model,
    add_output,
    add_placement,
    add_quiet,
    add_registered,
    load_placed,
    say,
)
from .outputs import check_output_dir


def add_parser(sub: Any) -> None:
    """Register ``compare``."""
    parser = sub.add_parser("compare", help="neuron edits vs unlearning, LEACE, Self-Debias, CDA and a random control "
                                            "on the same held-out data: table, figure, compare.html")
    add_model(parser)
    add_registered(parser, "--methods", DEBIAS_METHOD, default=None, many=True,
                   help="methods to compare (default neuronedit.analysis.DEFAULT_DEBIAS_METHODS: all but "
                        "neurons-mean and prune)")
    parser.add_argument("--domains", nargs="+", default=["gender"], help="source domains (default gender)")
    parser.add_argument("--measure", nargs="+", default=["gender", "race", "religion"],
                        help="domains whose held-out suites are evaluated (the transfer row)")
    parser.add_argument("--data", default="stereoset",
                        help="dev half fits every method, test half evaluates: 'stereoset' (bundled), 'probes' or "
                             "KIND:PATH with bias types")
    parser.add_argument("--top-k", dest="top_k", type=POSITIVE, default=DEFAULT_K,
                        help="neurons the neuron methods edit")
    parser.add_argument("--ppl-tokens", type=POSITIVE, default=20000, help="WikiText-2 tokens scored for perplexity")
    add_location_options(parser, max_items="cap the dev half and every held-out suite (evenly spaced; the run "
                                           "time follows it)")
    add_output(parser, "folder for the tables, figures and compare.html")
    add_quiet(parser)
    add_placement(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fit every method on the dev halves, evaluate on the held-out halves, write the report."""
    import shlex
    import sys
    import time

    from ..analysis import DEFAULT_DEBIAS_METHODS, compare_methods
    from ..data import parse_spec
    from ..model.cache import atomic_dir
    from ..report.comparison import write_compare_report

    out = check_output_dir(args.out, overwrite=args.overwrite)
    if args.data != "probes":
        parse_spec(args.data)  # a bad spec fails here, before the model loads
    start = time.perf_counter()
    lm = load_placed(args)
    say(f"model: {lm.name} ({lm.architecture}, {lm.n_layers} layers)")
    log = None if args.quiet else (lambda message: say(f"[{time.perf_counter() - start:6.0f} s] {message}"))
    methods = args.methods or list(DEFAULT_DEBIAS_METHODS)
    result = compare_methods(lm, methods, args.domains, measure=args.measure, data=args.data, k=args.top_k,
                             selection=args.rule or DEFAULT_RULE, control=args.control, ppl_tokens=args.ppl_tokens,
                             max_items=args.max_items, n_boot=args.n_boot, seed=args.seed,
                             batch_size=args.batch_size, log=log)
    command = "neuronedit " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else ""
    with atomic_dir(out, overwrite=args.overwrite) as tmp:
        write_compare_report(result, tmp, command=command)
    for source in args.domains:
        print(result.table(source).to_string(index=False))
    print(f"done in {time.perf_counter() - start:.0f} s; report: {(out / 'compare.html').resolve()}")
    return 0
