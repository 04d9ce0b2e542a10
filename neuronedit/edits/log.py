"""``EditLog``: the record of the edits applied to a model's weights.

The log has three parts, all kept on the Hugging Face module and reached only through
:meth:`EditLog.of`:

- ``applied_ids``: ids of the edits in the weights, in order. They live in the config
  attribute ``neuronedit_edits`` (:data:`APPLIED_KEY`), so they are saved with the checkpoint's
  ``config.json`` and come back on reload; replaying skips them, which makes replay idempotent.
- ``history``: the :class:`Edit` records applied in this session (what ``save_edited`` writes
  to the manifest).
- ``deltas``: the weight-delta bytes of unlearning edits made or replayed in this session, by
  file name (content-addressed, so they outlive :meth:`EditLog.kept`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Any

from torch import nn

from attributions import LanguageModel

from .record import Edit, EditError

__all__ = ["APPLIED_KEY", "EditLog"]

APPLIED_KEY = "neuronedit_edits"
"""``config`` attribute listing the ids of the edits applied to the weights, in order (on-disk format)."""

_SLOT = "_neuronedit_log"
"""Key of the log in the module's ``__dict__``."""


class EditLog:
    """The edits applied to one model: ids (saved in its config), records and weight deltas.

    Get it with :meth:`EditLog.of`; change it only with :meth:`record` (and :meth:`kept`).
    """

    def __init__(self, config: Any) -> None:
        self._config = config  # the module's PretrainedConfig; no reference back to the module
        self._history: list[Edit] = []
        self._deltas: dict[str, bytes] = {}

    @classmethod
    def of(cls, model: LanguageModel | nn.Module) -> EditLog:
        """The log of ``model`` (a :class:`LanguageModel` or Hugging Face module), created on first use."""
        module = model.model if isinstance(model, LanguageModel) else model
        log = module.__dict__.get(_SLOT)
        if not isinstance(log, cls):
            log = module.__dict__[_SLOT] = cls(module.config)
        log._config = module.config  # follow a replaced config
        return log

    @property
    def applied_ids(self) -> list[str]:
        """Ids of the edits already in these weights (from ``config.neuronedit_edits``), oldest first."""
        ids = getattr(self._config, APPLIED_KEY, None)
        if ids is None:
            return []
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            folder = getattr(self._config, "_name_or_path", "") or "the checkpoint"
            raise EditError(f"{Path(folder) / 'config.json'} has {APPLIED_KEY} = {str(ids)[:60]}, not a list of edit "
                            "ids (strings): it was changed by hand or damaged; restore it, or remove the key from a "
                            "checkpoint that carries no edit")
        return list(ids)

    @property
    def history(self) -> list[Edit]:
        """The :class:`Edit` records applied in this session, oldest first (a copy)."""
        return list(self._history)

    @property
    def deltas(self) -> Mapping[str, bytes]:
        """Safetensors bytes of the unlearning deltas known in this session, by file name (read-only)."""
        return MappingProxyType(self._deltas)

    def __contains__(self, edit: Edit | str) -> bool:
        """Whether an edit (or id) is already applied to the weights."""
        return (edit.id if isinstance(edit, Edit) else edit) in self.applied_ids

    def record(self, edit: Edit, delta_bytes: bytes | None = None) -> None:
        """Note that ``edit`` was just applied to the weights; ``delta_bytes`` are the bytes of its
        weight-delta file (unlearning edits), kept so the edit can be saved or re-applied later."""
        if delta_bytes is not None:
            if not edit.delta:
                raise ValueError(f"a {edit.mode} edit has no weight delta to record")
            self._deltas[edit.delta] = delta_bytes
        self._config.__dict__[APPLIED_KEY] = [*self.applied_ids, edit.id]
        self._history.append(edit)

    @contextmanager
    def kept(self) -> Iterator[EditLog]:
        """Restore the applied ids and the history on exit (also after an exception).

        Weight deltas stay: they are named by content, and an edit made inside the block (e.g.
        ``unlearn`` within ``restoring``) can still be saved or applied afterwards."""
        had_ids = APPLIED_KEY in self._config.__dict__
        ids = self._config.__dict__.get(APPLIED_KEY)
        ids = list(ids) if isinstance(ids, list) else ids
        history = list(self._history)
        try:
            yield self
        finally:
            if had_ids:
                self._config.__dict__[APPLIED_KEY] = ids
            else:
                self._config.__dict__.pop(APPLIED_KEY, None)
            self._history[:] = history

    def __repr__(self) -> str:
        return f"EditLog(applied={self.applied_ids}, history={len(self._history)}, deltas={sorted(self._deltas)})"

