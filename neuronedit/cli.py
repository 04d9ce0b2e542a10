"""The ``neuronedit`` command line. Each subcommand is one small function."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

__all__ = ["main"]

DEMO_PROMPTS = (
    "The nurse said that",
    "The secretary said that",
    "The receptionist said that",
    "The engineer said that",
    "The mechanic said that",
    "The carpenter said that",
)


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def cmd_models(args: argparse.Namespace) -> int:
    """List cached models and the architectures whose neuron sites are known."""
    from attributions import supported_architectures

    from .cache import cache_dir
    from .demo_model import demo_gguf_path

    if args.fetch_demo:
        print(f"demo GGUF: {demo_gguf_path()}")
        from .loading import load_model

        lm = load_model("demo")
        print(f"demo checkpoint: {lm.path}")
    root = cache_dir()
    print(f"cache: {root}  (set NEURONEDIT_CACHE to move it)")
    entries = sorted((root / "models").glob("*/config.json")) if (root / "models").is_dir() else []
    demo = root / "demo"
    if demo.is_dir():
        for gguf in sorted(demo.glob("*.gguf")):
            print(f"  {gguf.relative_to(root)}  {gguf.stat().st_size / 1e6:.0f} MB (demo GGUF)")
    for config in entries:
        print(f"  {config.parent.relative_to(root)}  {_dir_size(config.parent) / 1e6:.0f} MB")
    if not entries and not demo.is_dir():
        print("  (empty; `neuronedit models --fetch-demo` fetches the demo model)")
    print("\nsupported architectures (config.model_type -> down-projection, TransformerBridge hook):")
    for name, spec in sorted(supported_architectures().items()):
        print(f"  {name:9s} {', '.join(spec.model_types):45s} {spec.down:36s} {spec.tl_hook}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Load a model, describe its neurons and score a biased completion."""
    from .completion import next_token_logprob_gap
    from .loading import load_model

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


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="neuronedit",
        description="Locate the MLP neurons behind a language model's bias, edit them, and measure the edit.",
    )
    parser.add_argument("--version", action="version", version=f"neuronedit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    models = sub.add_parser("models", help="list cached models and supported architectures")
    models.add_argument("--fetch-demo", action="store_true", help="fetch and convert the demo model first")
    models.set_defaults(func=cmd_models)

    demo = sub.add_parser("demo", help="the main job on the demo model (or --model)")
    demo.add_argument("--model", default="demo", help="demo, a .gguf file, a checkpoint directory or a hub id")
    demo.add_argument("--prompt", action="append", help="prompt to score (repeatable)")
    demo.add_argument("--a", default=" he", help="first completion token (default ' he')")
    demo.add_argument("--b", default=" she", help="second completion token (default ' she')")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0
    from .demo_model import DemoModelUnavailable
    from .loading import ModelLoadError

    try:
        return func(args)
    except (ModelLoadError, DemoModelUnavailable, FileExistsError, ValueError) as err:
        print(f"neuronedit {args.command}: error: {err}", file=sys.stderr)
        return 2
