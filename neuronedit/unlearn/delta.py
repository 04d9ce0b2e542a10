"""Moved: the weight delta of an unlearning edit lives in :mod:`neuronedit.edits.delta`.

This module re-exports it so existing imports keep working.
"""

from ..edits.delta import add_delta, delta_bytes, make_delta

__all__ = ["add_delta", "delta_bytes", "make_delta"]
