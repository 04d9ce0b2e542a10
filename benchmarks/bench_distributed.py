"""Benchmark: data-parallel attribution and evaluation on the demo model, one process vs torchrun. Prints JSON.

Runs the same job twice, side by side on this machine: one process with all cores
(``OMP_NUM_THREADS=cores``), then ``torchrun --nproc-per-node N`` with the gloo backend and
``cores / N`` threads per rank. The job: grad_x_act over the StereoSet gender intrasentence pairs
of ../shared/data (the built-in gender probes when it is absent), and an evaluation of the three
probe sets (plus StereoSet gender when present). Reports the speed-up, the largest score
difference relative to the largest score, and whether every per-item decision agrees.

    .venv/bin/python benchmarks/bench_distributed.py [--nproc 2] [--pairs 255]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
STEREOSET = ROOT.parent / "shared" / "data" / "stereoset" / "stereoset_dev_flat.jsonl"


def worker(out_dir: Path, pairs: int) -> None:
    """The job, run by every rank (or by the single process)."""
    from attributions import PairPreference, attribute
    from attributions.distributed import barrier, init_from_env, rank, world_size
    from neuronedit import load_model
    from neuronedit.data import load
    from neuronedit.measure.evaluation import evaluate

    init_from_env()
    if STEREOSET.is_file():
        items = [i for i in load(f"stereoset:{STEREOSET}", bias_type="gender") if i.kind == "intrasentence"]
        suites = [load(f"stereoset:{STEREOSET}", bias_type="gender")]
    else:
        items, suites = list(load("probes:gender")), []
    suites += [load(f"probes:{d}") for d in ("gender", "race", "religion")]
    lm = load_model("demo")
    lm.fingerprint()  # warm the page cache for the fingerprint every attribute() call takes
    barrier()
    start = time.perf_counter()
    scores = attribute(lm, PairPreference(items[:pairs]), "grad_x_act", batch_size=16)
    t_attr = time.perf_counter() - start
    barrier()
    start = time.perf_counter()
    result = evaluate(lm, suites, batch_size=32, n_boot=1000, progress=False)
    t_eval = time.perf_counter() - start
    if rank() == 0:
        torch.save({"world": world_size(), "threads": torch.get_num_threads(), "attribute_seconds": t_attr,
                    "evaluate_seconds": t_eval, "scores": scores.scores, "n_examples": scores.meta["n_examples"],
                    "evaluation": [(r.suite, r.bias_type, r.decision, r.intervals[r.primary].value,
                                    dict(r.data.items())) for r in result.results]},
                   out_dir / f"world{world_size()}.pt")


def _launch(cmd: list[str], threads: int) -> None:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=str(ROOT))
    env.pop("WORLD_SIZE", None)
    subprocess.run(cmd, check=True, env=env, cwd=ROOT)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=255)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(Path(args.worker), args.pairs)
        return
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        me = [str(Path(__file__).resolve()), "--worker", tmp, "--pairs", str(args.pairs)]
        _launch([sys.executable, *me], threads=cores)
        _launch([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={args.nproc}", *me],
                threads=max(1, cores // args.nproc))
        one = torch.load(Path(tmp) / "world1.pt", weights_only=False)
        many = torch.load(Path(tmp) / f"world{args.nproc}.pt", weights_only=False)
    scale = float(one["scores"].abs().max())
    suites = []
    for a, b in zip(one["evaluation"], many["evaluation"]):
        assert a[:2] == b[:2]
        worst = max(float(abs(a[4][k].astype(float) - b[4][k].astype(float)).max()) for k in a[4])
        suites.append({"suite": a[0], "bias_type": a[1], "n": len(a[2]), "value_1": round(a[3], 4),
                       f"value_{args.nproc}": round(b[3], 4), "decisions_identical": bool((a[2] == b[2]).all()),
                       "max_abs_diff_per_item": worst})
    out = {
        "benchmark": "distributed", "model": "demo", "cores": cores, "nproc": args.nproc, "backend": "gloo",
        "data": "stereoset gender intrasentence" if STEREOSET.is_file() else "probes:gender",
        "pairs": one["n_examples"],
        "attribute": {"seconds_1": round(one["attribute_seconds"], 1),
                      f"seconds_{args.nproc}": round(many["attribute_seconds"], 1),
                      "speedup": round(one["attribute_seconds"] / many["attribute_seconds"], 2),
                      "max_abs_diff_rel": float((one["scores"] - many["scores"]).abs().max()) / scale},
        "evaluate": {"seconds_1": round(one["evaluate_seconds"], 1),
                     f"seconds_{args.nproc}": round(many["evaluate_seconds"], 1),
                     "speedup": round(one["evaluate_seconds"] / many["evaluate_seconds"], 2), "suites": suites},
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
