"""Benchmark: per-token costs of the demo model, and what they imply for a 7B model on one 80 GB GPU. Prints JSON.

Measured here (demo model, this CPU): seconds per token of the forward pass, of grad_x_act and of
integrated gradients (per step), and the bytes autograd saves per token per layer for the
backward pass (``attributions.memory.estimate_pass_memory``). Derived for Llama-2-7B's shape:

- compute: forward FLOPs per token ~ 2 x (matmul parameters), attention ignored (sentences are
  short); each method costs the measured multiple of a forward pass on the demo model; the
  GPU runs at ``--gpu-tflops`` x ``--utilization``.
- memory: weights at the chosen dtype; activations autograd saves per token per layer, scaled
  from the demo by the ratio of ``4 d + 2 d_kv + 3 d_ff`` (the tensors a frozen-weight Llama
  block keeps for an input gradient: norms, attention inputs and output, the three MLP
  activations), times the demo's measured ratio of a pass's peak to its saved tensors (backward
  temporaries and logits).

    .venv/bin/python benchmarks/bench_scaling.py [--pairs 64] [--ig-pairs 8] [--examples 10000]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from attributions import PairPreference, attribute
from attributions.forward import collate, group_rows, row_values
from attributions.memory import _probe, _saved_bytes, estimate_pass_memory
from neuronedit import load_model
from neuronedit.data import load

ROOT = Path(__file__).resolve().parents[1]
STEREOSET = ROOT.parent / "shared" / "data" / "stereoset" / "stereoset_dev_flat.jsonl"

LLAMA2_7B = {"hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32,
             "num_key_value_heads": 32, "vocab_size": 32000, "tie_word_embeddings": False}


def _shape(config: dict) -> dict[str, float]:
    d, ff, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    kv = d * config["num_key_value_heads"] // config["num_attention_heads"]
    per_layer = 2 * d * d + 2 * d * kv + 3 * d * ff  # q, o; k, v; gate, up, down
    return {"layers": layers, "matmul_params": layers * per_layer + d * config["vocab_size"],
            "params": layers * per_layer + d * config["vocab_size"] * (1 if config["tie_word_embeddings"] else 2),
            "saved_units_per_layer": 4 * d + 2 * kv + 3 * ff}


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--ig-pairs", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--examples", type=int, default=10_000, help="pairs in the 7B worked example")
    parser.add_argument("--gpu-memory-gb", type=float, default=80)
    parser.add_argument("--gpu-tflops-fp32", type=float, default=19.5, help="A100 fp32 peak (no TF32)")
    parser.add_argument("--gpu-tflops-bf16", type=float, default=312, help="A100 bf16 dense peak")
    parser.add_argument("--utilization", type=float, default=0.4, help="assumed share of peak reached")
    args = parser.parse_args()
    if STEREOSET.is_file():
        items = [i for i in load(f"stereoset:{STEREOSET}", bias_type="gender") if i.kind == "intrasentence"]
    else:
        items = list(load("probes:gender"))
    lm = load_model("demo")
    lm.fingerprint()
    config = lm.model.config.to_dict()
    demo, big = _shape(config), _shape(LLAMA2_7B)
    objective = PairPreference(items[: args.pairs])
    encoded = objective.encode(lm.tokenizer)
    batches = [collate(rows, lm.tokenizer.pad_token_id) for rows in group_rows(encoded.rows, 16)]
    tokens = int(sum(int(b.mask.sum()) for b in batches))
    ig_objective = PairPreference(items[: args.ig_pairs])
    ig_tokens = sum(len(r.ids) for r in ig_objective.encode(lm.tokenizer).rows)

    # memory first, in a fresh process: the probe's peak resident size is only visible before
    # earlier work has left freed memory with the allocator
    widest = max(batches, key=lambda b: b.ids.shape[1])
    estimate = estimate_pass_memory(lm.model, lm.sites, widest, first_layer=0, rows=8)  # measured peak per row
    saved_per_token = _saved_bytes(lm.model, lm.sites, _probe(widest, 8), 0) / 8 / estimate.width
    peak_over_saved = estimate.per_row / estimate.width / saved_per_token
    with torch.no_grad():
        t_forward = _seconds(lambda: [row_values(lm.model, b) for b in batches])
    t_gxa = _seconds(lambda: attribute(lm, objective, "grad_x_act", batch_size=16)) - _seconds(lm.fingerprint)
    t_ig = _seconds(lambda: attribute(lm, ig_objective, "integrated_gradients", steps=args.steps, batch_size=16,
                                      internal_batch_size=64)) - _seconds(lm.fingerprint)
    per_token = {"forward": t_forward / tokens, "grad_x_act": t_gxa / tokens,
                 "integrated_gradients": t_ig / ig_tokens}
    cost_in_forwards = {k: v / per_token["forward"] for k, v in per_token.items()}
    cpu_flops = 2 * demo["matmul_params"] / per_token["forward"]

    # --- 7B on one GPU -------------------------------------------------------------------------------
    tokens_per_pair = tokens / len(encoded.kept)
    work_tokens = args.examples * tokens_per_pair
    flops_fwd = 2 * big["matmul_params"]
    saved_big = saved_per_token / demo["layers"] * big["saved_units_per_layer"] / demo["saved_units_per_layer"]
    gib = 1 << 30
    cases = {}
    for dtype, size, tflops in (("float32", 4, args.gpu_tflops_fp32), ("bfloat16", 2, args.gpu_tflops_bf16)):
        rate = tflops * 1e12 * args.utilization
        weights = big["params"] * size
        per_token_layer = saved_big * peak_over_saved * size / 4  # the demo ran in float32
        free = args.gpu_memory_gb * 1e9 - weights - 2 * gib  # 2 GiB for the CUDA context and logits
        cases[dtype] = {
            "weights_gb": round(weights / 1e9, 1),
            "peak_mb_per_token_all_layers": round(per_token_layer * big["layers"] / 1e6, 2),
            "max_tokens_in_flight": int(free / (per_token_layer * big["layers"])),
            "max_internal_batch_size_rows": int(free / (per_token_layer * big["layers"] * tokens_per_pair / 2)),
            "grad_x_act_minutes": round(work_tokens * flops_fwd * cost_in_forwards["grad_x_act"] / rate / 60, 1),
            "integrated_gradients_hours": round(
                work_tokens * flops_fwd * cost_in_forwards["integrated_gradients"] * big["layers"] / demo["layers"]
                / rate / 3600, 1),
        }
    out = {
        "benchmark": "scaling", "threads": torch.get_num_threads(),
        "measured_demo": {
            "pairs": len(encoded.kept), "tokens": tokens, "tokens_per_pair": round(tokens_per_pair, 1),
            "ms_per_token": {k: round(1e3 * v, 3) for k, v in per_token.items()},
            "cost_in_forward_passes": {k: round(v, 2) for k, v in cost_in_forwards.items()},
            "ig_steps": args.steps, "achieved_cpu_gflops": round(cpu_flops / 1e9, 1),
            "saved_kb_per_token_per_layer": round(saved_per_token / demo["layers"] / 1024, 1),
            "peak_over_saved": round(peak_over_saved, 2), "estimate_how": estimate.how,
            "weights_mb": round(estimate.weights / 1e6, 1), "matmul_params_m": round(demo["matmul_params"] / 1e6, 1),
        },
        "estimate_7b": {
            "model": "Llama-2-7B shape", "params_b": round(big["params"] / 1e9, 2),
            "flop_ratio_vs_demo": round(big["matmul_params"] / demo["matmul_params"], 1),
            "examples": args.examples, "gpu_memory_gb": args.gpu_memory_gb, "utilization": args.utilization,
            "gpu_tflops": {"float32": args.gpu_tflops_fp32, "bfloat16": args.gpu_tflops_bf16},
            "saved_per_token_scale_vs_demo": round(big["saved_units_per_layer"] / demo["saved_units_per_layer"], 1),
            **cases,
        },
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
