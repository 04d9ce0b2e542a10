"""``neuronedit compare`` on the demo model with every method: time (limit 30 minutes on 2 cores) and the table.

Runs what ``neuronedit compare --model demo --methods <all> --max-items 100 --ppl-tokens 10000 --out OUT``
runs, in one process (``--max-items`` caps the dev half and every held-out suite; the time follows it):
the neurons are located on the bundled StereoSet gender dev half (grad_x_act, the transfer analysis's
rule and control, k=50) and every method is fitted on that dev half (CDA on
WikiText-2 text outside the perplexity and monitor stretches) and evaluated on the same held-out suites of
gender, race and religion. Writes OUT/compare.html and prints JSON: total and per-method seconds (fit and
evaluation), the baseline evaluation's time, and the summary table.

    python benchmarks/bench_compare.py [--out out/bench_compare] [--methods neurons,leace,...]
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/bench_compare")
    parser.add_argument("--methods", help="comma-separated (default: every name in DEBIAS_METHODS)")
    parser.add_argument("--max-items", type=int, default=100)
    parser.add_argument("--ppl-tokens", type=int, default=10000)
    args = parser.parse_args()

    import torch

    from neuronedit import load_model
    from neuronedit.analysis import DEBIAS_METHODS, compare_methods
    from neuronedit.report.comparison import write_compare_report

    torch.set_num_threads(2)
    started = time.perf_counter()
    lm = load_model("demo")
    loaded = time.perf_counter() - started
    messages: list[str] = []

    def log(message: str) -> None:
        messages.append(f"{time.perf_counter() - started:.0f} s: {message}")
        print(messages[-1], flush=True)

    methods = args.methods.split(",") if args.methods else list(DEBIAS_METHODS)
    result = compare_methods(lm, methods, ("gender",), max_items=args.max_items,
                             ppl_tokens=args.ppl_tokens, log=log)
    command = f"python benchmarks/bench_compare.py --methods {','.join(methods)}"
    report = write_compare_report(result, args.out, command=command)
    total = time.perf_counter() - started
    table = result.table("gender")
    print(json.dumps({
        "total_seconds": round(total, 1), "limit_seconds": 1800, "within_limit": total <= 1800,
        "model_load_seconds": round(loaded, 1), "methods": result.settings["fitted"],
        "compare_seconds": result.settings["seconds"], "threads": torch.get_num_threads(),
        "report": str(report), "log": messages, "table": json.loads(table.to_json(orient="records")),
    }, indent=1))


if __name__ == "__main__":
    main()
