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


def _print_frame(frame: "object") -> None:
    import pandas as pd

    assert isinstance(frame, pd.DataFrame)
    shown = frame.assign(ci=[f"[{lo:.2f}, {hi:.2f}]" for lo, hi in zip(frame.ci_low, frame.ci_high)])
    print(shown[["suite", "bias_type", "metric", "value", "ci", "n"]].to_string(index=False, float_format="%.2f"))


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score benchmarks and probes; print a table and optionally write JSON/CSV."""
    import json

    from .cache import atomic_file
    from .data import load
    from .evaluation import evaluate
    from .loading import load_model

    suites = [load(spec, bias_type=args.bias_type, split=args.split) for spec in args.data]
    lm = load_model(args.model)
    result = evaluate(lm, suites, batch_size=args.batch_size, n_boot=args.n_boot, seed=args.seed,
                      progress=not args.quiet, text_max_tokens=args.max_tokens)
    _print_frame(result.frame())
    if args.json:
        with atomic_file(args.json) as tmp:
            tmp.write_text(json.dumps(result.to_dict(), indent=2))
        print(f"wrote {args.json}")
    if args.csv:
        with atomic_file(args.csv) as tmp:
            result.frame().to_csv(tmp, index=False)
        print(f"wrote {args.csv}")
    return 0


def _objective(args: argparse.Namespace) -> object:
    from attributions import ForgetLoss, LanguageModeling, PairPreference, TokenContrast

    from .data import TextCorpus, load
    from .data.spans import diff_char_spans

    if args.objective == "contrast":
        prompts = list(args.prompt or [])
        if args.data:
            loaded = load(args.data)
            if not isinstance(loaded, TextCorpus):
                raise ValueError("--objective contrast takes prompts from --prompt or from text:PATH (one per line)")
            prompts += [line.strip() for line in loaded.text.splitlines() if line.strip()]
        if not prompts:
            raise ValueError("--objective contrast needs --prompt TEXT (repeatable) or --data text:PATH")
        return TokenContrast(prompts[: args.limit], args.a, args.b)
    if not args.data:
        raise ValueError(f"--objective {args.objective} needs --data KIND:PATH")
    loaded = load(args.data, bias_type=args.bias_type, split=args.split)
    if isinstance(loaded, TextCorpus):
        texts = [line.strip() for line in loaded.text.splitlines() if line.strip()][: args.limit]
        if args.objective == "pair":
            raise ValueError("--objective pair needs pair data (crows, stereoset, winobias, probes), not text")
        return ForgetLoss(texts) if args.objective == "forget" else LanguageModeling(texts)
    items = list(loaded)[: args.limit]
    if not hasattr(items[0], "more"):
        raise ValueError(f"{args.data} holds {type(items[0]).__name__} items; use pair data for this objective")
    if args.objective == "pair":
        return PairPreference(items, span=args.span)
    if args.objective == "forget":
        return ForgetLoss([i.more for i in items], spans=[diff_char_spans(i.more, i.less) for i in items])
    return LanguageModeling([i.more for i in items])


def cmd_attribute(args: argparse.Namespace) -> int:
    """Score every MLP neuron for an objective; store scores (and control scores) in one file."""
    from attributions import LanguageModeling, attribute
    from attributions.selection import DEFAULT_RULE, select

    from .data.neutral import NEUTRAL_TEXTS
    from .loading import load_model

    objective = _objective(args)
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    lm = load_model(args.model)
    options = {"batch_size": args.batch_size, "steps": args.steps, "seed": args.seed, "progress": not args.quiet}
    scores = attribute(lm, objective, args.method, **options)  # type: ignore[arg-type]
    if scores.meta["skipped"]:
        print(f"skipped {len(scores.meta['skipped'])} input(s): " + "; ".join(
            f"#{i}: {r}" for i, r in scores.meta["skipped"][:5]))
    scores.meta["data"] = args.data
    if not args.no_control:
        scores.control = attribute(lm, LanguageModeling(list(NEUTRAL_TEXTS)), args.control_method, **options)
        scores.control.meta["data"] = "built-in neutral corpus"
    scores.save(out)
    print(f"{scores.meta['n_examples']} examples, method {args.method}, {scores.meta['seconds']} s -> {out}")
    rule = DEFAULT_RULE if scores.control is not None else "top"
    chosen = select(scores, 10, rule)
    print(f"top 10 by rule {rule!r}: " + ", ".join(f"L{l}.{n} ({float(scores.scores[l, n]):+.4f})" for l, n in chosen))
    return 0


def cmd_data_fetch(args: argparse.Namespace) -> int:
    """Download public benchmark files."""
    from .data.fetch import fetch

    for name in args.names:
        paths = fetch(name, args.dest, base_url=args.base_url)
        print(f"{name}: {len(paths)} file(s) in {Path(args.dest) / name}")
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

    ev = sub.add_parser("evaluate", help="bias and language-modelling metrics with 95%% intervals")
    ev.add_argument("--model", default="demo", help="demo, a .gguf file, a checkpoint directory or a hub id")
    ev.add_argument("--data", action="append", required=True,
                    help="KIND:PATH (crows, stereoset, winobias, bbq, text) or probes:gender|race|religion; repeatable")
    ev.add_argument("--bias-type", help="keep only this bias type (e.g. gender)")
    ev.add_argument("--split", choices=["dev", "test"], help="evaluate one deterministic half only")
    ev.add_argument("--batch-size", type=int, default=32)
    ev.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the intervals")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--max-tokens", type=int, help="truncate text: corpora to this many tokens")
    ev.add_argument("--json", help="write the results as JSON here")
    ev.add_argument("--csv", help="write the tidy table as CSV here")
    ev.add_argument("--quiet", action="store_true", help="no progress bars")
    ev.set_defaults(func=cmd_evaluate)

    at = sub.add_parser("attribute", help="score every MLP neuron for an objective")
    at.add_argument("--model", default="demo", help="demo, a .gguf file, a checkpoint directory or a hub id")
    at.add_argument("--data", help="KIND:PATH or probes:DOMAIN (text:PATH for lm/forget/contrast prompts)")
    at.add_argument("--bias-type", help="keep only this bias type")
    at.add_argument("--split", choices=["dev", "test"], default=None, help="use one deterministic half")
    at.add_argument("--objective", choices=["pair", "contrast", "forget", "lm"], default="pair")
    at.add_argument("--method", default="grad_x_act",
                    choices=["activation", "grad_x_act", "integrated_gradients", "ig2", "ablation"])
    at.add_argument("--span", choices=["all", "diff"], default="all", help="pair objective: tokens to score")
    at.add_argument("--prompt", action="append", help="contrast objective: a prompt (repeatable)")
    at.add_argument("--a", default=" he", help="contrast objective: first token")
    at.add_argument("--b", default=" she", help="contrast objective: second token")
    at.add_argument("--limit", type=int, help="use at most this many inputs")
    at.add_argument("--batch-size", type=int, default=16)
    at.add_argument("--steps", type=int, default=20, help="integration steps (integrated_gradients, ig2)")
    at.add_argument("--seed", type=int, default=0)
    at.add_argument("--no-control", action="store_true", help="skip the control scores (neutral-text language modelling)")
    at.add_argument("--control-method", default="grad_x_act", help="method for the control scores")
    at.add_argument("--out", required=True, help="scores file to write (.safetensors)")
    at.add_argument("--overwrite", action="store_true")
    at.add_argument("--quiet", action="store_true")
    at.set_defaults(func=cmd_attribute)

    data = sub.add_parser("data", help="benchmark data")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    fetch = data_sub.add_parser("fetch", help="download public benchmark files (needs network)")
    fetch.add_argument("names", nargs="+", choices=["crows-pairs", "stereoset", "winobias", "bbq"])
    fetch.add_argument("--dest", default="data", help="destination folder (default ./data)")
    fetch.add_argument("--base-url", help="download from this address instead (a mirror)")
    fetch.set_defaults(func=cmd_data_fetch)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0
    from .data.fetch import FetchError
    from .demo_model import DemoModelUnavailable
    from .loading import ModelLoadError

    try:
        return func(args)
    except (ModelLoadError, DemoModelUnavailable, FetchError, FileExistsError, FileNotFoundError, ValueError) as err:
        print(f"neuronedit {args.command}: error: {err}", file=sys.stderr)
        return 2
