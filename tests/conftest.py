"""Shared fixtures. The demo model is fetched by `make test`; without it, slow tests fail loudly
unless NEURONEDIT_SKIP_DEMO=1 asks to skip them."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def demo_lm():
    if os.environ.get("NEURONEDIT_SKIP_DEMO") == "1":
        pytest.skip("NEURONEDIT_SKIP_DEMO=1")
    from neuronedit import load_model

    return load_model("demo")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent")
    return SHARED_DATA


@pytest.fixture
def restore_registry():
    """Tests and doc pages may register architectures; put the registry back afterwards."""
    import attributions.sites as sites

    saved = dict(sites._REGISTRY), dict(sites._BY_MODEL_TYPE)
    yield
    sites._REGISTRY.clear()
    sites._REGISTRY.update(saved[0])
    sites._BY_MODEL_TYPE.clear()
    sites._BY_MODEL_TYPE.update(saved[1])
