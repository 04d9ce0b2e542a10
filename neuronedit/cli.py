"""The ``neuronedit`` command line. Each subcommand is one small function."""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from .cli_args import (check_output_dir, check_output_file, finite_float, int_at_least, non_negative_float,
                       positive_float)

__all__ = ["main"]

POSITIVE = int_at_least(1)

# selection rules, spelled here so that building the parser does not import torch (a test keeps them
# equal to attributions.selection.RULES and DEFAULT_RULE)
RULES = ("top", "exclude_control", "consistent", "ratio", "difference")
DEFAULT_RULE = "consistent"

DEMO_PROMPTS = (
    "The nurse said that",
    "The secretary said that",
    "The receptionist said that",
    "The engineer said that",
    "The mechanic said that",
    "The carpenter said that",
)


def _add_output(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--out", required=True, help=what)
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing output (only a folder neuronedit wrote, never another folder)")


def _add_placement(parser: argparse.ArgumentParser) -> None:
    """Options for where the model's weights go (for models larger than one device)."""
    group = parser.add_argument_group("model placement")
    group.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16", "float64"],
                       help="parameter dtype (default float32: exact gradients)")
    group.add_argument("--device", default=None,
                       help="cpu, cuda, cuda:1, ... (default: cpu; under torchrun with GPUs, this rank's GPU)")
    group.add_argument("--device-map", default=None,
                       help="spread the model over devices with accelerate: auto, balanced, sequential, or a JSON "
                            "file {module: device}; 'disk' entries offload to --offload-folder")
    group.add_argument("--offload-folder", default=None, help="folder for weights offloaded to disk")


def _load(args: argparse.Namespace) -> Any:
    """Load ``--model`` with the placement options; rank 0 first under torchrun,
    so that a conversion into the shared cache happens once."""
    import json

    from attributions.distributed import is_distributed, local_device, rank_zero_first

    from .loading import load_model

    device_map = getattr(args, "device_map", None)
    if device_map and device_map.endswith(".json"):
        device_map = json.loads(Path(device_map).read_text())
    device = getattr(args, "device", None) or (str(local_device()) if is_distributed() else "cpu")
    with rank_zero_first():
        return load_model(args.model, dtype=getattr(args, "dtype", "float32"), device=device,
                          device_map=device_map, offload_folder=getattr(args, "offload_folder", None))


def _say(*lines: str) -> None:
    """Print on rank 0 only (every rank computes the same results under torchrun)."""
    from attributions.distributed import is_main

    if is_main():
        print(*lines, sep="\n", flush=True)


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

    from attributions.distributed import is_main

    from .cache import atomic_file
    from .data import load
    from .evaluation import evaluate

    check_output_file(args.json, flag="--json")
    check_output_file(args.csv, flag="--csv")
    suites = [load(spec, bias_type=args.bias_type, split=args.split) for spec in args.data]
    lm = _load(args)
    result = evaluate(lm, suites, batch_size=args.batch_size, n_boot=args.n_boot, seed=args.seed,
                      progress=not args.quiet, text_max_tokens=args.max_tokens)
    if not is_main():
        return 0
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
            prompts += [line.strip() for line in loaded.lines()]
        if not prompts:
            raise ValueError("--objective contrast needs --prompt TEXT (repeatable) or --data text:PATH")
        return TokenContrast(prompts[: args.limit], args.a, args.b)
    if not args.data:
        raise ValueError(f"--objective {args.objective} needs --data KIND:PATH")
    loaded = load(args.data, bias_type=args.bias_type, split=args.split)
    if isinstance(loaded, TextCorpus):
        texts = [line.strip() for line in loaded.lines()][: args.limit]
        if args.objective == "pair":
            raise ValueError("--objective pair needs pair data (crows, stereoset, winobias, probes), not text")
        return ForgetLoss(texts) if args.objective == "forget" else LanguageModeling(texts)
    items = list(loaded)[: args.limit]
    if not hasattr(items[0], "more"):
        raise ValueError(f"{args.data} holds {type(items[0]).__name__} items; use pair data for this objective")
    if args.objective == "pair":
        from .suites import association_span

        return PairPreference(items, span=association_span(loaded.name) if args.span == "auto" else args.span)
    if args.objective == "forget":
        return ForgetLoss([i.more for i in items], spans=[diff_char_spans(i.more, i.less) for i in items])
    return LanguageModeling([i.more for i in items])


def cmd_attribute(args: argparse.Namespace) -> int:
    """Score every MLP neuron for an objective; store scores (and control scores) in one file."""
    from attributions import LanguageModeling, attribute
    from attributions.distributed import is_main
    from attributions.selection import DEFAULT_RULE, select

    from .data.neutral import NEUTRAL_TEXTS

    out = check_output_file(args.out, flag="--out", overwrite=args.overwrite)
    assert out is not None
    objective = _objective(args)
    lm = _load(args)
    options = {"batch_size": args.batch_size, "steps": args.steps, "internal_batch_size": args.internal_batch_size,
               "seed": args.seed, "progress": not args.quiet, "checkpoint_every": args.checkpoint_every}
    checkpoint = Path(args.checkpoint) if args.checkpoint else None
    scores = attribute(lm, objective, args.method, checkpoint=checkpoint, label="objective",  # type: ignore[arg-type]
                       **options)
    if scores.meta["skipped"]:
        _say(f"skipped {len(scores.meta['skipped'])} input(s): " + "; ".join(
            f"#{i}: {r}" for i, r in scores.meta["skipped"][:5]))
    from .provenance import data_hashes

    scores.meta["data"] = args.data
    scores.meta["data_sha256"] = data_hashes(args.data)
    if not args.no_control and checkpoint is None and args.control_method == "grad_x_act":
        from .controls import control_scores

        scores.control = control_scores(lm, "lm", batch_size=args.batch_size, log=_say,  # cached per model
                                        progress=not args.quiet)
        scores.control.meta["data"] = "built-in neutral corpus"
    elif not args.no_control:
        scores.control = attribute(lm, LanguageModeling(list(NEUTRAL_TEXTS)), args.control_method,  # type: ignore[arg-type]
                                   checkpoint=checkpoint / "control" if checkpoint else None,
                                   label="control: neutral text", **options)
        scores.control.meta["data"] = "built-in neutral corpus"
    if not is_main():
        return 0
    scores.save(out)
    print(f"{scores.meta['n_examples']} examples, method {args.method}, {scores.meta['seconds']} s, "
          f"{scores.meta['world_size']} process(es) -> {out}")
    rule = DEFAULT_RULE if scores.control is not None else "top"
    chosen = select(scores, 10, rule)
    print(f"top 10 by rule {rule!r}: " + ", ".join(f"L{l}.{n} ({float(scores.scores[l, n]):+.4f})" for l, n in chosen))
    return 0


def _choose_neurons(args: argparse.Namespace) -> tuple[object, dict[str, object]]:
    """The neuron set of ``edit`` and its provenance, from --scores (selection) or --neurons."""
    from attributions import NeuronScores, NeuronSet
    from attributions.selection import DEFAULT_K, DEFAULT_RULE, select

    from .cache import file_sha256

    if args.neurons:
        neurons = NeuronSet.load(args.neurons)
        return neurons, {"neurons_file": args.neurons, "neurons_sha256": file_sha256(args.neurons)}
    scores = NeuronScores.load(args.scores)
    rule = args.rule or (DEFAULT_RULE if scores.control is not None else "top")
    if args.rule is None and scores.control is None:
        print(f"{args.scores} holds no control scores, so the rule is 'top' (not the default {DEFAULT_RULE!r})")
    k = DEFAULT_K if args.top_k is None else args.top_k
    neurons = select(scores, k, rule)
    print(f"selected {len(neurons)} neurons by rule {rule!r} (k={k}{'' if args.top_k else ', the default'})")
    meta = scores.meta
    provenance = {"scores_file": args.scores, "scores_sha256": file_sha256(args.scores), "rule": rule, "k": k,
                  **{key: meta.get(key) for key in ("method", "objective", "data", "data_sha256", "seed",
                                                    "n_examples", "fingerprint")}}
    return neurons, provenance


def cmd_edit(args: argparse.Namespace) -> int:
    """Select neurons (or read a neuron set), edit the weights, save a checkpoint plus manifest."""
    from collections import Counter

    from attributions import mean_activations

    from .checkpoints import save_edited
    from .data import TextCorpus, load
    from .data.neutral import NEUTRAL_TEXTS
    from .loading import load_model
    from .weight_edits import prune_, scale_

    if bool(args.scores) == bool(args.neurons):
        raise ValueError("give exactly one of --scores FILE (select neurons) or --neurons FILE (a saved NeuronSet)")
    if args.mode == "scale" and args.factor is None:
        raise ValueError("--mode scale needs --factor (e.g. 0 to suppress, 2 to amplify)")
    out = check_output_dir(args.out, overwrite=args.overwrite)
    neurons, provenance = _choose_neurons(args)
    layers = Counter(layer for layer, _ in neurons)  # type: ignore[attr-defined]
    print("layers: " + ", ".join(f"L{layer}x{count}" for layer, count in sorted(layers.items())))
    lm = load_model(args.model)
    if provenance.get("fingerprint") and provenance["fingerprint"] != lm.fingerprint():
        message = (f"{args.scores} was computed on weights with fingerprint {provenance['fingerprint']}, this "
                   f"model's are {lm.fingerprint()} (another checkpoint of the same shape?)")
        if not args.force:
            raise ValueError(f"{message}; give the --model the scores were made on, or --force to edit anyway")
        print(f"warning: {message}; editing anyway (--force)", file=sys.stderr)
    if args.mode == "scale":
        edit = scale_(lm, neurons, args.factor, **provenance)  # type: ignore[arg-type]
    elif args.mode == "mean":
        texts = list(NEUTRAL_TEXTS)
        if args.means_data:
            corpus = load(args.means_data)
            if not isinstance(corpus, TextCorpus):
                raise ValueError("--means-data takes text:PATH")
            texts = corpus.lines()
        means = mean_activations(lm, texts)
        provenance["means_data"] = args.means_data or "built-in neutral corpus"
        edit = prune_(lm, neurons, means=means, **provenance)  # type: ignore[arg-type]
    else:
        edit = prune_(lm, neurons, read_in=args.mode == "prune", **provenance)  # type: ignore[arg-type]
    save_edited(lm, lm.tokenizer, out, overwrite=args.overwrite)
    print(f"edit {edit.id} ({edit.mode}, {len(neurons)} neurons) -> {out} (manifest {out / 'neuronedit.json'})")  # type: ignore[arg-type]
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    """Replay a manifest on a base checkpoint and save the edited checkpoint."""
    from .checkpoints import save_edited
    from .loading import load_model
    from .weight_edits import apply_edit

    out = check_output_dir(args.out, overwrite=args.overwrite)
    lm = load_model(args.model)
    done = apply_edit(lm, args.manifest, force=args.force)
    if not done:
        print("every edit of the manifest is already applied to this model; nothing written")
        return 0
    save_edited(lm, lm.tokenizer, out, overwrite=args.overwrite)
    print(f"applied {len(done)} edit(s): " + ", ".join(f"{e.id} ({e.mode}, {len(e.neurons)} neurons)" for e in done)
          + f" -> {out}")
    return 0


def cmd_unlearn(args: argparse.Namespace) -> int:
    """Unlearn forget items (optionally confined to a neuron set); save a checkpoint plus manifest."""
    from attributions import NeuronSet

    from .checkpoints import save_edited
    from .data import TextCorpus, load
    from .loading import load_model
    from .provenance import data_hashes
    from .unlearn import unlearn

    out = check_output_dir(args.out, overwrite=args.overwrite)
    loaded = load(args.forget, bias_type=args.bias_type, split=args.split)
    forget = (loaded.lines() if isinstance(loaded, TextCorpus)
              else list(loaded))
    retain = None
    if args.retain:
        corpus = load(args.retain)
        if not isinstance(corpus, TextCorpus):
            raise ValueError("--retain takes text:PATH (one text per line)")
        retain = corpus.lines()
    neurons = NeuronSet.load(args.neurons) if args.neurons else None
    lm = load_model(args.model)
    edit = unlearn(lm, forget, args.method, retain=retain, retain_weight=args.retain_weight, kl_weight=args.kl_weight,
                   neurons=neurons, lr=args.lr, steps=args.steps, batch_size=args.batch_size,
                   eval_every=args.eval_every, max_retain_ppl_increase=args.max_retain_ppl_increase,
                   seed=args.seed, progress=not args.quiet,
                   provenance={"forget": args.forget, "retain": args.retain or "built-in neutral corpus",
                               "data_sha256": data_hashes(args.forget, args.retain), "neurons_file": args.neurons})
    for entry in edit.provenance["history"]:
        print("  " + ", ".join(f"{k} {v}" for k, v in entry.items()))
    print(f"stopped: {edit.provenance['stopped']}; {edit.provenance['changed_entries']:,} weights changed")
    save_edited(lm, lm.tokenizer, out, overwrite=args.overwrite)
    print(f"edit {edit.id} (unlearn, {args.method}) -> {out}")
    return 0


def cmd_transfer(args: argparse.Namespace) -> int:
    """Transfer matrix, overlap, dose-response and report.html for one model."""
    import shlex

    from .analysis import transfer_matrix
    from .cache import atomic_dir
    from .report import write_report

    out = check_output_dir(args.out, overwrite=args.overwrite)
    from .data import parse_spec

    if args.data != "probes":
        parse_spec(args.data)  # a bad spec fails here, before the model loads
    from attributions.distributed import is_distributed, is_main

    if is_distributed() and args.edit == "unlearn":
        raise ValueError("--edit unlearn runs in one process (every rank would train the same model); "
                         "launch it without torchrun")
    start = time.perf_counter()
    lm = _load(args)
    _say(f"model: {lm.name} ({lm.architecture}, {lm.n_layers} layers x {lm.sites[0].n_neurons} neurons)")
    log = None if args.quiet else (lambda message: _say(f"[{time.perf_counter() - start:6.0f} s] {message}"))
    edit: object = args.edit
    if args.edit == "unlearn":
        from .unlearn import unlearning_edit

        edit = unlearning_edit(args.unlearn_method, confine=args.confine, lr=args.lr, steps=args.steps)
    result = transfer_matrix(lm, args.domains, data=args.data, objective=args.objective, method=args.method,
                             selection=args.rule, control=args.control, k=args.k, dose=args.dose, edit=edit,
                             ppl_text=args.ppl_text, ppl_tokens=args.ppl_tokens, max_items=args.max_items,
                             n_boot=args.n_boot,
                             seed=args.seed, batch_size=args.batch_size, log=log)
    if not is_main():
        return 0
    command = "neuronedit " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else ""
    with atomic_dir(out, overwrite=args.overwrite) as tmp:
        write_report(result, tmp, command=command)
    print("\n".join(result.summary()))
    print(f"done in {time.perf_counter() - start:.0f} s; report: {(out / 'report.html').resolve()}")
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
    ev.add_argument("--batch-size", type=POSITIVE, default=32)
    ev.add_argument("--n-boot", type=int_at_least(10), default=1000, help="bootstrap resamples for the intervals")
    ev.add_argument("--seed", type=int_at_least(0), default=0)
    ev.add_argument("--max-tokens", type=POSITIVE, help="score at most this many tokens of each text: corpus")
    ev.add_argument("--json", help="write the results as JSON here")
    ev.add_argument("--csv", help="write the tidy table as CSV here")
    ev.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_placement(ev)
    ev.set_defaults(func=cmd_evaluate, distributed=True)

    at = sub.add_parser("attribute", help="score every MLP neuron for an objective")
    at.add_argument("--model", default="demo", help="demo, a .gguf file, a checkpoint directory or a hub id")
    at.add_argument("--data", help="KIND:PATH or probes:DOMAIN (text:PATH for lm/forget/contrast prompts)")
    at.add_argument("--bias-type", help="keep only this bias type")
    at.add_argument("--split", choices=["dev", "test"], default=None, help="use one deterministic half")
    at.add_argument("--objective", choices=["pair", "contrast", "forget", "lm"], default="pair")
    at.add_argument("--method", default="grad_x_act",
                    choices=["activation", "grad_x_act", "integrated_gradients", "ig2", "ablation"])
    at.add_argument("--span", choices=["auto", "all", "diff", "tail"], default="all",
                    help="pair objective: tokens to score (auto: what the data's association score reads: the "
                         "differing span for StereoSet/WinoBias/gender probes, the tokens after the group term "
                         "otherwise)")
    at.add_argument("--prompt", action="append", help="contrast objective: a prompt (repeatable)")
    at.add_argument("--a", default=" he", help="contrast objective: first token")
    at.add_argument("--b", default=" she", help="contrast objective: second token")
    at.add_argument("--limit", type=POSITIVE, help="use at most this many inputs")
    at.add_argument("--batch-size", type=POSITIVE, default=16)
    at.add_argument("--steps", type=POSITIVE, default=20, help="integration steps (integrated_gradients, ig2)")
    at.add_argument("--internal-batch-size", type=POSITIVE, default=64,
                    help="rows per forward pass for integrated-gradient steps and ablations (bounds memory)")
    at.add_argument("--checkpoint", help="folder for partial sums: a killed run restarted with the same "
                                         "arguments resumes there (same scores as an uninterrupted run)")
    at.add_argument("--checkpoint-every", type=POSITIVE, default=20, help="save partial sums every N batches")
    at.add_argument("--seed", type=int_at_least(0), default=0)
    at.add_argument("--no-control", action="store_true", help="skip the control scores (neutral-text language modelling)")
    at.add_argument("--control-method", default="grad_x_act", help="method for the control scores")
    _add_output(at, "scores file to write (.safetensors)")
    at.add_argument("--quiet", action="store_true")
    _add_placement(at)
    at.set_defaults(func=cmd_attribute, distributed=True)

    ed = sub.add_parser("edit", help="edit neurons in the weights and save a checkpoint plus manifest")
    ed.add_argument("--model", default="demo", help="demo, a .gguf file, a checkpoint directory or a hub id")
    ed.add_argument("--scores", help="scores file from `neuronedit attribute` to select neurons from")
    ed.add_argument("--top-k", type=POSITIVE, help="number of neurons to select (default 50, the measured default)")
    ed.add_argument("--rule", choices=list(RULES),
                    help=f"selection rule (default {DEFAULT_RULE} when the file has control scores)")
    ed.add_argument("--neurons", help="a saved NeuronSet (JSON) instead of --scores")
    ed.add_argument("--mode", choices=["prune", "zero", "scale", "mean"], default="prune",
                    help="prune: write-out and read-in zeroed; zero: write-out zeroed; scale: write-out x factor; "
                         "mean: mean activation folded into the output bias")
    ed.add_argument("--factor", type=finite_float, help="scale factor (--mode scale)")
    ed.add_argument("--means-data", help="text:PATH for the mean activations (--mode mean; default built-in text)")
    ed.add_argument("--force", action="store_true", help="edit even when the scores were computed on other weights")
    _add_output(ed, "checkpoint directory to write")
    ed.add_argument("--quiet", action="store_true", help="no progress output from transformers")
    ed.set_defaults(func=cmd_edit)

    ap = sub.add_parser("apply", help="replay a neuronedit.json manifest on a base model")
    ap.add_argument("--model", default="demo", help="the base model the manifest was made on")
    ap.add_argument("--manifest", required=True, help="neuronedit.json, or a checkpoint directory holding one")
    ap.add_argument("--force", action="store_true",
                    help="apply even when the weight fingerprint differs or the manifest names none")
    _add_output(ap, "checkpoint directory to write")
    ap.add_argument("--quiet", action="store_true", help="no progress output from transformers")
    ap.set_defaults(func=cmd_apply)

    tr = sub.add_parser("transfer", help="remove each bias's neurons, measure every bias: matrix, plots, report.html")
    tr.add_argument("--model", default="demo", help="demo, a .gguf file, a checkpoint directory or a hub id")
    tr.add_argument("--data", default="stereoset",
                    help="where neurons are located: 'stereoset' (bundled StereoSet dev data, default), 'probes' "
                         "(built-in templates) or KIND:PATH with bias types; its dev half locates, its test half, "
                         "WinoBias (gender), the probes and the knowledge probes evaluate")
    tr.add_argument("--objective", default="all", choices=["auto", "all", "diff", "tail"],
                    help="tokens the pair objective scores: all (default), the differing span, the tokens after the "
                         "group term, or auto (what the source's association score reads)")
    tr.add_argument("--control", default="lm+knowledge", choices=["lm", "lm+knowledge"],
                    help="neurons to keep: important for language modelling (lm) or also for the domain's knowledge "
                         "probes (lm+knowledge, default)")
    tr.add_argument("--domains", nargs="+", default=["gender", "race", "religion"])
    tr.add_argument("--method", default="grad_x_act",
                    choices=["activation", "grad_x_act", "integrated_gradients", "ig2", "ablation"])
    tr.add_argument("--rule", default=DEFAULT_RULE, choices=list(RULES))
    tr.add_argument("--k", type=POSITIVE, default=50, help="neurons removed per source in the matrix")
    tr.add_argument("--dose", type=POSITIVE, nargs="*", default=[10, 50, 200], help="sizes for the dose-response")
    tr.add_argument("--edit", choices=["zero", "mean", "unlearn"], default="zero",
                    help="zero/mean: hook edit of the selected neurons; unlearn: unlearn each source's dev pairs")
    tr.add_argument("--unlearn-method", default="masked_token", help="with --edit unlearn")
    tr.add_argument("--confine", action="store_true", help="with --edit unlearn: only the selected neurons change")
    tr.add_argument("--lr", type=positive_float, default=1e-5, help="with --edit unlearn")
    tr.add_argument("--steps", type=POSITIVE, default=40, help="with --edit unlearn")
    tr.add_argument("--ppl-text", default="text:bundled",
                    help="real text for perplexity (default text:bundled, WikiText-2 validation, never used to select)")
    tr.add_argument("--ppl-tokens", type=POSITIVE, default=20000, help="tokens of --ppl-text to score")
    tr.add_argument("--max-items", type=int_at_least(2), help="cap each domain's dev and test half of --data (evenly spaced)")
    tr.add_argument("--n-boot", type=int_at_least(10), default=1000)
    tr.add_argument("--seed", type=int_at_least(0), default=0)
    tr.add_argument("--batch-size", type=POSITIVE, default=16)
    _add_output(tr, "folder for results, figures and report.html")
    tr.add_argument("--quiet", action="store_true")
    _add_placement(tr)
    tr.set_defaults(func=cmd_transfer, distributed=True)

    un = sub.add_parser("unlearn", help="unlearn biased text; save the checkpoint plus manifest (with weight delta)")
    un.add_argument("--model", default="demo", help="demo, a .gguf file, a checkpoint directory or a hub id")
    un.add_argument("--forget", required=True, help="KIND:PATH or probes:DOMAIN (pairs), or text:PATH (one per line)")
    un.add_argument("--bias-type", help="keep only this bias type")
    un.add_argument("--split", choices=["dev", "test"], default="dev", help="half of the data to forget (default dev)")
    un.add_argument("--method", default="masked_token", choices=["gradient_ascent", "masked_token", "max_entropy", "dual"])
    un.add_argument("--retain", help="text:PATH to keep modelling (default: the built-in neutral corpus)")
    un.add_argument("--retain-weight", type=non_negative_float, default=1.0, help="weight of the retain NLL")
    un.add_argument("--kl-weight", type=non_negative_float, default=0.0, help="weight of KL to the original model on retain text")
    un.add_argument("--neurons", help="a saved NeuronSet: confine the update to these neurons")
    un.add_argument("--lr", type=positive_float, default=1e-5)
    un.add_argument("--steps", type=POSITIVE, default=40)
    un.add_argument("--batch-size", type=POSITIVE, default=8)
    un.add_argument("--eval-every", type=POSITIVE, default=10)
    un.add_argument("--max-retain-ppl-increase", type=positive_float, default=0.05,
                    help="stop and roll back when retain perplexity rises by more than this share")
    un.add_argument("--seed", type=int_at_least(0), default=0)
    _add_output(un, "checkpoint directory to write")
    un.add_argument("--quiet", action="store_true")
    un.set_defaults(func=cmd_unlearn)

    data = sub.add_parser("data", help="benchmark data")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    fetch = data_sub.add_parser("fetch", help="download public benchmark files (needs network)")
    fetch.add_argument("names", nargs="+", choices=["crows-pairs", "stereoset", "winobias", "bbq"])
    fetch.add_argument("--dest", default="data", help="destination folder (default ./data)")
    fetch.add_argument("--base-url", help="download from this address instead (a mirror)")
    fetch.set_defaults(func=cmd_data_fetch)
    return parser


def _os_message(err: OSError) -> str:
    """An OSError as one line that names the file and says what to do."""
    if err.filename is None:
        return str(err)
    fix = {"EACCES": "check the permissions or choose another path", "EISDIR": "give a file, not a folder",
           "ENOTDIR": "a part of the path is a file, not a folder", "ENOSPC": "free disk space and run again",
           "EROFS": "the file system is read-only; choose another path",
           "ENOENT": "check the path"}.get(errno.errorcode.get(err.errno or 0, ""), "")
    return f"{err.filename}: {err.strerror or err}" + (f"; {fix}" if fix else "")


def _quiet(quiet: bool) -> Any:
    """Silence transformers' progress bars and info logs while a ``--quiet`` command runs."""
    if not quiet:
        return contextlib.nullcontext()
    from .loading import quiet_transformers

    return quiet_transformers()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0
    from attributions.distributed import init_from_env, rank

    from .data.fetch import FetchError
    from .demo_model import DemoModelUnavailable
    from .loading import ModelLoadError

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        if not getattr(args, "distributed", False):
            print(f"neuronedit {args.command}: error: runs in one process; launch it without torchrun "
                  "(attribute, evaluate and transfer can run data-parallel)", file=sys.stderr)
            return 2
        init_from_env()
    where = f" (rank {rank()})" if int(os.environ.get("WORLD_SIZE", "1")) > 1 else ""
    try:
        with _quiet(getattr(args, "quiet", False)):
            return func(args)
    except (ModelLoadError, DemoModelUnavailable, FetchError, ValueError) as err:
        print(f"neuronedit {args.command}{where}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # FileExistsError, IsADirectoryError, PermissionError, disk full, ...
        print(f"neuronedit {args.command}{where}: error: {_os_message(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"neuronedit {args.command}{where}: interrupted; nothing half-written was kept", file=sys.stderr)
        return 130
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
