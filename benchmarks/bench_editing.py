"""What a neuron edit costs in size and speed: dense mask vs compact_(). Prints JSON.

A mask (hooks or zeroed weights) keeps the dense shape, so the edited model has the base's size
and speed. ``compact`` removes the neurons' rows and columns. On the demo model, the same number
of random neurons is removed from every layer (``--share``) and the dense-masked and compacted
models are timed side by side, alternating, on the same batches; their logits are compared.

    .venv/bin/python benchmarks/bench_editing.py [--share 0.25] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from attributions import NeuronSet
from neuronedit import compact_, load_model, masked, save_edited
from neuronedit.data import load


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.glob("*.safetensors"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--share", type=float, default=0.25, help="share of each layer's neurons removed")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    dense = load_model("demo")
    small = load_model("demo")
    width = dense.sites[0].n_neurons
    per_layer = int(args.share * width)
    generator = torch.Generator().manual_seed(0)
    neurons = NeuronSet((layer, int(j)) for layer in range(dense.n_layers)
                        for j in torch.randperm(width, generator=generator)[:per_layer])
    compact_(small, neurons)
    texts = [item.more for item in load("probes:gender")][: args.batch_size * 4]
    batches = [dense.tokenizer(texts[i : i + args.batch_size], return_tensors="pt", padding=True)
               for i in range(0, len(texts), args.batch_size)]
    times = {"dense_masked": 0.0, "compact": 0.0}
    diff = 0.0
    with torch.no_grad(), masked(dense, neurons):
        for batch in batches:  # warm-up, and the logits check
            diff = max(diff, float((dense.model(**batch).logits - small.model(**batch).logits).abs().max()))
        for _ in range(args.repeats):
            for name, lm in (("dense_masked", dense), ("compact", small)):
                start = time.perf_counter()
                for batch in batches:
                    lm.model(**batch)
                times[name] += time.perf_counter() - start
    n_sentences = args.repeats * len(texts)
    with tempfile.TemporaryDirectory() as tmp:
        save_edited(small, Path(tmp) / "compact")
        with masked(dense, neurons) as edit:
            save_edited(dense, Path(tmp) / "dense", edit)
        sizes = {"dense_masked": _size(Path(tmp) / "dense"), "compact": _size(Path(tmp) / "compact")}
    out = {
        "benchmark": "editing_size_speed", "model": "demo", "threads": torch.get_num_threads(),
        "neurons_removed": len(neurons), "per_layer": per_layer, "mlp_width": [width, width - per_layer],
        "params": {"dense_masked": _params(dense.model), "compact": _params(small.model)},
        "checkpoint_bytes": sizes,
        "sentences_per_s": {k: round(n_sentences / v, 1) for k, v in times.items()},
        "speedup": round(times["dense_masked"] / times["compact"], 2),
        "size_ratio": round(sizes["compact"] / sizes["dense_masked"], 3),
        "max_abs_logit_diff": diff,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
