"""``neuronedit edit``: select neurons (or read a neuron set), edit the weights, save a checkpoint plus manifest."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from attributions.errors import InputError

from .args import (
    DEFAULT_K,
    DEFAULT_RULE,
    POSITIVE,
    RULES,
    add_model,
    add_output,
    add_quiet,
    finite_float,
    text_lines,
)
from .outputs import check_output_dir

MODES = ("prune", "zero", "scale", "mean")


def add_parser(sub: Any) -> None:
    """Register ``edit``."""
    parser = sub.add_parser("edit", help="edit neurons in the weights and save a checkpoint plus manifest")
    add_model(parser)
    parser.add_argument("--scores", help="scores file from `neuronedit attribute` to select neurons from")
    parser.add_argument("--top-k", type=POSITIVE,
                        help=f"number of neurons to select (default {DEFAULT_K}, the measured default)")
    parser.add_argument("--rule", choices=RULES,
                        help=f"selection rule (default {DEFAULT_RULE} when the file has control scores, else top)")
    parser.add_argument("--neurons", help="a saved NeuronSet (JSON) instead of --scores")
    parser.add_argument("--mode", choices=MODES, default="prune",
                        help="prune: write-out and read-in zeroed; zero: write-out zeroed; scale: write-out x factor; "
                             "mean: mean activation folded into the output bias")
    parser.add_argument("--factor", type=finite_float, help="scale factor (--mode scale)")
    parser.add_argument("--means-data", help="text:PATH for the mean activations (--mode mean; default built-in text)")
    parser.add_argument("--force", action="store_true", help="edit even when the scores were computed on other weights")
    add_output(parser, "checkpoint directory to write")
    add_quiet(parser, "no progress output from transformers")
    parser.set_defaults(func=run)


def selected_neurons(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """The neuron set and its provenance, from --scores (selection) or --neurons."""
    from attributions import NeuronScores, NeuronSet

    from ..locate.recipes import choose_neurons
    from ..model.cache import file_sha256

    if args.neurons:
        neurons = NeuronSet.load(args.neurons)
        return neurons, {"neurons_file": args.neurons, "neurons_sha256": file_sha256(args.neurons)}
    scores = NeuronScores.load(args.scores)
    if args.rule is None and (scores.control is None or scores.std is None):
        missing = "control scores" if scores.control is None else "per-example spreads (learned_mask scores)"
        print(f"{args.scores} holds no {missing}, so the rule is 'top' (not the default {DEFAULT_RULE!r})")
    try:
        neurons, rule, k = choose_neurons(scores, args.top_k, args.rule)
    except InputError as err:  # the scores cannot be selected from: name the file they came from
        raise InputError(f"{args.scores}: {err}") from None
    print(f"selected {len(neurons)} neurons by rule {rule!r} (k={k}{'' if args.top_k else ', the default'})")
    provenance = {"scores_file": args.scores, "scores_sha256": file_sha256(args.scores), "rule": rule, "k": k,
                  **{key: scores.meta.get(key) for key in ("method", "objective", "data", "data_sha256", "seed",
                                                           "n_examples", "fingerprint")}}
    return neurons, provenance


def check_fingerprint(args: argparse.Namespace, lm: Any, fingerprint: str | None) -> None:
    """Scores computed on other weights, or naming none, are refused unless --force (the rule of manifests)."""
    current = lm.fingerprint()
    if fingerprint == current:
        return
    if not fingerprint:
        message = f"{args.scores} names no weight fingerprint, so nothing shows it was computed on this model"
        fix = "recompute it with neuronedit attribute, or --force to use it anyway"
    else:
        message = (f"{args.scores} was computed on weights with fingerprint {fingerprint}, this "
                   f"model's are {current} (another checkpoint of the same shape?)")
        fix = "give the --model the scores were made on, or --force to use them anyway"
    if not args.force:
        raise InputError(f"{message}; {fix}")
    print(f"warning: {message}; using them anyway (--force)", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Select or read neurons, edit them in the weights, save the checkpoint and its manifest."""
    from collections import Counter

    from attributions import mean_activations

    from ..data.neutral import NEUTRAL_TEXTS
    from ..edits import prune_, save_edited, scale_
    from ..locate.recipes import NEUTRAL_CORPUS
    from ..model.loading import load_model

    if bool(args.scores) == bool(args.neurons):
        raise InputError("give exactly one of --scores FILE (select neurons) or --neurons FILE (a saved NeuronSet)")
    if args.mode == "scale" and args.factor is None:
        raise InputError("--mode scale needs --factor (e.g. 0 to suppress, 2 to amplify)")
    if args.neurons and (args.top_k or args.rule):
        raise InputError("--top-k and --rule select from --scores; with --neurons every neuron in the file is "
                         "edited, so drop them")
    for flag, value, mode in (("--factor", args.factor, "scale"), ("--means-data", args.means_data, "mean")):
        if value is not None and args.mode != mode:
            raise InputError(f"{flag} is for --mode {mode}; with --mode {args.mode} it would be ignored, so drop it "
                             f"or give --mode {mode}")
    out = check_output_dir(args.out, overwrite=args.overwrite)
    neurons, provenance = selected_neurons(args)
    layers = Counter(layer for layer, _ in neurons)
    print("layers: " + ", ".join(f"L{layer}x{count}" for layer, count in sorted(layers.items())))
    lm = load_model(args.model)
    if args.scores:
        check_fingerprint(args, lm, provenance.get("fingerprint"))
    neurons.check_fits([site.n_neurons for site in lm.sites], f"{args.scores or args.neurons}")
    if args.mode == "scale":
        edit = scale_(lm, neurons, args.factor, provenance=provenance)
    elif args.mode == "mean":
        texts = text_lines(args.means_data, "--means-data") if args.means_data else list(NEUTRAL_TEXTS)
        provenance["means_data"] = args.means_data or NEUTRAL_CORPUS
        edit = prune_(lm, neurons, means=mean_activations(lm, texts), provenance=provenance)
    else:
        edit = prune_(lm, neurons, read_in=args.mode == "prune", provenance=provenance)
    save_edited(lm, out, overwrite=args.overwrite)
    print(f"edit {edit.id} ({edit.mode}, {len(neurons)} neurons) -> {out} (manifest {out / 'neuronedit.json'})")
    return 0
