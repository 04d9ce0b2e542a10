"""Benchmark: batched scoring vs the naive one-sentence-at-a-time scorer on StereoSet dev. Prints JSON.

Both score the same sentences in the same process, one after the other, so the ratio is side by
side. Uses ../shared/data's StereoSet dev (the first N clusters; all 4,229 with --clusters 0).

    .venv/bin/python benchmarks/bench_evaluate.py [--clusters 150] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

from neuronedit import load_model
from neuronedit.data import load
from neuronedit.measure.scoring import score_texts

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # after the packages: tests/neuronedit/ is no package to import
from reference import naive_logprob  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clusters", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--data",
                        default=str(ROOT.parent / "shared" / "data" / "stereoset" / "stereoset_dev_flat.jsonl"))
    args = parser.parse_args()
    items = load(f"stereoset:{args.data}")
    if args.clusters:
        items = items[: args.clusters]
    requests = [(i.prefix, s) for i in items for s in (i.stereotype, i.anti_stereotype, i.unrelated)]
    lm = load_model("demo")
    start = time.perf_counter()
    plain = score_texts(lm, requests, batch_size=args.batch_size, share_prefix=False)
    t_plain = time.perf_counter() - start
    start = time.perf_counter()
    batched = score_texts(lm, requests, batch_size=args.batch_size)
    t_batched = time.perf_counter() - start
    start = time.perf_counter()
    naive = np.array([naive_logprob(lm.model, lm.tokenizer, p, t) for p, t in requests])
    t_naive = time.perf_counter() - start
    result = {
        "benchmark": "score_stereoset_dev",
        "clusters": len(items),
        "sentences": len(requests),
        "batch_size": args.batch_size,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "batched_s": round(t_batched, 2),
        "naive_s": round(t_naive, 2),
        "batched_sentences_per_s": round(len(requests) / t_batched, 1),
        "naive_sentences_per_s": round(len(requests) / t_naive, 1),
        "speedup": round(t_naive / t_batched, 2),
        "batched_no_prefix_sharing_s": round(t_plain, 2),
        "speedup_no_prefix_sharing": round(t_naive / t_plain, 2),
        "max_abs_logprob_diff": float(np.abs(batched.logprob - naive).max()),
        "max_abs_logprob_diff_no_sharing": float(np.abs(plain.logprob - naive).max()),
        "stereo_vs_anti_decisions_differing_from_naive": int(
            (np.sign(batched.mean_logprob[0::3] - batched.mean_logprob[1::3])
             != np.sign((naive / batched.n_tokens)[0::3] - (naive / batched.n_tokens)[1::3])).sum()
        ),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
