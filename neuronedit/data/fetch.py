"""Download the public benchmark files (for users who are online), with SHA-256 checks.

Every file is downloaded to a temporary name and renamed into place only when complete and,
where a checksum is pinned, matching it. ``SHA256SUMS`` in the destination records what was
fetched; a later fetch verifies existing files against it and re-downloads damaged ones.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from attributions.errors import InputError, NeuronEditError
from attributions.files import home_path

from ..model.cache import file_sha256

__all__ = ["DATASETS", "FetchError", "fetch"]

_WINO = [f"{kind}_stereotyped_type{t}.txt.{split}" for kind in ("pro", "anti") for t in (1, 2)
         for split in ("dev", "test")]
_BBQ = ["Age", "Disability_status", "Gender_identity", "Nationality", "Physical_appearance", "Race_ethnicity",
        "Race_x_SES", "Race_x_gender", "Religion", "SES", "Sexual_orientation"]

DATASETS: dict[str, dict[str, object]] = {
    "crows-pairs": {"base": "https://raw.githubusercontent.com/nyu-mll/crows-pairs/master/data/",
                    "files": ["crows_pairs_anonymized.csv"], "license": "CC BY-SA 4.0"},
    "stereoset": {"base": "https://raw.githubusercontent.com/moinnadeem/StereoSet/master/data/",
                  "files": ["dev.json"], "license": "CC BY-SA 4.0"},
    "winobias": {"base": "https://raw.githubusercontent.com/uclanlp/corefBias/master/WinoBias/wino/data/",
                 "files": _WINO + ["female_occupations.txt", "male_occupations.txt"], "license": "MIT"},
    "bbq": {"base": "https://raw.githubusercontent.com/nyu-mll/BBQ/main/data/",
            "files": [f"{c}.jsonl" for c in _BBQ], "license": "CC BY 4.0"},
}

PINNED_SHA256: dict[str, str] = {}
"""``"dataset/file" -> sha256`` for files whose upstream checksum is known. Files without a pin are
recorded in SHA256SUMS at first download and verified against that record afterwards."""


class FetchError(NeuronEditError, RuntimeError):
    """A download failed or did not match its checksum."""


def _read_sums(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    sums = {}
    for line in path.read_text().splitlines():
        digest, _, name = line.partition("  ")
        if name:
            sums[name] = digest
    return sums


def _download(url: str, target: Path, timeout: float) -> None:
    part = target.with_name(f".{target.name}.part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
            while chunk := response.read(1 << 20):
                out.write(chunk)
    except (urllib.error.URLError, OSError) as err:
        part.unlink(missing_ok=True)
        raise FetchError(f"could not download {url}: {err}. Check the network or pass --base-url for a mirror") from err
    os.replace(part, target)


def fetch(name: str, dest: str | Path, *, base_url: str | None = None, timeout: float = 60.0) -> list[Path]:
    """Download dataset ``name`` (``crows-pairs``, ``stereoset``, ``winobias``, ``bbq``) into ``dest/name``.

    Args:
        base_url: replaces the dataset's default address (a mirror, or a local server in tests);
            files are fetched as ``base_url + file``. Also read from ``NEURONEDIT_DATA_BASE_URL``.

    Returns:
        The paths of the files now present and verified.
    """
    if name not in DATASETS:
        raise InputError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    spec = DATASETS[name]
    base = base_url or os.environ.get("NEURONEDIT_DATA_BASE_URL") or str(spec["base"])
    base = base if base.endswith("/") else base + "/"
    folder = home_path(dest, "--dest") / name
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return _fetch_into(folder, name, spec, base, timeout)
    except BaseException:
        if created and not any(folder.iterdir()):  # a failed first fetch leaves no empty folder behind
            folder.rmdir()
        raise


def _fetch_into(folder: Path, name: str, spec: dict[str, Any], base: str, timeout: float) -> list[Path]:
    """Download ``spec``'s files into ``folder`` (see :func:`fetch`), each verified before it replaces one."""
    sums_path = folder / "SHA256SUMS"
    sums = _read_sums(sums_path)
    done = []
    for file in spec["files"]:
        target = folder / file
        expected = PINNED_SHA256.get(f"{name}/{file}") or sums.get(file)
        if target.is_file() and expected is not None and file_sha256(target) == expected:
            done.append(target)
            continue
        _download(base + file, target.with_name(target.name + ".new"), timeout)
        staged = target.with_name(target.name + ".new")
        digest = file_sha256(staged)
        pinned = PINNED_SHA256.get(f"{name}/{file}")
        if pinned is not None and digest != pinned:
            staged.unlink()
            raise FetchError(f"{base + file}: SHA-256 {digest} does not match the pinned {pinned}; "
                             "the upstream file changed or the mirror is wrong")
        os.replace(staged, target)
        sums[file] = digest
        done.append(target)
        tmp = sums_path.with_name(".SHA256SUMS.tmp")
        tmp.write_text("".join(f"{d}  {f}\n" for f, d in sorted(sums.items())))
        os.replace(tmp, sums_path)
    return done
