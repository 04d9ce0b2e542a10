"""``neuronedit models``: cached models and the architectures whose neuron sites are known."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    """Register ``models``."""
    parser = sub.add_parser("models", help="list cached models and supported architectures")
    parser.add_argument("--fetch-demo", action="store_true", help="fetch and convert the demo model first")
    parser.set_defaults(func=run)


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run(args: argparse.Namespace) -> int:
    """List cached models and the architectures whose neuron sites are known."""
    from attributions import supported_architectures

    from ..model.cache import cache_dir
    from ..model.demo import demo_gguf_path

    if args.fetch_demo:
        print(f"demo GGUF: {demo_gguf_path()}")
        from ..model.loading import load_model

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
