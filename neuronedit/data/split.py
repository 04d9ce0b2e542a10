"""Deterministic dev/test halves, by a grouping key so that test items are not near-copies of dev ones."""

from __future__ import annotations

import hashlib

__all__ = ["SPLITS", "split_of"]

SPLITS = ("dev", "test")


def split_of(group_key: str) -> str:
    """``"dev"`` or ``"test"`` from a stable hash of ``group_key`` (same on every machine)."""
    digest = hashlib.sha256(group_key.encode("utf-8")).digest()
    return SPLITS[digest[0] & 1]
