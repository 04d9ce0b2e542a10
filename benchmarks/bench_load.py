"""Benchmark: demo-model load times (GGUF conversion vs cached safetensors). Prints JSON.

Each measurement runs in a fresh process so that nothing is warm; library import time is
reported separately from the load itself.

    .venv/bin/python benchmarks/bench_load.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import torch, transformers
import neuronedit
t1 = time.perf_counter()
lm = neuronedit.load_model(sys.argv[1])
t2 = time.perf_counter()
print(json.dumps({"source": lm.source, "import_s": round(t1 - t0, 3), "load_s": round(t2 - t1, 3),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
"""


def _run(spec: str, env: dict[str, str]) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", CHILD, spec], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    from neuronedit.model.demo import demo_gguf_path

    gguf = str(demo_gguf_path())
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "NEURONEDIT_CACHE": tmp}
        first = _run(gguf, env)  # converts GGUF -> safetensors into an empty cache
        second = _run(gguf, env)  # loads the cached copy
    result = {
        "benchmark": "load_demo_model",
        "gguf_bytes": Path(gguf).stat().st_size,
        "first_load_gguf": first,
        "second_load_cache": second,
        "speedup_load": round(float(first["load_s"]) / float(second["load_s"]), 1),
        "cpu_threads": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
