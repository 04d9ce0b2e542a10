"""The bias-versus-knowledge frontier on the demo model: each method's strength knob swept, every point
evaluated on the held-out halves with paired intervals and the layer-matched random control.

Methods in this run (gender, located on the dev half of the bundled StereoSet):

- ``grad_x_act``, the default ranking (rule ``consistent`` against the ``lm+knowledge`` control), knob
  ``k``: the neurons zeroed; one scoring, every ``k`` evaluated (the dose sizes of ``transfer``);
- ``learned_mask``, knob ``budget``: one training per budget, its ``budget`` most closed gates zeroed
  (the simple variant: the same edit and the same random control as the ranking's);
- ``learned_scale`` (``--scale``): the same training, every gate below 1 scaled by its learned value,
  against the same values on layer-matched random neurons.

Every point is evaluated on StereoSet gender's test half, WinoBias's test half, the gender probes' and the
gender knowledge probes' test halves and WikiText-2 perplexity, against one unedited evaluation shared
by all points. For each point the JSON row holds, per bias suite, the share of the distance to neutral
removed and the difference from the random edit of the same size (``vs_random``, negative: more than
random), each with its 95% paired interval, and the knowledge, LMS and perplexity changes. The targets,
stated before the run (issue #24): the learned mask at the default budget beyond the random control on
all three suites, knowledge within 2 points, perplexity <= +1%, LMS drop <= 1, and separated from the
default at the same k. Prints JSON; writes ``frontier.csv``, ``frontier.json`` and ``frontier.png`` to
``--out``.

    python benchmarks/bench_frontier.py [--ks 10 50 200] [--budgets 50] [--scale] [--steps 100]
        [--max-items 200] [--ppl-tokens 10000] [--out out/bench_frontier] [--rebuild]

The README's run: ``--ks 10 50 200 --budgets 50 200`` (48 min; benchmarks/results_frontier.json), and
``--ks --budgets 50 --scale`` (benchmarks/results_frontier_scale.json).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

from results_json import clean

SUITES = ("stereoset", "winobias", "probes")


def _share(row: Any, column: str) -> float:
    """``row[column]`` (a change in |bias - neutral|) as a percent of the unedited distance removed."""
    distance = abs(row["before"] - row["neutral"])
    return -100 * float(row[column]) / distance if distance > 0 else float("nan")


def point_rows(result: Any, method: str, knob: str) -> list[dict[str, Any]]:
    """One row per edit size of a transfer run: the frontier's coordinates with their intervals."""
    effects = result.effects
    chosen = effects[effects["edit"] == "selected"]
    random = effects[effects["edit"] == "random"]
    rows = []
    for size in sorted(set(chosen["k"])):
        here = chosen[chosen["k"] == size]
        row: dict[str, Any] = {"method": method, "knob": knob, "value": int(size), "k": int(size)}
        for suite in SUITES:
            cell = here[(here["benchmark"] == suite) & (here["role"] == "bias")]
            if cell.empty:
                continue
            c = cell.iloc[0]
            row[f"{suite}_moved"] = _share(c, "abs_delta")
            row[f"{suite}_moved_ci"] = sorted([_share(c, "abs_delta_ci_low"), _share(c, "abs_delta_ci_high")])
            if "vs_random" in c and not math.isnan(c.get("vs_random", float("nan"))):
                row[f"{suite}_vs_random"] = c["vs_random"]
                row[f"{suite}_vs_random_ci"] = [c["vs_random_ci_low"], c["vs_random_ci_high"]]
                row[f"{suite}_beyond_random"] = bool(c["vs_random_ci_high"] < 0)
            if suite == "stereoset" and "lms_delta" in c:
                row["lms_delta"] = c["lms_delta"]
                row["lms_delta_ci"] = [c["lms_delta_ci_low"], c["lms_delta_ci_high"]]
        knowledge = here[here["role"] == "knowledge"]
        if not knowledge.empty:
            k = knowledge.iloc[0]
            row["knowledge_delta"] = k["delta"]
            row["knowledge_delta_ci"] = [k["delta_ci_low"], k["delta_ci_high"]]
        cost = here[here["role"] == "cost"]
        if not cost.empty:
            p = cost.iloc[0]
            row["ppl_delta_pct"] = p["delta"]
            row["ppl_delta_pct_ci"] = [p["delta_ci_low"], p["delta_ci_high"]]
        rnd = random[random["k"] == size]
        for suite in SUITES:
            cell = rnd[(rnd["benchmark"] == suite) & (rnd["role"] == "bias")]
            if not cell.empty:
                row[f"{suite}_random_moved"] = _share(cell.iloc[0], "abs_delta")
        rows.append(row)
    return rows


def targets(rows: list[dict[str, Any]], budget: int) -> dict[str, Any]:
    """The issue's targets for the learned mask at ``budget`` against the default at the same k."""
    mask = next((r for r in rows if r["method"] == "learned_mask" and r["value"] == budget), None)
    default = next((r for r in rows if r["method"] == "grad_x_act" and r["k"] == budget), None)
    if mask is None:
        return {}
    out: dict[str, Any] = {f"beyond_random_{s}": mask.get(f"{s}_beyond_random") for s in SUITES}
    out["knowledge_within_2_points"] = mask.get("knowledge_delta", -99) >= -2
    out["perplexity_at_most_1pct"] = mask.get("ppl_delta_pct", 99) <= 1
    out["lms_drop_at_most_1"] = mask.get("lms_delta", -99) >= -1
    if default is not None:
        out["moved_more_than_default"] = {s: [mask.get(f"{s}_moved"), default.get(f"{s}_moved")] for s in SUITES}
    out["met"] = all(v is True for k, v in out.items() if k != "moved_more_than_default")
    return out


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Per bias suite (rows of panels), the share of the distance to neutral removed (95% interval) against
    the knowledge change and against the perplexity change (columns), one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(SUITES), 2, figsize=(10, 9), sharey="row", squeeze=False)
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = sorted((r for r in rows if r["method"] == method), key=lambda r: r["value"])
        for i, suite in enumerate(SUITES):
            moved = [r.get(f"{suite}_moved", float("nan")) for r in mine]
            low = [m - r.get(f"{suite}_moved_ci", [m, m])[0] for m, r in zip(moved, mine)]
            high = [r.get(f"{suite}_moved_ci", [m, m])[1] - m for m, r in zip(moved, mine)]
            for j, key in enumerate(("knowledge_delta", "ppl_delta_pct")):
                ax = axes[i][j]
                xs = [r.get(key, float("nan")) for r in mine]
                ax.errorbar(xs, moved, yerr=[low, high], marker="o", capsize=3, label=method)
                for x, y, r in zip(xs, moved, mine):
                    ax.annotate(f"{r['knob']}={r['value']}", (x, y), fontsize=7, xytext=(3, 3),
                                textcoords="offset points")
                ax.axhline(0, color="grey", lw=0.5)
                if i == len(SUITES) - 1:
                    ax.set_xlabel(("knowledge change (points)", "perplexity change (%)")[j])
            axes[i][0].set_ylabel(f"{suite}: % of bias removed")
    axes[0][0].legend(fontsize=8)
    fig.suptitle("gender, demo model: held-out bias removed (95% paired interval) against knowledge and perplexity")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def learned_scale_edit(scores: Any) -> Any:
    """An edit factory for ``transfer_matrix``: the learned gate values on the learned set, and the same values
    (per layer, in the same order) on any other set of the same per-layer counts (the random control)."""
    from contextlib import contextmanager

    from neuronedit.edits import learned_scale, masked

    learned, factors = learned_scale(scores)
    by_layer: dict[int, list[float]] = {}
    for (layer, _), factor in zip(learned, factors):
        by_layer.setdefault(layer, []).append(factor)
    exact = dict(zip(learned, factors))

    @contextmanager
    def make(lm: Any, neurons: Any, _domain: Any) -> Any:
        if set(neurons) == set(exact):
            values = [exact[n] for n in neurons]
        else:
            queues = {layer: iter(values) for layer, values in by_layer.items()}
            values = [next(queues.get(layer, iter(())), 1.0) for layer, _ in neurons]
        with masked(lm, neurons, "scale", factors=values) as record:
            yield record

    return make


def rebuild(args: argparse.Namespace) -> None:
    """frontier.json and frontier.png from a run's frontier.csv (its list and dict cells read back)."""
    import ast

    import pandas as pd

    frame = pd.read_csv(args.out / "frontier.csv")
    rows = []
    for record in frame.to_dict(orient="records"):
        row = {}
        for key, value in record.items():
            if isinstance(value, str) and value[:1] in "[{":
                value = ast.literal_eval(value.replace("np.float64(", "(").replace("np.True_", "True")
                                         .replace("np.False_", "False"))
            if not (isinstance(value, float) and math.isnan(value)):
                row[key] = value
        rows.append(row)
    plot(rows, args.out / "frontier.png")
    report = clean({"rows": rows, "targets": targets(rows, args.main_k), "rebuilt_from": "frontier.csv"})
    (args.out / "frontier.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ks", type=int, nargs="*", default=[10, 50, 200],
                        help="the default ranking's sizes (none: skip the default ranking)")
    parser.add_argument("--scale", action="store_true",
                        help="also evaluate each learned mask as learned (every gate below 1 scaled by its value)")
    parser.add_argument("--budgets", type=int, nargs="+", default=[50], help="the learned mask's budgets")
    parser.add_argument("--steps", type=int, default=100, help="the learned mask's training steps")
    parser.add_argument("--main-k", type=int, default=50, help="the size the targets compare at")
    parser.add_argument("--max-items", type=int, default=200)
    parser.add_argument("--ppl-tokens", type=int, default=10000)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("out/bench_frontier"))
    parser.add_argument("--rebuild", action="store_true",
                        help="no run: rebuild frontier.json and frontier.png from --out's frontier.csv")
    args = parser.parse_args()
    if args.rebuild:
        rebuild(args)
        return

    import pandas as pd
    import torch

    from attributions import PairPreference, attribute
    from attributions.masking import learned_factors
    from neuronedit import load_model
    from neuronedit.analysis import transfer_matrix
    from neuronedit.analysis.transfer import domains_from
    from neuronedit.locate.learned import method_options

    torch.set_num_threads(2)
    args.out.mkdir(parents=True, exist_ok=True)
    lm = load_model("demo")
    domains = domains_from(["gender"], "stereoset", max_items=args.max_items)
    common = {"ppl_tokens": args.ppl_tokens, "n_boot": args.n_boot, "seed": args.seed, "log": print}
    seconds: dict[str, float] = {}
    tick = time.time()
    k_main = args.main_k
    rows: list[dict[str, Any]] = []
    baseline = None
    if args.ks:
        default = transfer_matrix(lm, domains, method="grad_x_act", k=k_main, dose=args.ks, **common)
        seconds["grad_x_act"] = time.time() - tick
        rows = point_rows(default, "grad_x_act", "k")
        baseline = default.baseline
    for budget in args.budgets:
        tick = time.time()
        scores = attribute(lm, PairPreference(domains[0].attribution), "learned_mask", steps=args.steps,
                           seed=args.seed, progress=True, budget=budget, **method_options("learned_mask", "gender"))
        trained = time.time() - tick
        result = transfer_matrix(lm, domains, method="learned_mask", selection="top", k=budget, dose=[],
                                 scores={"gender": scores}, baseline=baseline, **common)
        baseline = result.baseline
        scores.save(args.out / f"learned_mask_budget{budget}.safetensors")
        extra = {"train_seconds": round(trained, 1), "seconds_per_step": round(scores.meta["seconds"] / args.steps, 2),
                 "dev_objective": scores.meta["dev_objective"], "gates": scores.meta["gates"]}
        for row in point_rows(result, "learned_mask", "budget"):
            rows.append({**row, **extra})
        if args.scale:  # the gates as learned: every gate below 1 scaled by its value, against the same on random
            edited = int((learned_factors(scores) < 1).sum())
            scaled = transfer_matrix(lm, domains, method="learned_mask", selection="top", k=edited, dose=[],
                                     edit=learned_scale_edit(scores), scores={"gender": scores},
                                     baseline=baseline, **common)
            for row in point_rows(scaled, "learned_scale", "budget"):
                rows.append({**row, "value": budget, **extra})
        seconds[f"learned_mask budget={budget}"] = time.time() - tick
    pd.DataFrame(rows).to_csv(args.out / "frontier.csv", index=False)
    plot(rows, args.out / "frontier.png")
    report = clean({"rows": rows, "targets": targets(rows, k_main), "seconds": seconds,
                     "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}})
    (args.out / "frontier.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
