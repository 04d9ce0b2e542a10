"""Moved: ``save_edited`` lives in :mod:`neuronedit.edits.checkpoint`.

This module re-exports it so existing imports keep working.
"""

from .edits.checkpoint import save_edited

__all__ = ["save_edited"]
