"""``neuronedit explain``: cards for located neurons (promoted tokens, top contexts, bias view, tag)."""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

from .args import DEFAULT_K, POSITIVE, RULES, add_model, add_output, add_quiet, check_output_dir, int_at_least

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
    parser.add_argument("--n-top", type=int_at_least(1), default=8, help="top contexts per neuron (default 8)")
    add_output(parser, "folder for explain.html and explain.json")
    add_quiet(parser, "no progress bars")
    parser.set_defaults(func=run)


def _pairs(spec: str | None, split: str | None, bias_type: str | None, limit: int | None) -> list[Any]:
    """Pair items of ``spec`` for the bias view (none for text data), the first ``limit`` as attribution took."""
    if not spec:
        return []
    from ..data import load

    items = load(spec, split=split, bias_type=bias_type)
    return [item for item in items if hasattr(item, "more")][:limit]


def _domain(args: argparse.Namespace, pairs: list[Any], meta: dict[str, Any]) -> str:
    if args.domain:
        return str(args.domain)
    kinds = Counter(str(getattr(p, "bias_type", "")) for p in pairs)
    kinds.update([str(meta.get("bias_type") or "")])
    for kind, _ in kinds.most_common():
        for domain in DOMAINS:
            if kind.startswith(domain):
                return domain
    data = str(meta.get("data") or args.data or "")
    return next((d for d in DOMAINS if d in data), "gender")


def run(args: argparse.Namespace) -> int:
    """Explain the selected neurons; write explain.html and explain.json into --out."""
    import json

    from ..cache import atomic_dir
    from ..data import TextCorpus, load
    from ..explain import explain
    from ..explain.html import cards_html
    from ..loading import load_model
    from .edit import selected_neurons

    if bool(args.scores) == bool(args.neurons):
        raise ValueError("give exactly one of --scores FILE (select neurons) or --neurons FILE (a saved NeuronSet)")
    out = check_output_dir(args.out, overwrite=args.overwrite)
    corpus = load(args.corpus)
    if not isinstance(corpus, TextCorpus):
        raise ValueError(f"--corpus takes text:PATH (or text, the bundled text), not {args.corpus}")
    meta: dict[str, Any] = {}
    scores = None
    if args.scores:
        from attributions import NeuronScores

        scores = NeuronScores.load(args.scores)
        meta = scores.meta
    neurons, _ = selected_neurons(args)
    if args.data:
        pairs = _pairs(args.data, args.split, None, None)
    else:
        pairs = _pairs(meta.get("data"), meta.get("split"), meta.get("bias_type"), meta.get("limit"))
    domain = _domain(args, pairs, meta)
    lm = load_model(args.model)
    explanation = explain(lm, neurons, domain=domain, text=corpus.chunks(), max_tokens=args.tokens, n_top=args.n_top,
                          pairs=pairs or None, scores=scores, progress=not args.quiet)
    explanation.meta.update(corpus=args.corpus, data=args.data or meta.get("data"), scores=args.scores,
                            neurons=args.neurons)
    with atomic_dir(out, overwrite=args.overwrite) as tmp:
        (tmp / "explain.json").write_text(json.dumps(explanation.to_dict(), indent=1))
        (tmp / "explain.html").write_text(cards_html(explanation, title=f"{len(neurons)} {domain} neurons of "
                                                                         f"{lm.name}"), encoding="utf-8")
    print(explanation.summary_line())
    print(f"-> {out / 'explain.html'}")
    return 0
