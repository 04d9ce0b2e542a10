"""A local lm-evaluation-harness task over minimal pairs, for the harness tests (no download)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

TASK = "neuronedit_pairs"


def write_pairs_task(folder: Path, pairs: Iterable[tuple[str, str]]) -> str:
    """Write ``pairs.jsonl`` and ``pairs.yaml`` into ``folder``: a multiple-choice task whose choice 0 is
    the more-biased side (accuracy = share of pairs whose more-biased side has the higher
    log-likelihood). Returns the task name."""
    data = folder / "pairs.jsonl"
    data.write_text("".join(json.dumps({"more": more, "less": less}) + "\n" for more, less in pairs))
    (folder / "pairs.yaml").write_text(f"""task: {TASK}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: ""
target_delimiter: ""
doc_to_choice: "{{{{[more, less]}}}}"
doc_to_target: 0
metric_list:
  - metric: acc
""")
    return TASK
