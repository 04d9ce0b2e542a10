"""Small modules and a short README: every Python file under 300 lines, the README under 250."""

from __future__ import annotations

import pytest
from locations import REPO

FOLDERS = ("attributions", "neuronedit", "tests", "benchmarks")


@pytest.mark.parametrize("folder", FOLDERS)
def test_every_python_file_is_under_300_lines(folder):
    sizes = {str(p.relative_to(REPO)): len(p.read_text(encoding="utf-8").splitlines())
             for p in (REPO / folder).rglob("*.py")}
    assert sizes, f"no Python files under {folder}/"
    assert {name: n for name, n in sizes.items() if n >= 300} == {}


def test_the_readme_is_short():
    assert len((REPO / "README.md").read_text(encoding="utf-8").splitlines()) < 250
