"""The wheel installed on its own in a fresh virtual environment imports every module from there, verifies
its bundled data and runs the console script (the build: test_wheel_contents.py, wheel_build.py).

Slow: shares the session's one build and fresh virtual environment with test_wheel_contents.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from wheel_build import PACKAGES, REPO, Built, Installed, clean_env, expected_modules, inside, run, show

pytestmark = pytest.mark.slow


def test_installed_wheel_imports_every_module_from_the_fresh_venv(built: Built, installed: Installed, report: dict):
    site_packages = Path(report["site_packages"])
    assert site_packages == installed.site_packages.resolve()
    assert inside(site_packages, installed.root) and not inside(installed.root, REPO)
    assert not report["editable_finders"], "the running environment's editable install leaked in"
    assert not [p for p in report["sys_path"] if any(inside(p, REPO / top) for top in PACKAGES)
                or (p and Path(p).resolve() == REPO)], report["sys_path"]
    assert not report["errors"], "import errors in the installed wheel:\n" + "\n".join(
        f"--- {name}\n{tb}" for name, tb in report["errors"].items())

    modules = report["modules"]
    expected = expected_modules(built.src)
    assert not expected - set(modules), f"modules not importable from the wheel: {sorted(expected - set(modules))}"
    assert not set(modules) - expected, f"modules in the wheel but not in the source: {sorted(set(modules) - expected)}"
    assert inside(modules["neuronedit"], site_packages), modules["neuronedit"]
    assert inside(modules["attributions"], site_packages), modules["attributions"]
    elsewhere = {name: file for name, file in modules.items() if not inside(file, site_packages)}
    assert not elsewhere, f"modules imported from outside the fresh venv: {elsewhere}"
    assert report["py_typed"] == dict.fromkeys(PACKAGES, True)


def test_installed_bundled_data_verifies(installed: Installed, report: dict):
    assert report["verify"] == "ok", report["verify"]
    site_packages = Path(report["site_packages"])
    assert Path(report["bundled_root"]) == site_packages / "neuronedit" / "data" / "bundled"
    for kind, (path, exists) in report["bundled"].items():
        assert exists and inside(path, site_packages), (kind, path, exists)


def test_installed_cli_runs(installed: Installed, workdir: Path):
    exe = installed.scripts / ("neuronedit.exe" if os.name == "nt" else "neuronedit")
    assert exe.is_file(), f"no console script {exe}"
    if os.name != "nt":
        shebang = exe.read_text(encoding="utf-8", errors="replace").splitlines()[0]
        assert str(installed.root) in shebang, shebang
    cache = workdir / "empty-cache"
    cache.mkdir()
    env = clean_env(NEURONEDIT_CACHE=str(cache))

    proc = run([exe, "--help"], cwd=installed.cwd, env=env)
    assert proc.returncode == 0, show(proc)
    for text in ("usage: neuronedit", "models", "transfer", "unlearn"):
        assert text in proc.stdout, show(proc)

    proc = run([exe, "models"], cwd=installed.cwd, env=env)
    assert proc.returncode == 0, show(proc)
    for text in (f"cache: {cache}", "(empty; `neuronedit models --fetch-demo`", "supported architectures",
                 "gpt2", "llama"):
        assert text in proc.stdout, show(proc)
