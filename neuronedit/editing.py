"""Moved: the hook edits (``masked``, ``check_neurons``) live in :mod:`neuronedit.edits.masks`.

This module re-exports them so existing imports keep working.
"""

from .edits.masks import check_neurons, masked

__all__ = ["check_neurons", "masked"]
