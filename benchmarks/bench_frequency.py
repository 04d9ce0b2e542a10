"""A frequency-only edit against the old and the new race score on the demo model. Prints JSON.

The edit (:func:`neuronedit.measure.diagnostics.logit_shift`) lowers the logit of the first token of every
stereotyped group word (" Black", " Hispanic", " Asian", " Arab") by ``--shift`` nats at the positions
whose input token is one of the words that precede a group word in the probe templates ("The", " the",
"My", "Our", "Her", "His", " new"). It makes those words rarer exactly where they are predicted and
changes nothing else, so no association moves. The race probes' test half is scored with and without it.

    .venv/bin/python benchmarks/bench_frequency.py [--shift 2.0]
"""

from __future__ import annotations

import argparse
import json

from neuronedit import evaluate, load_model
from neuronedit.data import load
from neuronedit.measure.diagnostics import logit_shift

GROUPS = (" Black", " Hispanic", " Asian", " Arab")
BEFORE_GROUP = ("The", " the", "My", "Our", "Her", "His", " new")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shift", type=float, default=2.0)
    args = parser.parse_args()
    lm = load_model("demo")
    first = {word: lm.tokenizer(word, add_special_tokens=False)["input_ids"][0] for word in GROUPS}
    triggers = [lm.tokenizer(word, add_special_tokens=False)["input_ids"][-1] for word in BEFORE_GROUP]
    suite = load("probes:race", split="test")
    out = {"shift": -args.shift, "group_tokens": {w: lm.tokenizer.decode([t]) for w, t in first.items()}}
    for name, context in (("unedited", None), ("frequency-only edit", -args.shift)):
        if context is None:
            result = evaluate(lm, [suite], progress=False).results[0]
        else:
            with logit_shift(lm, dict.fromkeys(first.values(), context), triggers):
                result = evaluate(lm, [suite], progress=False).results[0]
        out[name] = {m: {"value": round(i.value, 2), "ci": [round(i.low, 2), round(i.high, 2)]}
                     for m, i in result.intervals.items()}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
