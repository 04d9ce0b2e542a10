"""``text:`` perplexity input with a token limit: the streamed path against reading and tokenizing the
whole file (the behaviour before streaming), side by side, each in its own process so that peak RSS
(``resource.getrusage``) is its own.

Writes a ~50 MB text file (the bundled WikiText-2 validation text, repeated) to a temporary folder,
then loads and tokenizes it with ``max_tokens=200`` using the demo model's tokenizer (from the
neuronedit cache; a small offline word-level tokenizer when it is absent). Prints JSON.

    python benchmarks/bench_text_stream.py [--mb 50] [--max-tokens 200]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _tokenizer() -> tuple[Any, str]:
    """The demo tokenizer (cached checkpoint, else ``load_model('demo')``), else a tiny word-level one."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    from neuronedit.model.cache import cache_dir

    for folder in sorted(cache_dir("models").glob("*/tokenizer.json")):
        return AutoTokenizer.from_pretrained(folder.parent), folder.parent.name
    try:
        from neuronedit.model.loading import load_model

        return load_model("demo").tokenizer, "demo"
    except Exception:  # noqa: BLE001 - any failure: fall back to an offline tokenizer
        from tokenizers import Tokenizer, models, pre_tokenizers

        words = {w: i for i, w in enumerate(["[UNK]", "the", "of", "and", "in", "to", "a", ",", "."])}
        tok = Tokenizer(models.WordLevel(vocab=words, unk_token="[UNK]"))
        tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]"), "tiny-word-level"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(mode: str, path: Path, max_tokens: int) -> dict[str, Any]:
    """Load and tokenize ``path`` one way; seconds and peak RSS of this process."""
    from neuronedit.data import load
    from neuronedit.measure.language import token_ids

    tokenizer, name = _tokenizer()
    tokenizer.model_max_length = 10**12  # no "sequence too long" warning for the whole-file path
    before = _rss_mb()
    start = time.perf_counter()
    corpus = load(f"text:{path}")
    text = corpus.chunks() if mode == "streamed" else corpus.text  # whole text: read, tokenize, then cut
    ids = token_ids(tokenizer, text, max_tokens)
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 3), "peak_rss_mb": round(_rss_mb(), 1),
            "rss_before_mb": round(before, 1), "tokens": int(ids.numel()), "tokenizer": name,
            "ids_sha256": hashlib.sha256(str(ids.tolist()).encode()).hexdigest()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=50.0, help="size of the text file in MB")
    parser.add_argument("--max-tokens", type=int, default=200)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]), args.max_tokens)))
        return
    from neuronedit.data import load

    sample = load("text:bundled").text.encode("utf-8")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.txt"
        with open(path, "wb") as handle:
            for _ in range(int(args.mb * 1e6 / len(sample)) + 1):
                handle.write(sample)
        out: dict[str, Any] = {"file_mb": round(path.stat().st_size / 1e6, 1), "max_tokens": args.max_tokens}
        for mode in ("streamed", "whole_file"):
            run = subprocess.run([sys.executable, __file__, "--child", mode, str(path), "--max-tokens",
                                  str(args.max_tokens)], capture_output=True, text=True, check=True)
            out[mode] = json.loads(run.stdout.strip().splitlines()[-1])
    same = out["streamed"].pop("ids_sha256") == out["whole_file"].pop("ids_sha256")
    out["same_ids"] = same and out["streamed"]["tokens"] == out["whole_file"]["tokens"]
    out["speedup"] = round(out["whole_file"]["seconds"] / max(out["streamed"]["seconds"], 1e-9), 1)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
