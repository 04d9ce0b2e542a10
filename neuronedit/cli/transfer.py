"""``neuronedit transfer``: remove each bias's neurons, measure every bias: matrix, plots, report.html."""

from __future__ import annotations

import argparse
from typing import Any

from attributions.errors import InputError

from .args import (
    ATTRIBUTION_METHOD,
    DEFAULT_ATTRIBUTION_METHOD,
    DEFAULT_K,
    DEFAULT_RULE,
    DEFAULT_UNLEARNING_METHOD,
    MAX_STEPS,
    POSITIVE,
    SPANS,
    UNLEARNING_METHOD,
    add_location_options,
    add_model,
    add_output,
    add_placement,
    add_quiet,
    add_registered,
    int_at_least,
    load_placed,
    positive_float,
    say,
)
from .mask_args import add_mask_options, mask_options
from .outputs import check_output_dir

EDITS = ("zero", "mean", "unlearn")
DOSE = (10, 50, 200)
"""The dose-response sizes without --dose."""


UNLEARN_LR, UNLEARN_STEPS = 1e-5, 40
"""The learning rate and steps of ``--mode unlearn`` unless given."""


def add_parser(sub: Any) -> None:
    """Register ``transfer``."""
    parser = sub.add_parser("transfer",
                            help="remove each bias's neurons, measure every bias: matrix, plots, report.html")
    add_model(parser)
    parser.add_argument("--data", default="stereoset",
                        help="where neurons are located: 'stereoset' (bundled StereoSet dev data, default), 'probes' "
                             "(built-in templates) or KIND:PATH with bias types; its dev half locates, its test half, "
                             "WinoBias (gender), the probes and the knowledge probes evaluate")
    parser.add_argument("--objective", default="all", choices=SPANS,
                        help="tokens the pair objective scores: all (default), the differing span, the tokens after "
                             "the group term, or auto (what the source's association score reads)")
    parser.add_argument("--domains", nargs="+", default=["gender", "race", "religion"])
    add_registered(parser, "--method", ATTRIBUTION_METHOD, default=DEFAULT_ATTRIBUTION_METHOD,
                   help="attribution method")
    add_mask_options(parser)
    parser.add_argument("--top-k", dest="top_k", type=POSITIVE, default=DEFAULT_K,
                        help=f"neurons removed per source in the matrix (default {DEFAULT_K})")
    parser.add_argument("--dose", type=POSITIVE, nargs="*",
                        help=f"sizes for the dose-response (default {' '.join(map(str, DOSE))})")
    parser.add_argument("--no-dose", action="store_true", help="no dose-response: only --top-k neurons")
    parser.add_argument("--mode", dest="mode", choices=EDITS, default="zero",
                        help="zero/mean: hook edit of the selected neurons; unlearn: unlearn each source's dev pairs")
    add_registered(parser, "--unlearn-method", UNLEARNING_METHOD, default=None,
                   help=f"with --mode unlearn (default {DEFAULT_UNLEARNING_METHOD})")
    parser.add_argument("--confine", action="store_true", help="with --mode unlearn: only the selected neurons change")
    parser.add_argument("--lr", type=positive_float, help=f"with --mode unlearn (default {UNLEARN_LR})")
    parser.add_argument("--steps", type=int_at_least(1, MAX_STEPS),
                        help=f"with --mode unlearn (default {UNLEARN_STEPS})")
    parser.add_argument("--ppl-text", default="text:bundled",
                        help="real text for perplexity (default text:bundled, WikiText-2 validation, never used to "
                             "select)")
    parser.add_argument("--ppl-tokens", type=POSITIVE, default=20000, help="tokens of --ppl-text to score")
    parser.add_argument("--explain-tokens", type=int_at_least(0), default=20000,
                        help="corpus tokens for the cards of the removed neurons (0: no cards)")
    add_location_options(parser, max_items="cap each domain's dev and test half of --data (evenly spaced)")
    add_output(parser, "folder for results, figures and report.html")
    add_quiet(parser)
    add_placement(parser)
    parser.set_defaults(func=run, distributed=True)


def run(args: argparse.Namespace) -> int:
    """Transfer matrix, overlap, dose-response and report.html for one model."""
    import shlex
    import sys
    import time

    from attributions.distributed import is_distributed, is_main

    from ..analysis import transfer_matrix
    from ..data import parse_spec
    from ..model.cache import atomic_dir
    from ..report.transfer import write_report

    if args.dose == []:
        raise InputError("--dose needs at least one size (e.g. --dose 10 200); to skip the dose-response give "
                         "--no-dose instead")
    if args.no_dose and args.dose:
        raise InputError("--no-dose skips the dose-response that --dose sizes; give one of them")
    dose = [] if args.no_dose else args.dose or list(DOSE)
    unlearn_flags = {"--unlearn-method": args.unlearn_method, "--lr": args.lr, "--steps": args.steps,
                     "--confine": args.confine or None}
    given = [flag for flag, value in unlearn_flags.items() if value is not None]
    if given and args.mode != "unlearn":
        raise InputError(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for --mode unlearn; with --mode "
                         f"{args.mode} {'it' if len(given) == 1 else 'they'} would be ignored, so drop "
                         f"{'it' if len(given) == 1 else 'them'} or give --mode unlearn")
    mask = mask_options(args.mask, [args.method])  # --steps is unlearning's here
    from attributions.methods import trains

    selection = args.rule or ("top" if trains(args.method) else DEFAULT_RULE)
    if trains(args.method) and selection == "consistent":
        raise InputError(f"--rule consistent ranks by score / per-example spread, which --method {args.method} scores "
                         "do not have; drop --rule (it then selects with top) or give --rule exclude_control")
    out = check_output_dir(args.out, overwrite=args.overwrite)
    if args.data != "probes":
        parse_spec(args.data)  # a bad spec fails here, before the model loads
    if is_distributed() and args.mode == "unlearn":
        raise InputError("--mode unlearn runs in one process (every rank would train the same model); "
                         "launch it without torchrun")
    start = time.perf_counter()
    lm = load_placed(args)
    say(f"model: {lm.name} ({lm.architecture}, {lm.n_layers} layers x {lm.sites[0].n_neurons} neurons)")
    log = None if args.quiet else (lambda message: say(f"[{time.perf_counter() - start:6.0f} s] {message}"))
    edit: Any = args.mode
    if args.mode == "unlearn":
        from ..unlearn import unlearning_edit

        edit = unlearning_edit(args.unlearn_method or DEFAULT_UNLEARNING_METHOD, confine=args.confine,
                               lr=args.lr or UNLEARN_LR, steps=args.steps or UNLEARN_STEPS)
    result = transfer_matrix(lm, args.domains, data=args.data, objective=args.objective, method=args.method,
                             mask=mask, selection=selection, control=args.control, k=args.top_k, dose=dose, edit=edit,
                             ppl_text=args.ppl_text, ppl_tokens=args.ppl_tokens, max_items=args.max_items,
                             n_boot=args.n_boot, seed=args.seed, batch_size=args.batch_size, log=log)
    if not is_main():
        return 0
    explanations = None
    if args.explain_tokens and result.selected:
        from ..analysis.transfer import domains_from
        from ..explain import explain_domains
        from .explain import DOMAINS

        pairs = {d.name: d.attribution for d in domains_from(args.domains, args.data, max_items=args.max_items)}
        known = {d: s for d, s in result.selected.items() if d in DOMAINS}  # the tags' word lists
        try:
            explanations = explain_domains(lm, known, max_tokens=args.explain_tokens, pairs=pairs,
                                           scores=result.scores, n_boot=args.n_boot, progress=not args.quiet)
        except (ValueError, RuntimeError) as err:  # the matrix is done: write the report without cards
            print(f"warning: no neuron cards in the report: {err}", file=sys.stderr)
        for explanation in (explanations or {}).values():
            say(explanation.summary_line())
    command = "neuronedit " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else ""
    with atomic_dir(out, overwrite=args.overwrite) as tmp:
        write_report(result, tmp, command=command, explanations=explanations)
    print("\n".join(result.summary()))
    print(f"done in {time.perf_counter() - start:.0f} s; report: {(out / 'report.html').resolve()}")
    return 0
