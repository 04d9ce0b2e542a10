"""Shared fixtures. The demo model is fetched by `make test`; without it, slow tests fail loudly
unless NEURONEDIT_SKIP_DEMO=1 asks to skip them.

This folder goes on ``sys.path`` (below), so test files at any depth import the shared helpers
``tiny_models``, ``reference``, ``locations`` and ``hook_checks`` by name; test file basenames are
unique (no ``__init__.py`` files, pytest's default "prepend" import mode).

With this folder on ``sys.path``, ``tests/attributions/`` and ``tests/neuronedit/`` (folders without
``__init__.py``) are namespace-package candidates for ``import attributions`` / ``import neuronedit``;
they lose to a regular package anywhere on ``sys.path`` but win over the editable install's import
hook. So the repository root goes on ``sys.path`` too (below): the real packages are found whether
pytest runs as ``python -m pytest`` (which adds the current folder) or as the ``pytest`` script."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parents[1]))

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tiny_lm(arch, seed, **options): arguments of the module's `tiny_lm` fixture")


@pytest.fixture(scope="module")
def tiny_lm(request: pytest.FixtureRequest):
    """``tiny_models.tiny_lm()`` (a tiny random Llama, seed 0), one per test module.

    A module asks for another with ``pytestmark = pytest.mark.tiny_lm("gpt2", seed=1, bos=False)``: the
    marker's arguments are passed to ``tiny_models.tiny_lm``. Tests that change the model's weights,
    or need a fresh one, call ``tiny_models.tiny_lm`` themselves.
    """
    from tiny_models import tiny_lm as make

    marker = request.node.get_closest_marker("tiny_lm")
    return make(*marker.args, **marker.kwargs) if marker else make()


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
    from attributions import sites

    saved = dict(sites._REGISTRY), dict(sites._BY_MODEL_TYPE)
    yield
    sites._REGISTRY.restore(saved[0])
    sites._BY_MODEL_TYPE.clear()
    sites._BY_MODEL_TYPE.update(saved[1])
