"""Everything an edit is and does.

Modules, lowest first (each imports only those above it):

- :mod:`.record`: the :class:`Edit` record, its errors, the ``neuronedit.json`` manifest codec.
- :mod:`.log`: :class:`EditLog`, the edits applied to a model (ids saved in its config).
- :mod:`.masks`: reversible hook edits, :func:`masked`.
- :mod:`.learned`: a learned mask's gate values as per-neuron scale factors, :func:`learned_scale`.
- :mod:`.delta`: the weight delta of an unlearning edit.
- :mod:`.compaction`: narrowing the MLPs (the surgery of a ``compact`` edit).
- :mod:`.apply`: writing an edit into the weights and committing it to the log.
- :mod:`.temporary`: :func:`restoring` and :func:`temporarily_applied`.
- :mod:`.weights`: the in-place editors :func:`prune_`, :func:`scale_`, :func:`compact_`, :func:`apply_edit_`.
- :mod:`.checkpoint`: :func:`save_edited`.

This package imports nothing from ``neuronedit.analysis``, ``neuronedit.unlearn`` or the CLI.
"""

from .checkpoint import save_edited
from .compaction import mlp_widths
from .delta import add_delta, delta_bytes, make_delta
from .learned import learned_scale
from .log import APPLIED_KEY, EditLog
from .masks import check_neurons, masked
from .record import (
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    MODES,
    Edit,
    EditError,
    ManifestError,
    load_manifest,
    parse_manifest,
    save_manifest,
)
from .temporary import restoring, temporarily_applied
from .weights import apply_edit_, compact_, prune_, scale_

__all__ = [
    "APPLIED_KEY",
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "MODES",
    "Edit",
    "EditError",
    "EditLog",
    "ManifestError",
    "add_delta",
    "apply_edit_",
    "check_neurons",
    "compact_",
    "delta_bytes",
    "learned_scale",
    "load_manifest",
    "make_delta",
    "masked",
    "mlp_widths",
    "parse_manifest",
    "prune_",
    "restoring",
    "save_edited",
    "save_manifest",
    "scale_",
    "temporarily_applied",
]
