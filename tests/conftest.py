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
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parents[1]))

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
_TINY_CACHE: str | None = None
"""The session's ``NEURONEDIT_CACHE`` of the tiny-model tests (see ``pytest_runtest_protocol``)."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tiny_lm(arch, seed, **options): arguments of the module's `tiny_lm` fixture")
    if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs one worker per core: each on one thread
        import torch

        torch.set_num_threads(1)
        os.environ["OMP_NUM_THREADS"] = "1"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> object:
    """Tests of tiny models (every test not marked slow) run torch on one thread, in this process and in the
    processes they start (``OMP_NUM_THREADS``), fixtures included: their operations are far too small to gain
    from a second thread, and with another job on the machine every split operation waits for a busy core
    (a tiny forward pass took 10x longer on two threads than on one). They also share one ``NEURONEDIT_CACHE``
    folder for the session (removed at the end): control scores are computed once per session, never read
    from or left in the user's cache. All of it is put back afterwards (the demo tests use the real cache)."""
    if item.get_closest_marker("slow"):
        return (yield)
    import torch

    global _TINY_CACHE
    if _TINY_CACHE is None:
        _TINY_CACHE = tempfile.mkdtemp(prefix="neuronedit-test-cache-")
    threads = torch.get_num_threads()
    saved = {name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "NEURONEDIT_CACHE")}
    torch.set_num_threads(1)
    os.environ.update(OMP_NUM_THREADS="1", NEURONEDIT_CACHE=_TINY_CACHE)
    try:
        return (yield)
    finally:
        torch.set_num_threads(threads)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def pytest_unconfigure(config: pytest.Config) -> None:
    if _TINY_CACHE is not None:
        shutil.rmtree(_TINY_CACHE, ignore_errors=True)


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


@pytest.fixture
def cli_in_process(capsys: pytest.CaptureFixture[str]):
    """``neuronedit ARGS...`` run by ``neuronedit.cli.main`` in this process, as a ``CompletedProcess`` (exit
    code, stdout, stderr): what a subprocess would give without starting Python, torch and transformers again
    (a traceback fails the test). ``python -m neuronedit`` itself still runs as a process in
    test_distributed.py, test_loading.py, test_unlearn.py and test_evaluation.py."""
    import subprocess

    from neuronedit.cli import main

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exit_:  # argparse refuses a value
            code = int(exit_.code or 0)
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, captured.out, captured.err)

    return run


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
    """Tests and doc pages may register architectures and methods; put every registry back afterwards."""
    from attributions import ATTRIBUTION_METHODS, sites
    from neuronedit.analysis import DEBIAS_METHODS
    from neuronedit.data import KINDS
    from neuronedit.unlearn import LOSSES, UNLEARNING_METHODS

    registries = (sites._REGISTRY, ATTRIBUTION_METHODS, UNLEARNING_METHODS, LOSSES, DEBIAS_METHODS, KINDS)
    saved = [dict(registry) for registry in registries]
    by_model_type = dict(sites._BY_MODEL_TYPE)
    yield
    for registry, entries in zip(registries, saved):
        registry.restore(entries)
    sites._BY_MODEL_TYPE.clear()
    sites._BY_MODEL_TYPE.update(by_model_type)
