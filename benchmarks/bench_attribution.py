"""Benchmark: attribution speed against captum, peak memory, and faithfulness to exact ablation. Prints JSON.

On the demo model, the StereoSet gender intrasentence pairs of ../shared/data (the built-in gender
probes when it is absent):
- grad_x_act vs captum LayerGradientXActivation looped over the layers (same objective, same scores);
- integrated_gradients vs captum LayerIntegratedGradients looped over the layers (same steps and rule);
- faithfulness: Spearman correlation of each method's scores with exact zero-ablation effects on
  300 neurons (the top 100 by |grad_x_act| and 200 random), on a subset of pairs.

    .venv/bin/python benchmarks/bench_attribution.py [--pairs 255] [--ig-pairs 16] [--faith-pairs 24]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch

from attributions import NeuronSet, PairPreference, attribute
from attributions.forward import collate, row_values
from neuronedit import load_model
from neuronedit.data import load

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # after the packages: tests/attributions/ is no package to import
from reference import captum_layer_scores  # noqa: E402

STEREOSET = ROOT.parent / "shared" / "data" / "stereoset" / "stereoset_dev_flat.jsonl"


def _peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _captum_loop(lm, objective, batch_size: int, steps: int | None = None,
                 internal_batch_size: int | None = None) -> tuple[torch.Tensor, float]:
    """Captum looped over the layers, batch by batch; returns mean per-example scores [L, N] and seconds."""
    encoded = objective.encode(lm.tokenizer)
    total = torch.zeros(len(lm.sites), lm.sites[0].n_neurons, dtype=torch.float64)
    start = time.perf_counter()
    for first in range(0, len(encoded.rows), batch_size):
        batch = collate(encoded.rows[first : first + batch_size], lm.tokenizer.pad_token_id)
        for site in lm.sites:
            total[site.layer] += captum_layer_scores(lm.model, site, batch, 1, steps=steps,
                                                     internal_batch_size=internal_batch_size).double()
    return (total / encoded.n_examples).float(), time.perf_counter() - start


@torch.no_grad()
def _forward_only(lm, objective, batch_size: int) -> float:
    """Seconds for the objective's forward passes alone (no gradients): the floor of any gradient method."""
    encoded = objective.encode(lm.tokenizer)
    start = time.perf_counter()
    for first in range(0, len(encoded.rows), batch_size):
        row_values(lm.model, collate(encoded.rows[first : first + batch_size], lm.tokenizer.pad_token_id))
    return time.perf_counter() - start


def _spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    ra, rb = a.argsort().argsort().double(), b.argsort().argsort().double()
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=255)
    parser.add_argument("--ig-pairs", type=int, default=16)
    parser.add_argument("--faith-pairs", type=int, default=24)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--internal-batch-size", type=int, default=64, help="rows per pass for the IG steps")
    parser.add_argument("--sections", default="grad_x_act,integrated_gradients,faithfulness",
                        help="comma-separated subset of the sections to run")
    args = parser.parse_args()
    if STEREOSET.is_file():
        items = [i for i in load(f"stereoset:{STEREOSET}", bias_type="gender") if i.kind == "intrasentence"]
        source = "stereoset gender intrasentence"
    else:
        items, source = list(load("probes:gender")), "probes:gender"
    items = items[: args.pairs]
    lm = load_model("demo")
    lm.fingerprint()
    out: dict[str, object] = {"benchmark": "attribution", "data": source, "pairs": len(items),
                              "threads": torch.get_num_threads()}

    sections = set(args.sections.split(","))
    if "grad_x_act" in sections:
        _bench_grad_x_act(lm, items, args, out)
    if "integrated_gradients" in sections:
        _bench_integrated_gradients(lm, items, args, out)
    if "faithfulness" in sections:
        _bench_faithfulness(lm, items, args, out)
    out["peak_rss_mb"] = _peak_mb()
    print(json.dumps(out, indent=2))


def _bench_grad_x_act(lm, items, args, out) -> None:
    objective = PairPreference(items)
    start = time.perf_counter()
    ours = attribute(lm, objective, "grad_x_act", batch_size=args.batch_size)
    t_ours = time.perf_counter() - start
    theirs, t_captum = _captum_loop(lm, objective, args.batch_size)
    t_forward = _forward_only(lm, objective, args.batch_size)
    out["grad_x_act"] = {
        "seconds": round(t_ours, 2), "sentences_per_s": round(2 * len(items) / t_ours, 1),
        "forward_only_sentences_per_s": round(2 * len(items) / t_forward, 1),
        "cost_in_forward_passes": round(t_ours / t_forward, 2),
        "captum_loop_seconds": round(t_captum, 2), "speedup_vs_captum": round(t_captum / t_ours, 1),
        "max_abs_diff_rel": float((ours.scores - theirs).abs().max() / ours.scores.abs().max()),
        "peak_rss_mb": _peak_mb(),
    }
    print(json.dumps({"grad_x_act": out["grad_x_act"]}), file=sys.stderr, flush=True)


def _bench_integrated_gradients(lm, items, args, out) -> None:
    ig_objective = PairPreference(items[: args.ig_pairs])
    start = time.perf_counter()
    ig = attribute(lm, ig_objective, "integrated_gradients", steps=args.steps, batch_size=args.batch_size,
                   internal_batch_size=args.internal_batch_size)
    t_ig = time.perf_counter() - start
    # captum gets the same bound on rows per forward pass (its internal_batch_size counts expanded rows)
    ig_captum, t_ig_captum = _captum_loop(lm, ig_objective, args.batch_size, steps=args.steps,
                                          internal_batch_size=args.internal_batch_size)
    out["integrated_gradients"] = {
        "pairs": len(ig_objective.pairs), "steps": args.steps, "internal_batch_size": args.internal_batch_size,
        "seconds": round(t_ig, 2),
        "sentences_per_s": round(2 * len(ig_objective.pairs) / t_ig, 2),
        "captum_loop_seconds": round(t_ig_captum, 2), "speedup_vs_captum": round(t_ig_captum / t_ig, 2),
        "max_abs_diff_rel": float((ig.scores - ig_captum).abs().max() / ig.scores.abs().max()),
        "peak_rss_mb": _peak_mb(),
    }
    print(json.dumps({"integrated_gradients": out["integrated_gradients"]}), file=sys.stderr, flush=True)


def _bench_faithfulness(lm, items, args, out) -> None:
    faith = PairPreference(items[: args.faith_pairs])
    gxa = attribute(lm, faith, "grad_x_act", batch_size=args.batch_size)
    generator = torch.Generator().manual_seed(0)
    top = gxa.top(100, by="abs")
    flat = torch.randperm(gxa.scores.numel(), generator=generator).tolist()
    width = gxa.shape[1]
    rand = NeuronSet((i // width, i % width) for i in flat if (i // width, i % width) not in top)
    neurons = top | NeuronSet(list(rand)[:200])
    start = time.perf_counter()
    truth = attribute(lm, faith, "ablation", neurons=neurons, batch_size=args.batch_size, internal_batch_size=96)
    t_abl = time.perf_counter() - start
    mask = neurons.to_mask(*gxa.shape)
    results = {}
    for method in ("activation", "grad_x_act", "integrated_gradients", "ig2"):
        scores = gxa if method == "grad_x_act" else attribute(
            lm, faith, method, steps=args.steps, batch_size=args.batch_size, neurons=neurons
            if method in ("integrated_gradients", "ig2") else None)
        results[method] = round(_spearman(scores.scores[mask], truth.scores[mask]), 3)
    out["faithfulness"] = {"pairs": args.faith_pairs, "neurons": len(neurons), "spearman_vs_ablation": results,
                           "ablation_seconds": round(t_abl, 1)}
    print(json.dumps({"faithfulness": out["faithfulness"]}), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
