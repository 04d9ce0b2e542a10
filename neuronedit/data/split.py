"""Deterministic dev/test halves, by a grouping key so that test items are not near-copies of dev ones."""

from __future__ import annotations

import hashlib

__all__ = ["SPLITS", "part_of", "split_of"]

SPLITS = ("dev", "test")
_PARTS = ("locate", "select")
"""Two parts of a dev half: one to locate neurons on, one to choose settings on (the test half stays unseen)."""


def split_of(group_key: str) -> str:
    """``"dev"`` or ``"test"`` from a stable hash of ``group_key`` (same on every machine)."""
    digest = hashlib.sha256(group_key.encode("utf-8")).digest()
    return SPLITS[digest[0] & 1]


def part_of(group_key: str) -> str:
    """``"locate"`` or ``"select"``: a second, independent bit of the same hash as :func:`split_of`."""
    digest = hashlib.sha256(group_key.encode("utf-8")).digest()
    return _PARTS[digest[1] & 1]
