"""Reproducible outputs: the one rule for wall-clock data in the files this toolkit writes (standard library only).

Every output is a deterministic function of its inputs: two runs with the same model, data,
settings and seed write byte-identical files. So no output carries a date, a duration or a
run-dependent id. Durations are still measured and kept in memory, under the keys in
:data:`TIMING_KEYS` (``meta["seconds"]`` of scores and explanations, ``provenance["seconds"]`` of an
unlearning edit, ``settings["seconds"]`` and ``settings["fitted"][...]["fit_seconds"]`` of a transfer
or comparison result). When a result is saved they are split off (:func:`split_timings`):

- in an output folder (a checkpoint, a transfer or comparison report, an explain folder) they go to
  ``timings.json`` (:data:`TIMINGS_NAME`) beside the outputs, under the name of the file they were
  taken from and at the same place as there (list items by position): the one file that differs
  between runs (:func:`write_timings`);
- a file with no folder of its own (a scores file, :func:`neuronedit.edits.save_manifest` without
  ``timings=True``) drops them.

Figures are written in one place, :func:`neuronedit.report.plots.save_figure`, with a fixed SVG hash
salt and no date in the metadata.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .files import atomic_file

__all__ = ["TIMINGS_NAME", "TIMING_KEYS", "split_timings", "write_timings"]

TIMING_KEYS = frozenset({"seconds", "fit_seconds"})
"""Keys whose values are durations: kept in memory, never in an output file."""
TIMINGS_NAME = "timings.json"


def split_timings(value: Any) -> tuple[Any, dict[str, Any]]:
    """``(value without the timing keys, the timings taken out)``, through nested dicts and lists.

    The timings keep the nesting of ``value`` (a list item under its position as a string); ``{}``
    when there were none. Tuples come back as lists, as JSON writes them."""
    if isinstance(value, Mapping):
        stable: dict[Any, Any] = {}
        timings: dict[str, Any] = {}
        for key, item in value.items():
            if key in TIMING_KEYS:
                timings[key] = item
                continue
            stable[key], inner = split_timings(item)
            if inner:
                timings[str(key)] = inner
        return stable, timings
    if isinstance(value, (list, tuple)):
        parts = [split_timings(item) for item in value]
        return [part[0] for part in parts], {str(i): part[1] for i, part in enumerate(parts) if part[1]}
    return value, {}


def write_timings(folder: str | os.PathLike[str], source: str, timings: Mapping[str, Any]) -> Path | None:
    """Record the ``timings`` split off the file ``source`` in ``folder/timings.json``, atomically.

    Entries of other files already there are kept; without timings, ``source``'s entry is removed
    (and no file is written when none is left). Returns the path written, or None."""
    path = Path(folder) / TIMINGS_NAME
    entries: dict[str, Any] = {}
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
        entries = old if isinstance(old, dict) else {}
    except (OSError, ValueError, RecursionError):  # none yet, or not ours to keep
        pass
    entries.pop(source, None)
    if timings:
        entries[source] = dict(timings)
    if not entries:
        path.unlink(missing_ok=True)
        return None
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(entries, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path
