"""Do gender edits generalise to benchmarks they were not located on? Chooses the default on dev data. JSON.

Data (bundled, real): StereoSet gender, WinoBias, the built-in gender probes and knowledge probes.
Each benchmark's dev half is cut once more, by the same grouping key, into a *locate* part and a
*select* part; test halves are not read until the final stage.

Stage 1 (choose), every configuration of the grid below:
    source (stereoset | winobias | probes | union of the three locate parts) x objective span (all | diff)
    x selection rule (exclude_control | consistent), k = 50, control lm, the neurons zeroed;
then the best of the grid (by the rule below) once more with the lm+knowledge control, and once with
k = 100 (mean ablation is measured for the chosen configuration in stage 2). ``--objectives`` and
``--controls`` set other grids; ``--previous`` makes an earlier run's configurations take part in the
choice (round 2 of the README: the grid with the lm+knowledge control, chosen over both rounds).
locates on the source's locate part and is judged on the select parts of all three benchmarks,
knowledge-gender dev (select part), StereoSet's LMS (select part) and WikiText-2 perplexity
(first --ppl-tokens tokens, disjoint 512-token windows; point estimates, --n-boot 100).

The rule, fixed before the run:
    feasible  = perplexity change <= +3% and knowledge accuracy drop <= 2 points and LMS drop <= 1 point;
    moved(b)  = (|before - neutral| - |after - neutral|) / |before - neutral| per benchmark b
                (association score; 1 = all the way to no bias, < 0 = more biased), clipped to [-1, 1];
    choose    = the feasible configuration with the largest mean moved over the three benchmarks;
                ties to the smaller k. If none is feasible, the configuration
                with the largest mean moved among those within the perplexity limit is reported as the
                best reached, marked infeasible.

Stage 2 (report), for each source with the chosen objective/rule/control/k: locate on the whole dev
half, evaluate the test halves (StereoSet gender: association, SS, LMS; WinoBias; probes; knowledge;
WikiText-2 perplexity on --final-ppl-tokens tokens, disjoint 1,024-token windows) against the
unedited model and against a random edit with the same number of neurons per layer (zeroed), with
paired bootstrap intervals; the chosen source also with mean ablation.

    .venv/bin/python benchmarks/bench_generalisation.py [--out bench_generalisation.json] [--quick]
    .venv/bin/python benchmarks/bench_generalisation.py --objectives all --controls lm+knowledge \
        --previous benchmarks/results_generalisation.json --out round2.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path
from typing import Any

from attributions import NeuronSet, PairPreference, attribute, mean_activations
from attributions.selection import select
from neuronedit import evaluate, load_model
from neuronedit.analysis import edit_effects
from neuronedit.analysis.random_control import random_like
from neuronedit.data import Dataset, group_key, load
from neuronedit.data.neutral import NEUTRAL_TEXTS
from neuronedit.data.split import part_of
from neuronedit.edits import masked
from neuronedit.locate.control_scores import control_scores

BENCHMARKS = ("stereoset", "winobias", "probes")
SPECS = {"stereoset": "stereoset", "winobias": "winobias", "probes": "probes:gender"}


def _part(data: Dataset, part: str) -> Dataset:
    return Dataset([i for i in data if part_of(group_key(i)) == part], kind=data.kind, spec=data.spec,
                   bias_type=data.bias_type, split=data.split)


def _halves(split: str) -> dict[str, Dataset]:
    return {b: load(SPECS[b], bias_type="gender", split=split) for b in BENCHMARKS}


def _row(effects: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for r in effects:
        key = "perplexity" if r["role"] == "cost" else r["suite"]
        cell = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()
                if k in ("metric", "before", "after", "delta", "delta_ci_low", "delta_ci_high", "abs_delta",
                         "abs_delta_ci_low", "abs_delta_ci_high", "vs_random", "vs_random_ci_low",
                         "vs_random_ci_high", "score_before", "score_after", "ss_before", "ss_after",
                         "lms_before", "lms_after", "lms_delta", "lms_delta_ci_low", "lms_delta_ci_high", "n",
                         "skipped")}
        if r["role"] == "bias":
            spread = abs(r["before"] - r["neutral"])
            cell["moved"] = round(max(-1.0, min(1.0, -r["abs_delta"] / spread)) if spread else 0.0, 4)
        out[key] = cell
    return out


def _judge(row: dict[str, Any], limits: argparse.Namespace) -> dict[str, Any]:
    moved = [row[b]["moved"] for b in ("stereoset", "winobias", "probes-gender")]
    return {"mean_moved": round(sum(moved) / len(moved), 4),
            "ppl_ok": bool(row["perplexity"]["delta"] <= limits.max_ppl),
            "feasible": bool(row["perplexity"]["delta"] <= limits.max_ppl
                         and row["probes-knowledge-gender"]["delta"] >= -limits.max_knowledge_drop
                         and row["stereoset"]["lms_delta"] >= -limits.max_lms_drop)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench_generalisation.json")
    parser.add_argument("--ppl-tokens", type=int, default=4096)
    parser.add_argument("--final-ppl-tokens", type=int, default=20000)
    parser.add_argument("--max-ppl", type=float, default=3.0)
    parser.add_argument("--max-knowledge-drop", type=float, default=2.0)
    parser.add_argument("--max-lms-drop", type=float, default=1.0)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="a two-configuration smoke run")
    parser.add_argument("--objectives", nargs="+", default=["all", "diff"], help="grid: objective spans")
    parser.add_argument("--controls", nargs="+", default=["lm"], help="grid: controls")
    parser.add_argument("--previous", help="a JSON of an earlier run whose configurations take part in the choice "
                                           "(the same rule over all of them)")
    args = parser.parse_args()
    started = time.time()
    lm = load_model("demo")
    widths = [s.n_neurons for s in lm.sites]
    dev, test = _halves("dev"), _halves("test")
    locate = {b: _part(dev[b], "locate") for b in BENCHMARKS}
    select_parts = {b: _part(dev[b], "select") for b in BENCHMARKS}
    knowledge_dev = load("probes:knowledge-gender", split="dev")
    knowledge = {p: _part(knowledge_dev, p) for p in ("locate", "select")}
    wiki = load("text:bundled")
    opts = {"n_boot": 100, "progress": False, "batch_size": 32, "text_window": 512, "text_stride": 512}
    final_opts = {"n_boot": args.n_boot, "progress": False, "batch_size": 32, "text_window": 1024, "text_stride": 1024}
    means = mean_activations(lm, list(NEUTRAL_TEXTS))
    grid = {"source": [*BENCHMARKS, "union"], "objective": args.objectives, "rule": ["exclude_control", "consistent"],
            "control": args.controls, "k": [50]}
    if args.quick:
        grid = {"source": ["stereoset"], "objective": ["diff"], "rule": ["exclude_control", "consistent"],
                "control": ["lm"], "k": [50]}

    def edit_of(neurons: NeuronSet, mode: str) -> Any:
        return masked(lm, neurons, mode, means=means if mode == "mean" else None)

    # stage 1: choose on the select parts
    suites = [*select_parts.values(), knowledge["select"], wiki]
    base = evaluate(lm, suites, text_max_tokens=args.ppl_tokens, **opts)
    controls = {c: control_scores(lm, c, domain="gender", knowledge=list(knowledge["locate"]), log=print)
                for c in grid["control"]}
    scores: dict[tuple[str, str], Any] = {}
    configs: list[dict[str, Any]] = []

    def best_of(candidates: list[dict[str, Any]]) -> dict[str, Any]:
        pool = ([c for c in candidates if c["feasible"]] or [c for c in candidates if c["ppl_ok"]] or candidates)
        return max(pool, key=lambda c: (c["mean_moved"], -c["k"]))

    runs = list(itertools.product(*grid.values()))
    for source, objective, rule, control, k in runs:
        if control not in controls:
            controls[control] = control_scores(lm, control, domain="gender", knowledge=list(knowledge["locate"]))
        key = (source, objective)
        if key not in scores:
            pairs = [p for b in BENCHMARKS for p in locate[b]] if source == "union" else list(locate[source])
            scores[key] = attribute(lm, PairPreference(pairs, span=objective), "grad_x_act", batch_size=16)
        scores[key].control = controls[control]
        neurons = select(scores[key], k, rule)
        tick = time.time()
        with edit_of(neurons, "zero"):
            after = evaluate(lm, suites, text_max_tokens=args.ppl_tokens, **opts)
        row = _row(edit_effects(base, after, n_boot=100))
        config = {"source": source, "objective": objective, "rule": rule, "control": control, "k": k}
        configs.append({**config, **_judge(row, args), "effects": row})
        print(json.dumps({**config, **_judge(row, args), "seconds": round(time.time() - tick, 1)}), flush=True)
        if len(configs) == len(list(itertools.product(*grid.values()))) and not (args.quick or args.previous):
            top = best_of(configs)  # the grid is done: its best with the knowledge control, and with k = 100
            runs += [(top["source"], top["objective"], top["rule"], "lm+knowledge", top["k"]),
                     (top["source"], top["objective"], top["rule"], top["control"], 100)]

    previous = json.loads(Path(args.previous).read_text())["configs"] if args.previous else []
    best = best_of(previous + configs)
    chosen = {k: best[k] for k in ("objective", "rule", "control", "k")}
    print(json.dumps({"chosen": chosen, "source": best["source"], "feasible": best["feasible"]}), flush=True)

    # stage 2: locate on whole dev halves with the chosen settings, evaluate the test halves
    final_suites = [*test.values(), load("probes:knowledge-gender", split="test"), wiki]
    base = evaluate(lm, final_suites, text_max_tokens=args.final_ppl_tokens, **final_opts)
    final = {}
    control = control_scores(lm, chosen["control"], domain="gender", log=print)
    for source in grid["source"]:
        pairs = [p for b in BENCHMARKS for p in dev[b]] if source == "union" else list(dev[source])
        located = attribute(lm, PairPreference(pairs, span=chosen["objective"]), "grad_x_act", batch_size=16)
        located.control = control
        neurons = select(located, chosen["k"], chosen["rule"])
        with edit_of(neurons, "zero"):
            after = evaluate(lm, final_suites, text_max_tokens=args.final_ppl_tokens, **final_opts)
        with edit_of(random_like(neurons, widths, seed=0), "zero"):
            random = evaluate(lm, final_suites, text_max_tokens=args.final_ppl_tokens, **final_opts)
        final[source] = {"located_on": f"{source} dev half ({len(pairs)} pairs)",
                         "edit": _row(edit_effects(base, after, random, n_boot=args.n_boot)),
                         "random": _row(edit_effects(base, random, n_boot=args.n_boot))}
        if source == best["source"]:
            with edit_of(neurons, "mean"):
                mean_after = evaluate(lm, final_suites, text_max_tokens=args.final_ppl_tokens, **final_opts)
            final[source]["edit_mean"] = _row(edit_effects(base, mean_after, n_boot=args.n_boot))
        print(json.dumps({"final": source, **{k: v.get("moved", v.get("delta"))
                                              for k, v in final[source]["edit"].items()}}), flush=True)
    report = {"rule": __doc__.split("The rule, fixed before the run:")[1].split("Stage 2")[0].strip(),
              "grid": grid, "configs": configs, "previous_configs": len(previous), "chosen": chosen,
              "chosen_from_source": best["source"],
              "chosen_feasible": best["feasible"], "final": final,
              "sizes": {"locate": {b: len(v) for b, v in locate.items()},
                        "select": {b: len(v) for b, v in select_parts.items()},
                        "test": {b: len(v) for b, v in test.items()}},
              "seconds": round(time.time() - started, 1)}
    Path(args.out).write_text(json.dumps(report, indent=1, default=float))
    print(json.dumps({"chosen": chosen, "seconds": report["seconds"], "out": args.out}))


if __name__ == "__main__":
    main()
