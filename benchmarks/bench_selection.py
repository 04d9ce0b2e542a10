"""Which selection rule removes bias at the least cost? Prints JSON.

On the demo model: grad_x_act scores for gender pair preferences on a dev half (StereoSet gender
from ../shared/data, else the built-in gender probes), control scores from language modelling on
the built-in neutral corpus. For every rule and k, the chosen neurons are zeroed (hooks) and the
model is evaluated on held-out data: the test half of the same benchmark, the gender probes'
test half, and WikiText-2 perplexity (../shared/data; first --ppl-tokens tokens). A random set of
k neurons is the random control edit. ``--modes zero mean`` also measures mean ablation (each neuron
set to its mean activation on the built-in neutral corpus) beside zeroing.

    .venv/bin/python benchmarks/bench_selection.py [--k 50] [--ppl-tokens 10000] [--modes zero mean]
    [--rules top exclude_control ...]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from attributions import LanguageModeling, NeuronSet, PairPreference, attribute, mean_activations
from attributions.selection import RULES, select
from neuronedit import evaluate, load_model
from neuronedit.data import load
from neuronedit.data.neutral import NEUTRAL_TEXTS
from neuronedit.edits import masked

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def _summary(result) -> dict[str, object]:
    out = {}
    for r in result.results:
        interval = r.intervals[r.primary]
        out[f"{r.suite}/{r.bias_type}"] = {"value": round(interval.value, 2),
                                           "ci": [round(interval.low, 2), round(interval.high, 2)], "n": r.n}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--k", type=int, nargs="+", default=[50])
    parser.add_argument("--ppl-tokens", type=int, default=10000)
    parser.add_argument("--n-boot", type=int, default=500)
    parser.add_argument("--modes", nargs="+", default=["zero"], choices=["zero", "mean"])
    parser.add_argument("--rules", nargs="+", default=[*RULES, "random"], choices=[*RULES, "random"])
    args = parser.parse_args()
    stereoset = SHARED / "stereoset" / "stereoset_dev_flat.jsonl"
    if stereoset.is_file():
        spec = f"stereoset:{stereoset}"
    else:
        spec = "probes:gender"
    dev = load(spec, bias_type="gender", split="dev")
    suites = [load(spec, bias_type="gender", split="test"), load("probes:gender", split="test")]
    wiki = SHARED / "wikitext2" / "valid.txt"
    if wiki.is_file():
        suites.append(load(f"text:{wiki}"))
    lm = load_model("demo")
    start = time.perf_counter()
    scores = attribute(lm, PairPreference(dev), "grad_x_act")
    scores.control = attribute(lm, LanguageModeling(list(NEUTRAL_TEXTS)), "grad_x_act")
    t_attr = time.perf_counter() - start
    opts = {"n_boot": args.n_boot, "progress": False, "text_max_tokens": args.ppl_tokens}
    baseline = evaluate(lm, suites, **opts)
    out: dict[str, object] = {"benchmark": "selection_rules", "attribution_data": f"{spec} gender dev ({len(dev)})",
                              "attribution_seconds": round(t_attr, 1), "baseline": _summary(baseline), "edits": []}
    means = mean_activations(lm, list(NEUTRAL_TEXTS)) if "mean" in args.modes else None
    generator = torch.Generator().manual_seed(0)
    L, N = scores.shape
    for k in args.k:
        sets = {rule: select(scores, k, rule) for rule in args.rules if rule != "random"}
        flat = torch.randperm(L * N, generator=generator)[:k].tolist()
        if "random" in args.rules:
            sets["random"] = NeuronSet((i // N, i % N) for i in flat)
        for rule, neurons in sets.items():
            for mode in args.modes:
                with masked(lm, neurons, mode, means=means):
                    result = evaluate(lm, suites, **opts)
                layers = sorted({layer for layer, _ in neurons})
                out["edits"].append({"k": k, "rule": rule, "mode": mode, "layers": layers,  # type: ignore[union-attr]
                                     "results": _summary(result)})
                print(json.dumps(out["edits"][-1]), flush=True)  # type: ignore[index]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
