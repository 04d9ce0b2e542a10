"""Where an edit came from: hashes of the data files named by ``KIND:PATH`` specs."""

from __future__ import annotations

from pathlib import Path

from ..model.cache import file_sha256

__all__ = ["data_hashes"]


def data_hashes(*specs: str | None) -> dict[str, str]:
    """``{spec: sha256 of the file}`` for ``KIND:PATH`` specs naming files; the bundled copies
    (``stereoset``, ``KIND:bundled``) are hashed like files; built-in probes are marked ``"built-in"``;
    a folder gets the hash of its sorted file hashes."""
    import hashlib

    from .bundled import BUNDLED

    out: dict[str, str] = {}
    for spec in specs:
        if not spec:
            continue
        kind, _, path = spec.partition(":")
        if kind in BUNDLED and path in ("", "bundled"):
            path = str(BUNDLED[kind])
        elif kind == "probes" or not path:
            out[spec] = "built-in"
            continue
        p = Path(path)
        if p.is_file():
            out[spec] = file_sha256(p)
        elif p.is_dir():
            digest = hashlib.sha256()
            for f in sorted(q for q in p.rglob("*") if q.is_file()):
                digest.update(f"{f.relative_to(p)}:{file_sha256(f)}".encode())
            out[spec] = digest.hexdigest()
    return out
