"""``neuronedit explain``: cards for located neurons (promoted tokens, top contexts, bias view, tag)."""

from __future__ import annotations

import argparse
from typing import Any

from attributions.errors import InputError

from .args import DEFAULT_K, POSITIVE, RULES, add_model, add_output, add_quiet, int_at_least
from .outputs import check_output_dir

DOMAINS = ("gender", "race", "religion")


def add_parser(sub: Any) -> None:
    """Register ``explain``."""
    parser = sub.add_parser("explain", help="explain located neurons: what they write, where they fire, a tag")
    add_model(parser)
    parser.add_argument("--scores", help="scores file from `neuronedit attribute` to select neurons from")
    parser.add_argument("--top-k", type=POSITIVE, help=f"neurons to select from --scores (default {DEFAULT_K})")
    parser.add_argument("--rule", choices=RULES, help="selection rule (as for `neuronedit edit`)")
    parser.add_argument("--neurons", help="a saved NeuronSet (JSON) instead of --scores")
    parser.add_argument("--corpus", default="text",
                        help="text:PATH for top contexts (default: the bundled WikiText-2 validation text)")
    parser.add_argument("--tokens", type=int_at_least(1), default=20_000, help="corpus tokens to read (default 20000)")
    parser.add_argument("--data", help="pair data for the bias view (default: the data the scores were located on)")
    parser.add_argument("--split", choices=("dev", "test"), help="split of --data (default: the scores' split)")
    parser.add_argument("--domain", choices=DOMAINS,
                        help="word list for the tags (default: from the data, else gender)")
    parser.add_argument("--force", action="store_true", help="explain even when the scores were computed on other "
                        "weights")
    parser.add_argument("--n-top", type=int_at_least(1), default=8, help="top contexts per neuron (default 8)")
    add_output(parser, "folder for explain.html and explain.json")
    add_quiet(parser, "no progress bars")
    parser.set_defaults(func=run)


def _pairs(spec: str, split: str | None, bias_type: str | None, limit: int | None, flag: str) -> list[Any]:
    """Pair items of ``spec`` for the bias view, the first ``limit`` (as attribution took them)."""
    from ..data import TextCorpus, load

    items = load(spec, split=split, bias_type=bias_type)
    if isinstance(items, TextCorpus) or not all(hasattr(item, "more") for item in items):
        raise InputError(f"{flag} {spec} is not pair data; the bias view needs minimal pairs "
                         "(stereoset, crows, winobias, probes:DOMAIN)")
    return list(items)[:limit]


def _domain_of(text: str) -> str | None:
    return next((d for d in DOMAINS if text.startswith(d) or f":{d}" in text), None)


def _from_meta(meta: dict[str, Any], scores_file: str) -> dict[str, Any]:
    """The located data's spec, split, bias type and limit from a scores file's metadata, type-checked."""
    wanted = {"data": str, "split": str, "bias_type": str, "limit": int}
    found: dict[str, Any] = {}
    for key, kind in wanted.items():
        value = meta.get(key)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise InputError(f"{scores_file}: metadata '{key}' must be a {kind.__name__} or null, not {value!r}; "
                             "recompute the scores with neuronedit attribute")
        found[key] = value
    if found["limit"] is not None and found["limit"] < 1:
        raise InputError(f"{scores_file}: metadata 'limit' is {found['limit']}, but attribution takes at least one "
                         "pair; the file is damaged: recompute the scores with neuronedit attribute")
    return found


def _bias_pairs(args: argparse.Namespace, located: dict[str, Any], domain: str | None) -> list[Any]:
    """--data (filtered to the domain's bias type), else the data the scores were located on when it is
    built in (skipped, with a warning, when it is a file, not pair data or cannot be read any more: a path
    that came from the scores file is never opened unless the user names it)."""
    import sys

    from ..data import parse_spec

    if args.data:
        return _pairs(args.data, args.split, domain, None, "--data")
    if not located["data"]:
        return []
    try:
        kind, rest = parse_spec(located["data"])
    except ValueError:
        kind, rest = "", ""
    if kind != "probes" and rest != "bundled":
        print(f"warning: no bias view: the scores were located on {located['data']}, a path their file names; "
              f"give --data {located['data']} to read it", file=sys.stderr)
        return []
    try:
        return _pairs(located["data"], located["split"], located["bias_type"], located["limit"], "the scores' data")
    except (ValueError, OSError) as err:
        print(f"warning: no bias view: {err}", file=sys.stderr)
        return []


def run(args: argparse.Namespace) -> int:
    """Explain the selected neurons; write explain.html and explain.json into --out."""
    import json

    from attributions.timings import split_timings, write_timings

    from ..data import TextCorpus, load
    from ..explain import explain
    from ..explain.html import cards_html
    from ..model.cache import atomic_dir
    from ..model.loading import load_model
    from .edit import check_fingerprint, selected_neurons

    if bool(args.scores) == bool(args.neurons):
        raise InputError("give exactly one of --scores FILE (select neurons) or --neurons FILE (a saved NeuronSet)")
    if args.neurons and (args.top_k or args.rule):
        raise InputError("--top-k and --rule select from --scores; with --neurons every neuron in the file is "
                         "explained")
    if args.split and not args.data:
        raise InputError("--split chooses the half of --data; without --data the scores' own split is used")
    out = check_output_dir(args.out, overwrite=args.overwrite)
    corpus = load(args.corpus)
    if not isinstance(corpus, TextCorpus):
        raise InputError(f"--corpus takes text:PATH (or text, the bundled text), not {args.corpus}")
    located: dict[str, Any] = dict.fromkeys(("data", "split", "bias_type", "limit"))
    scores = None
    if args.scores:
        from attributions import NeuronScores

        scores = NeuronScores.load(args.scores)
        located = _from_meta(scores.meta, args.scores)
    neurons, _ = selected_neurons(args)
    domain = (args.domain or _domain_of(located["bias_type"] or "") or _domain_of(located["data"] or "")
              or _domain_of(args.data or ""))
    pairs = _bias_pairs(args, located, domain)
    domain = domain or "gender"
    lm = load_model(args.model)
    if scores is not None:
        check_fingerprint(args, lm, scores.meta.get("fingerprint"))
    explanation = explain(lm, neurons, domain=domain, text=corpus.chunks(), max_tokens=args.tokens, n_top=args.n_top,
                          pairs=pairs or None, scores=scores, progress=not args.quiet)
    explanation.meta.update(corpus=args.corpus, data=args.data or located["data"], scores=args.scores,
                            neurons=args.neurons)
    with atomic_dir(out, overwrite=args.overwrite) as tmp:
        body, timings = split_timings(explanation.to_dict())  # durations: timings.json (attributions.timings)
        (tmp / "explain.json").write_text(json.dumps(body, indent=1))
        write_timings(tmp, "explain.json", timings)
        (tmp / "explain.html").write_text(cards_html(explanation, title=f"{len(neurons)} {domain} neurons of "
                                                                         f"{lm.name}"), encoding="utf-8")
    print(explanation.summary_line())
    print(f"-> {out / 'explain.html'}")
    return 0
