"""Development data shipped inside the package, so the main job runs offline.

``neuronedit/data/bundled/`` holds gzip-compressed (``gzip -9 -n``) copies of

* ``stereoset/stereoset_dev_flat.jsonl.gz``: StereoSet dev, flat JSONL, 4,229 clusters (CC BY-SA 4.0);
* ``winobias/{pro,anti}_stereotyped_type{1,2}.txt.dev.gz``: WinoBias dev, 792 pairs, with the
  occupation lists (MIT);
* ``wikitext2/valid.txt.gz``: the WikiText-2 validation split, tokenized (CC BY-SA 3.0);

each with its licence, a ``README.md`` and ``SHA256SUMS`` (the SHA-256 of every stored file and,
under the name without ``.gz``, of each compressed file's content). ``load("stereoset")`` or
``load("stereoset:bundled")`` (likewise ``winobias`` and ``text``) reads them;
:func:`verify_bundled` checks them against ``SHA256SUMS``.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

from attributions.errors import InputError

__all__ = ["BUNDLED", "BUNDLED_ROOT", "bundled_path", "verify_bundled"]

BUNDLED_ROOT: Path = Path(__file__).resolve().parent / "bundled"
"""The folder of bundled data (a real directory both in editable installs and in an installed wheel)."""

BUNDLED: dict[str, Path] = {
    "stereoset": BUNDLED_ROOT / "stereoset" / "stereoset_dev_flat.jsonl.gz",
    "winobias": BUNDLED_ROOT / "winobias",
    "text": BUNDLED_ROOT / "wikitext2" / "valid.txt.gz",
}
"""Data kind -> its bundled copy (a file, or for ``winobias`` the folder of pro/anti files)."""


def bundled_path(kind: str) -> Path:
    """The bundled copy for data kind ``kind``; ValueError naming the kinds that have one."""
    try:
        return BUNDLED[kind]
    except KeyError:
        raise InputError(
            f"no bundled data for {kind!r}; bundled data exists for {', '.join(BUNDLED)}"
        ) from None


def _sha256(path: Path, *, uncompressed: bool = False) -> str:
    digest = hashlib.sha256()
    with (gzip.open(path, "rb") if uncompressed else open(path, "rb")) as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def verify_bundled(root: Path | None = None) -> None:
    """Check every file listed in ``root/SHA256SUMS`` (default: the package's bundled folder).

    A listed name that exists is checked byte for byte; a listed name that does not exist but
    whose ``.gz`` does is the uncompressed content of that ``.gz``. Raises ValueError naming the
    file when a checksum differs, a listed file is missing or a ``.gz`` file is not listed.
    """
    root = Path(root) if root is not None else BUNDLED_ROOT
    sums = root / "SHA256SUMS"
    if not sums.is_file():
        raise InputError(f"no SHA256SUMS in {root}")
    listed = set()
    for number, raw in enumerate(sums.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        expected, sep, name = line.partition("  ")
        if not sep or len(expected) != 64 or not name:
            raise InputError(f"{sums}, line {number}: expected 'SHA256  relative/path'")
        name = name.lstrip("*")
        listed.add(name)
        path = root / name
        if path.is_file():
            actual, what = _sha256(path), name
        elif (gz := root / f"{name}.gz").is_file():
            try:
                actual, what = _sha256(gz, uncompressed=True), f"{name}.gz (uncompressed content)"
            except (OSError, EOFError) as err:
                raise InputError(f"bundled file {name}.gz is not a readable gzip file ({err})") from None
        else:
            raise InputError(f"bundled file {name} listed in {sums} is missing")
        if actual != expected.lower():
            raise InputError(f"bundled file {what} does not match its SHA-256 in {sums} "
                             f"(expected {expected}, found {actual})")
    unlisted = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.gz")
                      if p.relative_to(root).as_posix() not in listed)
    if unlisted:
        raise InputError(f"bundled file(s) {', '.join(unlisted)} not listed in {sums}")
