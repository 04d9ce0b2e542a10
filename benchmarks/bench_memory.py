"""Benchmark: the integrated-gradients memory estimate against the measured peak, demo model. Prints JSON.

For each ``internal_batch_size``, a fresh process estimates the peak of one pass
(``attributions.memory.estimate_pass_memory``, as ``attribute(progress=True)`` prints it), then
runs integrated gradients with enough steps to fill that many rows per pass and reports the
increase of its peak resident memory (Linux ``VmHWM``, reset before the run).

    .venv/bin/python benchmarks/bench_memory.py [--pairs 8] [--sizes 16 64 128]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STEREOSET = ROOT.parent / "shared" / "data" / "stereoset" / "stereoset_dev_flat.jsonl"


def one(size: int, pairs: int) -> dict[str, object]:
    from attributions import PairPreference, attribute
    from attributions.forward import collate, group_rows
    from attributions.memory import _status_kib, estimate_pass_memory
    from neuronedit import load_model
    from neuronedit.data import load

    if STEREOSET.is_file():
        items = [i for i in load(f"stereoset:{STEREOSET}", bias_type="gender") if i.kind == "intrasentence"]
    else:
        items = list(load("probes:gender"))
    objective = PairPreference(items[:pairs])
    lm = load_model("demo")
    lm.fingerprint()
    rows = objective.encode(lm.tokenizer).rows
    batch = collate(group_rows(rows, len(rows))[0], lm.tokenizer.pad_token_id)
    estimate = estimate_pass_memory(lm.model, lm.sites, batch, first_layer=0, rows=size)
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
    before = _status_kib("VmRSS")
    attribute(lm, objective, "integrated_gradients", steps=max(1, size // batch.ids.shape[0]), batch_size=len(rows),
              internal_batch_size=size)
    measured = (_status_kib("VmHWM") - before) * 1024
    predicted = estimate.per_row * estimate.rows
    return {"internal_batch_size": size, "rows_per_pass": max(size, batch.ids.shape[0]), "width": estimate.width,
            "estimated_activation_gib": round(predicted / 2**30, 3),
            "measured_increase_gib": round(measured / 2**30, 3),
            "ratio_measured_to_estimate": round(measured / predicted, 2), "how": estimate.how,
            "printed": estimate.describe()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 64, 128])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.pairs)))
        return
    results = []
    for size in args.sizes:  # a fresh process each: the peak resident size is per process
        done = subprocess.run([sys.executable, __file__, "--one", str(size), "--pairs", str(args.pairs)], check=True,
                              capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(json.dumps({"benchmark": "memory", "model": "demo", "method": "integrated_gradients",
                      "pairs": args.pairs, "results": results}, indent=2))


if __name__ == "__main__":
    main()
