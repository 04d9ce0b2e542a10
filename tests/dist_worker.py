"""Run by tests/attributions/test_distributed.py, with plain ``python`` (one process) or under ``torchrun``.

Scores every method and evaluates every suite kind on a tiny checkpoint, then each rank saves
what it got to ``OUT/rank{r}.pt`` so the test can compare ranks and process counts.
Usage: ``dist_worker.py MODEL_DIR OUT_DIR``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from attributions import PairPreference, attribute
from attributions.distributed import init_from_env, rank, world_size
from neuronedit.data import load
from neuronedit.measure.evaluation import evaluate
from neuronedit.model.loading import load_model

FIXTURES = Path(__file__).parent / "fixtures"


def main(model_dir: str, out_dir: str) -> None:
    init_from_env()
    lm = load_model(model_dir)
    pairs = list(load("probes:gender", split="dev"))[:18]
    objective = PairPreference(pairs)
    result: dict[str, object] = {"world": world_size()}
    for method, options in [("grad_x_act", {}), ("integrated_gradients", {"steps": 3, "internal_batch_size": 8}),
                            ("activation", {}), ("ablation", {"mode": "mean"})]:
        scores = attribute(lm, objective, method, batch_size=4, **options)
        result[method] = (scores.scores, scores.std, scores.consistency)
    # 3 batches of 6 examples, each split over the ranks
    mask = attribute(lm, objective, "learned_mask", batch_size=6, steps=6, budget=4,
                     retain=[p.more for p in pairs[-4:]], keep=[PairPreference(pairs[:3])])
    result["learned_mask"] = (mask.scores, torch.tensor(mask.meta["history"]["rows"]))
    suites = [f"crows:{FIXTURES / 'crows_small.csv'}", f"stereoset:{FIXTURES / 'stereoset_flat.jsonl'}",
              f"bbq:{FIXTURES / 'bbq_small.jsonl'}", "probes:race", f"text:{FIXTURES / 'text_small.txt'}"]
    evaluation = evaluate(lm, suites, batch_size=3, n_boot=200, progress=False, text_window=8, text_stride=4)
    result["evaluation"] = [(r.suite, r.bias_type, {k: v.tolist() for k, v in r.data.items()},
                             None if r.decision is None else r.decision.tolist(),
                             {m: (i.value, i.low, i.high) for m, i in r.intervals.items()})
                            for r in evaluation.results]
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    torch.save(result, Path(out_dir) / f"rank{rank()}.pt")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
