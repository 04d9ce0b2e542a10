"""``neuronedit unlearn``: unlearn biased text; save the checkpoint plus manifest (with its weight delta)."""

from __future__ import annotations

import argparse
from typing import Any

from .args import (
    DEFAULT_UNLEARNING_METHOD,
    MAX_SEED,
    MAX_STEPS,
    POSITIVE,
    UNLEARNING_METHOD,
    add_model,
    add_output,
    add_quiet,
    add_registered,
    int_at_least,
    loss_weight,
    positive_float,
    text_lines,
)
from .outputs import check_output_dir


def add_parser(sub: Any) -> None:
    """Register ``unlearn``."""
    parser = sub.add_parser("unlearn",
                            help="unlearn biased text; save the checkpoint plus manifest (with weight delta)")
    add_model(parser)
    parser.add_argument("--forget", required=True,
                        help="KIND:PATH or probes:DOMAIN (pairs), or text:PATH (one per line)")
    parser.add_argument("--bias-type", help="keep only this bias type")
    parser.add_argument("--split", choices=["dev", "test"], default="dev",
                        help="half of the data to forget (default dev)")
    add_registered(parser, "--method", UNLEARNING_METHOD, default=DEFAULT_UNLEARNING_METHOD, help="unlearning method")
    parser.add_argument("--retain", help="text:PATH to keep modelling (default: the built-in neutral corpus)")
    parser.add_argument("--retain-weight", type=loss_weight, default=1.0, help="weight of the retain NLL")
    parser.add_argument("--kl-weight", type=loss_weight, default=0.0,
                        help="weight of KL to the original model on retain text")
    parser.add_argument("--neurons", help="a saved NeuronSet: confine the update to these neurons")
    parser.add_argument("--lr", type=positive_float, default=1e-5)
    parser.add_argument("--steps", type=int_at_least(1, MAX_STEPS), default=40)
    parser.add_argument("--batch-size", type=POSITIVE, default=8)
    parser.add_argument("--eval-every", type=POSITIVE, default=10)
    parser.add_argument("--max-retain-ppl-increase", type=positive_float, default=0.05,
                        help="stop and roll back when retain perplexity rises by more than this share")
    parser.add_argument("--seed", type=int_at_least(0, MAX_SEED), default=0)
    add_output(parser, "checkpoint directory to write")
    add_quiet(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Unlearn forget items (optionally confined to a neuron set); save a checkpoint plus manifest."""
    from attributions import NeuronSet

    from ..data import TextCorpus, load
    from ..data.provenance import data_hashes
    from ..edits import save_edited
    from ..edits.masks import check_neurons
    from ..locate.recipes import NEUTRAL_CORPUS
    from ..model.loading import load_model
    from ..unlearn import unlearn

    out = check_output_dir(args.out, overwrite=args.overwrite)
    loaded = load(args.forget, bias_type=args.bias_type, split=args.split)
    forget = loaded.lines() if isinstance(loaded, TextCorpus) else list(loaded)
    retain = text_lines(args.retain, "--retain") if args.retain else None
    neurons = NeuronSet.load(args.neurons) if args.neurons else None
    lm = load_model(args.model)
    if neurons is not None:
        check_neurons(lm.sites, neurons, f"--neurons {args.neurons}")
    edit = unlearn(lm, forget, args.method, retain=retain, retain_weight=args.retain_weight, kl_weight=args.kl_weight,
                   neurons=neurons, lr=args.lr, steps=args.steps, batch_size=args.batch_size,
                   eval_every=args.eval_every, max_retain_ppl_increase=args.max_retain_ppl_increase,
                   seed=args.seed, progress=not args.quiet,
                   provenance={"forget": args.forget, "retain": args.retain or NEUTRAL_CORPUS,
                               "data_sha256": data_hashes(args.forget, args.retain), "neurons_file": args.neurons})
    for entry in edit.provenance["history"]:
        print("  " + ", ".join(f"{k} {v}" for k, v in entry.items()))
    print(f"stopped: {edit.provenance['stopped']}; {edit.provenance['changed_entries']:,} weights changed")
    save_edited(lm, out, overwrite=args.overwrite)
    print(f"edit {edit.id} (unlearn, {args.method}) -> {out}")
    return 0
