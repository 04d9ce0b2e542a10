"""Moved: ``Edit`` and the manifest codec live in :mod:`neuronedit.edits.record`.

This module re-exports them so existing imports keep working.
"""

from .edits.record import (
    DELTA_NAME,
    FINGERPRINT,
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    MODES,
    SHA256,
    Edit,
    ManifestError,
    load_manifest,
    parse_manifest,
    save_manifest,
)

__all__ = ["DELTA_NAME", "FINGERPRINT", "MANIFEST_FORMAT", "MANIFEST_NAME", "MODES", "SHA256", "Edit",
           "ManifestError", "load_manifest", "parse_manifest", "save_manifest"]
