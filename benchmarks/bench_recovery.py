"""Ground truth on the demo model: plant a bias in known neurons, then check that the default pipeline finds
it, removes it on held-out data and sees (``shared``) or does not see (``separate``) its transfer.

For each variant (and gain scale), in one process: a copy of the demo model gets ``--neurons`` planted bias
neurons per domain (``separate``) or in all (``shared``), calibrated to raise the association on the dev
pairs of ``--data`` (the gender probes by default, or the bundled StereoSet) by ``--strength`` in the
score's units (nats for the gender probes' gap, points for a share), plus a frequency and a knowledge
decoy; then :func:`neuronedit.groundtruth.recover` ranks the planted neurons with each method, zeroes the
located top-k, the planted set and the random control, and evaluates every held-out suite against the
unplanted model. The targets (stated before the run) are ``neuronedit.groundtruth.TARGETS``. Prints JSON;
with ``--out`` also writes each variant's recovery folder (planted.json, recovery.json, tables).

    python benchmarks/bench_recovery.py [--data probes|stereoset] [--variants separate shared]
        [--domains gender race] [--strength 0.5] [--neurons 20] [--gain-scales 1 4 16]
        [--methods grad_x_act activation integrated_gradients] [--max-items 100] [--out out/bench_recovery]

The README's runs: ``--data probes --variants separate --domains gender --strength 0.5 --methods
grad_x_act activation`` (6 min) and ``--data stereoset --variants separate --domains gender --strength 5
--methods grad_x_act activation --gain-scales 1 4 16`` (36 min). Ablation is not among the default methods:
it ablates the demo model's 46,080 neurons one at a time (one forward pass each over the pairs), hours on
2 cores.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from results_json import clean


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["separate"], choices=["shared", "separate"])
    parser.add_argument("--domains", nargs="+", default=["gender"])
    parser.add_argument("--strength", type=float, default=0.5)
    parser.add_argument("--data", default="probes", help="dev pairs to plant and locate on: probes or stereoset")
    parser.add_argument("--neurons", type=int, default=20)
    parser.add_argument("--gain-scales", type=float, nargs="+", default=[1.0],
                        help="also plant at these multiples of the calibrated gain (1: as calibrated)")
    parser.add_argument("--methods", nargs="+", default=["grad_x_act", "activation"])
    parser.add_argument("--steps", type=int, default=8, help="integration steps of the integrated methods")
    parser.add_argument("--max-items", type=int, default=100)
    parser.add_argument("--ppl-tokens", type=int, default=10000)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    import torch

    from neuronedit import load_model
    from neuronedit.edits import restoring
    from neuronedit.groundtruth import TARGETS, plant, recover

    torch.set_num_threads(2)
    started = time.time()
    base, planted = load_model("demo"), load_model("demo")
    report: dict[str, Any] = {"model": base.name, "targets": TARGETS, "settings": {
        k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}, "variants": {}}
    calibrated: dict[str, float] = {}  # per variant: the smallest calibrated gain of its domains
    for variant, scale in [(variant, scale) for variant in args.variants for scale in args.gain_scales]:
        tick = time.time()
        name = variant if scale == 1 else f"{variant} x{scale:g}"
        options = {"neurons": args.neurons, "variant": variant, "strength": args.strength, "decoys": True,
                   "seed": args.seed, "max_items": args.max_items, "data": args.data}
        with restoring(planted):
            if variant not in calibrated and scale != 1:  # calibrate first, then plant at the multiple
                with restoring(planted):
                    calibrated[variant] = min(plant(planted, args.domains, **options)[1].gain.values())
            gain = calibrated[variant] * scale if variant in calibrated else None
            _, truth = plant(planted, args.domains, gain=gain, log=print, **options)
            calibrated.setdefault(variant, min(truth.gain.values()))
            planted_seconds = time.time() - tick
            result = recover(planted, base, truth, methods=args.methods, data=args.data, max_items=args.max_items,
                             ppl_tokens=args.ppl_tokens, steps=args.steps, n_boot=args.n_boot, seed=args.seed,
                             log=print)
            if args.out is not None:
                folder = args.out / name.replace(" ", "_")
                result.save(folder)
                truth.save(folder)
        own = [result.suite_of(domain) for domain in truth.domains]  # the test halves of the data located on
        located = result.removal[(result.removal["edit"] == "located") & result.removal["suite"].isin(own)]
        report["variants"][name] = {
            "gain_scale": scale,
            "dev_association": {"before": truth.before, "after": truth.after, "gain": truth.gain},
            "ranking": result.ranking.drop(columns=["ranks"]).to_dict(orient="records"),
            "removal": result.removal.to_dict(orient="records"),
            "located_share": located[["source", "bias_type", "share", "share_ci_low", "share_ci_high"]]
            .to_dict(orient="records"),
            "cost": result.effects[result.effects["role"] != "bias"][
                ["source", "edit", "suite", "bias_type", "before", "after", "delta", "delta_ci_low", "delta_ci_high"]]
            .to_dict(orient="records"),
            "checks": result.checks(), "summary": result.summary(),
            "seconds": {"plant": round(planted_seconds, 1), "recover": result.seconds},
        }
        print("\n".join(result.summary()), flush=True)
    report["seconds"] = round(time.time() - started, 1)
    print(json.dumps(clean(report), indent=1, default=str))


if __name__ == "__main__":
    main()
