"""Moved: the weight edits live in :mod:`neuronedit.edits` (``prune_``, ``scale_``, ``compact_``,
``apply_edit_`` in :mod:`~neuronedit.edits.weights`; ``restoring``, ``temporarily_applied`` in
:mod:`~neuronedit.edits.temporary`; the record of applied edits in :class:`~neuronedit.edits.log.EditLog`).

This module re-exports them so existing imports keep working; ``compact`` and ``apply_edit`` are
deprecated aliases of ``compact_`` and ``apply_edit_``.
"""

from .edits.apply import model_name, require_weights_in_memory
from .edits.compaction import mlp_widths
from .edits.log import APPLIED_KEY, EditLog, applied_edit_ids, edit_history
from .edits.record import EditError
from .edits.temporary import restoring, temporarily_applied
from .edits.weights import apply_edit, apply_edit_, compact, compact_, prune_, scale_

__all__ = [
    "APPLIED_KEY", "EditError", "EditLog", "applied_edit_ids", "apply_edit", "apply_edit_", "compact", "compact_",
    "edit_history", "mlp_widths", "model_name", "prune_", "require_weights_in_memory", "restoring", "scale_",
    "temporarily_applied",
]
