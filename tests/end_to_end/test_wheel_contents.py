"""The wheel built from this tree ships every module, both ``py.typed`` markers and all bundled data,
and nothing else (a wheel once lacked methods/, data/, metrics/, analysis/ and unlearn/ and broke on
import). Installed on its own it must work too: test_wheel_install.py.

Slow: one build (wheel_build.py, shared with test_wheel_install.py through the session fixtures of
conftest.py; about half a minute with the install). Runs offline when the running environment
satisfies ``[build-system] requires``.
"""

from __future__ import annotations

import zipfile

import pytest
from wheel_build import PACKAGES, Built, expected_wheel_files

pytestmark = pytest.mark.slow


def test_wheel_holds_every_module_both_markers_and_all_bundled_data(built: Built):
    names = set(zipfile.ZipFile(built.wheel).namelist())
    missing = [f for f in expected_wheel_files(built.src) if f not in names]
    assert not missing, (
        f"{len(missing)} source file(s) missing from {built.wheel.name} (check [tool.setuptools.packages.find] "
        f"and [tool.setuptools.package-data] in pyproject.toml):\n  " + "\n  ".join(missing))


def test_wheel_holds_only_the_two_packages_and_the_entry_point(built: Built):
    with zipfile.ZipFile(built.wheel) as zf:
        names = zf.namelist()
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/RECORD"))
        entry_points = zf.read(f"{dist_info}/entry_points.txt").decode()
    assert {n.split("/")[0] for n in names} == {*PACKAGES, dist_info}
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert "neuronedit = neuronedit.cli:main" in entry_points
