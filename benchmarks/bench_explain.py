"""``neuronedit explain`` on the demo model: the 50 default gender neurons over 20,000 WikiText-2 tokens.

Locates the neurons as `make demo` does (grad_x_act on the bundled StereoSet gender dev half,
rule and control of the transfer analysis, k=50; the attribution scores are cached in a temporary
file between runs of this script only when --scores is given), then times, in one process:

* ``explain``: vocabulary projection, top contexts (one pass over the corpus for all neurons) and
  the bias view on the located pairs (a second pass, over both sides of every pair);
* top contexts alone, and their physical floor: one plain forward pass of the same windows through
  the same layers (top contexts cannot be cheaper than reading the activations once).

Memory: top contexts run in a fresh process for a quarter of the corpus and for all of it; each
reports its peak RSS after loading the model and after the pass. Equal growth for both sizes shows
that memory does not follow the corpus. With --screenshot, headless Chromium renders explain.html to a
PNG (no network: the page has no external resources). Prints JSON.

    python benchmarks/bench_explain.py [--tokens 20000] [--k 50] [--out out/bench_explain] [--screenshot]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import time
from pathlib import Path

import torch


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _locate(lm, k: int, scores_file: Path | None):
    from attributions import NeuronScores, PairPreference, attribute
    from attributions.selection import DEFAULT_RULE, select
    from neuronedit.analysis.transfer import domains_from, objective_span
    from neuronedit.locate.control_scores import DEFAULT_CONTROL, control_scores

    domain = domains_from(["gender"], "stereoset")[0]
    if scores_file is not None and scores_file.is_file():
        scores = NeuronScores.load(scores_file)
    else:
        scores = attribute(lm, PairPreference(domain.attribution, span=objective_span(domain, "all")), "grad_x_act")
        scores.control = control_scores(lm, DEFAULT_CONTROL, domain="gender")
        if scores_file is not None:
            scores.save(scores_file)
    return select(scores, k, DEFAULT_RULE), scores, domain.attribution


@torch.no_grad()
def _forward_floor(lm, neurons, windows, batch_size: int = 8) -> float:
    """Seconds of a plain forward over the windows, stopped after the last layer the neurons are in."""
    from attributions.forward import pad_rows
    from attributions.hooks import stop_before

    last = lm.sites[max(layer for layer, _ in neurons)]
    start = time.perf_counter()
    for first in range(0, len(windows), batch_size):
        chunk = windows[first : first + batch_size]
        ids, mask = pad_rows([[lm.tokenizer.bos_token_id or 0, *window] for window in chunk], lm.pad_id)
        with stop_before(last.module):
            lm.model(input_ids=ids, attention_mask=mask)
    return time.perf_counter() - start


def _child_peak(neurons_file: Path, tokens: int) -> dict[str, float]:
    """Peak RSS (MB) of a fresh process after loading the model, and after top contexts over ``tokens``."""
    import sys

    done = subprocess.run([sys.executable, __file__, "--child", str(tokens), "--neurons", str(neurons_file)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _child(tokens: int, neurons_file: str) -> None:
    from attributions import NeuronSet
    from neuronedit import load_model
    from neuronedit.data import load
    from neuronedit.explain import corpus_windows, top_contexts

    lm = load_model("demo")
    neurons = NeuronSet.load(neurons_file)
    loaded = _rss_mb()
    top_contexts(lm, neurons, corpus_windows(lm.tokenizer, load("text").chunks(), max_tokens=tokens))
    print(json.dumps({"after_load": round(loaded), "after_top_contexts": round(_rss_mb())}))


def _screenshot(page: Path, png: Path) -> str | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        return None
    profile = png.parent / "chromium-profile"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={profile}", "--window-size=1200,1600", f"--screenshot={png}",
                    page.resolve().as_uri()], check=True, capture_output=True, timeout=120)
    shutil.rmtree(profile, ignore_errors=True)
    return str(png)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--out", default="out/bench_explain")
    parser.add_argument("--scores", help="cache the located scores in this file")
    parser.add_argument("--screenshot", action="store_true")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--neurons", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        _child(args.child, args.neurons)
        return
    torch.set_num_threads(max(1, torch.get_num_threads()))
    from neuronedit import load_model
    from neuronedit.data import load
    from neuronedit.explain import corpus_windows, explain, top_contexts
    from neuronedit.explain.html import write_html

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lm = load_model("demo")
    tick = time.perf_counter()
    neurons, scores, pairs = _locate(lm, args.k, Path(args.scores) if args.scores else None)
    locate_s = time.perf_counter() - tick
    tick = time.perf_counter()
    explanation = explain(lm, neurons, domain="gender", max_tokens=args.tokens, pairs=pairs, scores=scores)
    explain_s = time.perf_counter() - tick
    neurons.save(out / "neurons.json")
    memory = {str(n): _child_peak(out / "neurons.json", n) for n in (args.tokens // 4, args.tokens)}
    windows = corpus_windows(lm.tokenizer, load("text").chunks(), max_tokens=args.tokens)
    tick = time.perf_counter()
    top_contexts(lm, neurons, windows)
    top_s = time.perf_counter() - tick
    floor_s = _forward_floor(lm, neurons, windows)
    page = write_html(explanation, out / "explain.html", title=f"{len(neurons)} gender neurons of SmolLM2-135M")
    (out / "explain.json").write_text(json.dumps(explanation.to_dict(), indent=1))
    png = _screenshot(page, out / "explain.png") if args.screenshot else None
    top = explanation.cards[0]
    print(json.dumps({
        "model": lm.name, "neurons": len(neurons), "tokens": explanation.meta["tokens"],
        "threads": torch.get_num_threads(), "locate_seconds": round(locate_s, 1),
        "explain_seconds": round(explain_s, 1), "top_contexts_seconds": round(top_s, 1),
        "forward_floor_seconds": round(floor_s, 1), "top_contexts_over_floor": round(top_s / floor_s, 2),
        "bias_view_pairs": len(pairs), "memory": memory, "summary": explanation.summary_line(),
        "top_card": {"name": top.name, "tag": top.tagging.tag, "evidence": top.tagging.describe(),
                     "promoted": [t.token for t in top.projection.promoted],
                     "contexts": [c.text for c in top.contexts[:3]]},
        "html": str(page), "screenshot": png,
    }, indent=1))


if __name__ == "__main__":
    main()
