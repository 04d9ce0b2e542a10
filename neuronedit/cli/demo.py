"""``neuronedit demo``: load a model, describe its neurons and score a biased completion."""

from __future__ import annotations

import argparse
import time
from typing import Any

from .args import add_model

DEMO_PROMPTS = (
    "The nurse said that",
    "The secretary said that",
    "The receptionist said that",
    "The engineer said that",
    "The mechanic said that",
    "The carpenter said that",
)


def add_parser(sub: Any) -> None:
    """Register ``demo``."""
    parser = sub.add_parser("demo", help="the main job on the demo model (or --model)")
    add_model(parser)
    parser.add_argument("--prompt", action="append", help="prompt to score (repeatable)")
    parser.add_argument("--a", default=" he", help="first completion token (default ' he')")
    parser.add_argument("--b", default=" she", help="second completion token (default ' she')")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load a model, describe its neurons and score a biased completion."""
    from ..measure.completion import next_token_logprob_gap
    from ..model.loading import load_model

    start = time.perf_counter()
    lm = load_model(args.model)
    print(f"model: {lm.name} ({lm.architecture}, loaded from {lm.source} in {time.perf_counter() - start:.1f} s)")
    widths = sorted({site.n_neurons for site in lm.sites})
    print(f"MLP neurons: {lm.n_layers} layers x {'/'.join(map(str, widths))} = {lm.n_neurons:,}")
    print(f"neuron site: {lm.sites[0].name} (input), TransformerBridge hook {lm.sites[0].tl_hook}")
    prompts = args.prompt or list(DEMO_PROMPTS)
    gaps = next_token_logprob_gap(lm, prompts, args.a, args.b)
    print(f"\nlog p({args.a!r}) - log p({args.b!r}) at the next token (> 0: prefers {args.a!r}):")
    for prompt, gap in zip(prompts, gaps.tolist()):
        print(f"  {gap:+7.3f}  {prompt}")
    return 0
