"""Unlearning gender stereotypes on the demo model: which method moves held-out bias, at what cost? Prints JSON.

The seed experiment ("Towards Transfer Unlearning"): unlearn the stereotypical side of gender
pairs and measure gender, race and religion bias on held-out pairs plus perplexity. Forget set:
the dev half of the built-in gender probes. Evaluation (association scores, standard beside them):
the test halves of the gender, race and religion probes, StereoSet's gender test half, WinoBias's
test half, the knowledge probes' test halves and perplexity on the first 10,000 tokens of the
bundled WikiText-2 validation text (the perplexity ceiling watches other WikiText-2 sentences),
item-paired against the unedited model with 95% bootstrap intervals. Every configuration of the
fixed grid below is run and reported (no selection on the evaluation data); the model is restored
between runs.

    .venv/bin/python benchmarks/bench_unlearn.py [--steps 30] [--configs NAME ...]
"""

from __future__ import annotations

import argparse
import json
import time

from attributions import LanguageModeling, PairPreference, attribute
from attributions.selection import select
from neuronedit import evaluate, load_model
from neuronedit.analysis import edit_effects
from neuronedit.data import load
from neuronedit.data.neutral import NEUTRAL_TEXTS
from neuronedit.edits import restoring
from neuronedit.unlearn import unlearn

CONFIGS = {
    "gradient_ascent": dict(method="gradient_ascent", lr=1e-5),
    "masked_token": dict(method="masked_token", lr=1e-5),
    "max_entropy": dict(method="max_entropy", lr=1e-5),
    "dual": dict(method="dual", lr=1e-5),
    "dual+kl": dict(method="dual", lr=1e-5, kl_weight=1.0),
    "masked_token@neurons": dict(method="masked_token", lr=1e-3, confine=True),
    "dual@neurons": dict(method="dual", lr=1e-3, confine=True),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--k", type=int, default=200, help="located neurons for the confined runs")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    args = parser.parse_args()
    lm = load_model("demo")
    forget = list(load("probes:gender", split="dev"))
    suites = [load(f"probes:{d}", split="test") for d in ("gender", "race", "religion")]
    suites += [load("stereoset", bias_type="gender", split="test"), load("winobias", split="test")]
    suites += [load(f"probes:knowledge-{d}", split="test") for d in ("gender", "race", "religion")]
    suites += [load("text:bundled")]
    options = {"n_boot": args.n_boot, "progress": False, "text_max_tokens": 10000, "text_stride": 1024}
    baseline = evaluate(lm, suites, **options)
    scores = attribute(lm, PairPreference(forget), "grad_x_act")
    scores.control = attribute(lm, LanguageModeling(list(NEUTRAL_TEXTS)), "grad_x_act")
    neurons = select(scores, args.k)
    out: dict[str, object] = {"benchmark": "unlearning", "forget": f"probes:gender dev ({len(forget)} pairs)",
                              "steps": args.steps, "batch_size": args.batch_size, "k_confined": args.k, "runs": []}
    for name in args.configs:
        config = dict(CONFIGS[name])
        confine = config.pop("confine", False)
        start = time.perf_counter()
        with restoring(lm):
            edit = unlearn(lm, forget, neurons=neurons if confine else None, steps=args.steps,
                           batch_size=args.batch_size, **config)
            after = evaluate(lm, suites, **options)
        rows = edit_effects(baseline, after, n_boot=args.n_boot)
        effects = {f"{r['suite']}/{r['bias_type']}": {
            "metric": r["metric"], "before": round(r["before"], 3), "after": round(r["after"], 3),
            "delta": round(r["delta"], 3), "delta_ci": [round(r["delta_ci_low"], 3), round(r["delta_ci_high"], 3)]}
            for r in rows}
        run = {"config": name, **config, "confined": confine, "stopped": edit.provenance["stopped"],
               "history": edit.provenance["history"], "changed_entries": edit.provenance["changed_entries"],
               "seconds": round(time.perf_counter() - start, 1), "effects": effects}
        out["runs"].append(run)  # type: ignore[union-attr]
        print(json.dumps(run), flush=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
