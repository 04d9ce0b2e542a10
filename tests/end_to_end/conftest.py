"""Fixtures of the wheel tests: one build and one fresh virtual environment for the whole session, shared
by test_wheel_contents.py and test_wheel_install.py (requested by no other test, so built only when they run)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from wheel_build import REPO, Built, Installed, build_wheel, inside, install_wheel, installed_report


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory):
    """A scratch folder outside the source tree (pytest's unless --basetemp put that inside it)."""
    path = tmp_path_factory.mktemp("wheel")
    if not inside(path, REPO):
        yield path
        return
    path = Path(tempfile.mkdtemp(prefix="neuronedit-wheel-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def built(workdir: Path) -> Built:
    return build_wheel(workdir)


@pytest.fixture(scope="session")
def installed(built: Built, workdir: Path) -> Installed:
    """The wheel installed (--no-deps) in a fresh venv that sees this environment's dependencies."""
    return install_wheel(built, workdir)


@pytest.fixture(scope="session")
def report(installed: Installed) -> dict:
    """What the fresh venv's Python imports, from where, and whether the bundled data verifies."""
    return installed_report(installed)
