"""The wheel built from this tree ships every module, both ``py.typed`` markers and all bundled data,
and works when installed on its own (a wheel once lacked methods/, data/, metrics/, analysis/ and
unlearn/ and broke on import).

Slow: one build, one fresh virtual environment, an import of every module and two CLI runs (about
half a minute). Runs offline when the running environment satisfies ``[build-system] requires``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("attributions", "neuronedit")
BUNDLED = "neuronedit/data/bundled"
TIMEOUT = 300  # seconds for any one subprocess; the whole file takes far less


# --- the source tree ---------------------------------------------------------------------------


# Expectations are read from the copy the wheel is built from (see _copy_tree), a snapshot of the
# source tree, so files others add, rename or delete in the checkout during the run cannot make it flaky.
def _source_files(root: Path, top: str) -> list[str]:
    """Files under ``root/top`` as wheel paths, without caches and hidden files."""
    files = []
    for dirpath, dirnames, filenames in os.walk(root / top):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
        for name in filenames:
            if not name.startswith(".") and not name.endswith((".pyc", ".pyo")):
                files.append((Path(dirpath) / name).relative_to(root).as_posix())
    return sorted(files)


def _source_python_files(root: Path) -> list[str]:
    return [f for top in PACKAGES for f in _source_files(root, top) if f.endswith(".py")]


def _expected_wheel_files(root: Path) -> list[str]:
    bundled = _source_files(root, BUNDLED)
    # guard against a walk of the wrong folder making the check vacuous
    assert any(f.endswith(".gz") for f in bundled) and f"{BUNDLED}/SHA256SUMS" in bundled, bundled
    return sorted({*_source_python_files(root), *(f"{top}/py.typed" for top in PACKAGES), *bundled})


def _expected_modules(root: Path) -> set[str]:
    """Importable module names of the source tree (every folder on the way is a regular package);
    ``__main__`` modules are left out: importing ``neuronedit.__main__`` runs the CLI."""
    modules = set()
    for file in _source_python_files(root):
        parts = Path(file).with_suffix("").parts
        if not all((root.joinpath(*parts[:i]) / "__init__.py").is_file() for i in range(1, len(parts))):
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts[-1] != "__main__":
            modules.add(".".join(parts))
    return modules


def _inside(path: str | os.PathLike[str] | None, folder: Path) -> bool:
    if not path:
        return False
    try:
        Path(os.path.realpath(path)).relative_to(folder.resolve())
        return True
    except ValueError:
        return False


# --- subprocesses --------------------------------------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    """The current environment without anything that points Python at another tree."""
    drop = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH", "PYTHONUSERBASE", "VIRTUAL_ENV",
            "__PYVENV_LAUNCHER__"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(PYTHONNOUSERSITE="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", MPLBACKEND="Agg",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.update(extra)
    return env


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env or _env(), capture_output=True, text=True,
                          timeout=TIMEOUT)


def _show(proc: subprocess.CompletedProcess[str]) -> str:
    return (f"$ {' '.join(proc.args)}\nexit {proc.returncode}\n--- stdout\n{proc.stdout[-6000:]}"
            f"\n--- stderr\n{proc.stderr[-6000:]}")


# --- building ------------------------------------------------------------------------------------


def _copy_tree(dest: Path) -> None:
    """Copy what a clean checkout holds (git's view: tracked plus untracked-but-not-ignored files).

    The wheel is built from this copy, not in place: an in-place setuptools build writes build/ and
    *.egg-info into the shared checkout and reuses a stale build/lib, which puts modules from an
    earlier build into the wheel and so hides exactly the bug this file tests for.
    """
    try:
        listing = subprocess.run(
            ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True, check=True, timeout=60).stdout.decode()
        names = [n for n in listing.split("\0") if n and (REPO / n).is_file()]
    except (OSError, subprocess.SubprocessError):
        names = []
    if names:
        for name in names:
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copy2(REPO / name, dest / name)
            except FileNotFoundError:  # deleted meanwhile by someone editing the checkout
                pass
    else:  # not a git checkout (or no git): copy everything but environments and build output
        shutil.copytree(REPO, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
            ".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__", "*.pyc", ".*_cache",
            ".hypothesis", "out", "results"))


def _unmet_build_requirements(pyproject: Path) -> list[str]:
    """``[build-system] requires`` entries the running environment does not satisfy."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            return []  # cannot tell: try the offline build
    try:
        from packaging.requirements import Requirement
    except ModuleNotFoundError:
        from pip._vendor.packaging.requirements import Requirement
    unmet = []
    for spec in tomllib.loads(pyproject.read_text(encoding="utf-8"))["build-system"]["requires"]:
        req = Requirement(spec)
        if req.marker is not None and not req.marker.evaluate():
            continue
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            unmet.append(f"{spec} (not installed)")
            continue
        if not req.specifier.contains(version, prereleases=True):
            unmet.append(f"{spec} (found {version})")
    return unmet


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory):
    """A scratch folder outside the source tree (pytest's unless --basetemp put that inside it)."""
    path = tmp_path_factory.mktemp("wheel")
    if not _inside(path, REPO):
        yield path
        return
    path = Path(tempfile.mkdtemp(prefix="neuronedit-wheel-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@dataclass
class Built:
    wheel: Path
    src: Path  # the copy of the source tree it was built from


@pytest.fixture(scope="module")
def built(workdir: Path) -> Built:
    src, out = workdir / "src", workdir / "dist"
    src.mkdir()
    _copy_tree(src)
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "-w", out]
    unmet = _unmet_build_requirements(src / "pyproject.toml")
    if unmet:
        # --no-build-isolation builds with this environment's setuptools, which is too old or absent;
        # let pip set up an isolated build environment from its index instead (needs the network)
        how = f"isolated build (this environment lacks {', '.join(unmet)}, so --no-build-isolation cannot work)"
        proc = _run(cmd + [src], cwd=workdir)
    else:
        how = "offline build with this environment's build backend (--no-build-isolation --no-index)"
        proc = _run(cmd + ["--no-build-isolation", "--no-index", src], cwd=workdir)
    assert proc.returncode == 0, f"building the wheel failed ({how}):\n{_show(proc)}"
    wheels = sorted(out.glob("neuronedit-*.whl"))
    assert len(wheels) == 1, f"expected one neuronedit wheel in {out}, found {wheels}\n{_show(proc)}"
    return Built(wheel=wheels[0], src=src)


# --- installing ----------------------------------------------------------------------------------


@dataclass
class Installed:
    root: Path  # the fresh virtual environment
    python: Path
    scripts: Path
    site_packages: Path
    cwd: Path  # outside the source tree


@pytest.fixture(scope="module")
def installed(built: Built, workdir: Path) -> Installed:
    """The wheel installed (--no-deps) in a fresh venv that sees this environment's dependencies."""
    root, cwd = workdir / "venv", workdir / "cwd"
    cwd.mkdir()
    proc = _run([sys.executable, "-m", "venv", "--without-pip", root], cwd=cwd)
    assert proc.returncode == 0, _show(proc)
    python = root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    proc = _run([python, "-c", "import json, sysconfig; print(json.dumps(sysconfig.get_paths()))"], cwd=cwd)
    assert proc.returncode == 0, _show(proc)
    paths = json.loads(proc.stdout)
    site_packages, scripts = Path(paths["purelib"]), Path(paths["scripts"])

    install = ["install", "--no-deps", "--no-index", "--no-cache-dir", built.wheel]
    if tuple(int(p) for p in metadata.version("pip").split(".")[:2] if p.isdigit()) >= (22, 3):
        proc = _run([sys.executable, "-m", "pip", "--python", python, *install], cwd=cwd)  # this pip, that venv
    else:
        proc = _run([python, "-m", "ensurepip", "--default-pip"], cwd=cwd)
        assert proc.returncode == 0, _show(proc)
        proc = _run([python, "-m", "pip", *install], cwd=cwd)
    assert proc.returncode == 0, f"installing the wheel failed:\n{_show(proc)}"

    # Only now (so pip above never saw the editable neuronedit of this environment) make this
    # environment's site-packages visible for torch, transformers, ...: a directory added by a .pth
    # line is appended to sys.path but its own .pth files (the editable finder's) are not run.
    import site

    dirs = [*site.getsitepackages(), *([site.getusersitepackages()] if site.ENABLE_USER_SITE else [])]
    dirs = [d for d in dict.fromkeys(dirs) if Path(d).is_dir() and d in sys.path
            and not any(_inside(d, REPO / top) for top in PACKAGES)]
    (site_packages / "_neuronedit_test_deps.pth").write_text("".join(f"{d}\n" for d in dirs), encoding="utf-8")
    return Installed(root=root, python=python, scripts=scripts, site_packages=site_packages, cwd=cwd)


CHECK = r'''
import importlib, json, os, pkgutil, sys, sysconfig, traceback
from importlib import resources

report = {"site_packages": os.path.realpath(sysconfig.get_paths()["purelib"]), "sys_path": sys.path,
          "editable_finders": [repr(f) for f in sys.meta_path
                               if "__editable__" in str(getattr(f, "__module__", ""))],
          "modules": {}, "errors": {}}

def failed(name):
    report["errors"][name] = traceback.format_exc()

names = []
for top in ("attributions", "neuronedit"):
    try:
        package = importlib.import_module(top)
    except Exception:
        failed(top)
        continue
    names.append(top)
    names += [m.name for m in pkgutil.walk_packages(package.__path__, top + ".", onerror=failed)]
for name in names:
    if name.rpartition(".")[2] == "__main__":
        continue  # importing it runs the CLI
    try:
        module = importlib.import_module(name)
    except Exception:
        failed(name)
        continue
    file = getattr(module, "__file__", None)
    report["modules"][name] = os.path.realpath(file) if file else None

report["py_typed"] = {}
for top in ("attributions", "neuronedit"):
    try:
        report["py_typed"][top] = resources.files(top).joinpath("py.typed").is_file()
    except Exception:
        report["py_typed"][top] = traceback.format_exc()
try:
    from neuronedit.data import bundled
    report["bundled_root"] = os.path.realpath(bundled.BUNDLED_ROOT)
    report["bundled"] = {kind: [os.path.realpath(path), path.exists()] for kind, path in bundled.BUNDLED.items()}
    bundled.verify_bundled()
    report["verify"] = "ok"
except Exception:
    report["verify"] = traceback.format_exc()
with open(sys.argv[1], "w", encoding="utf-8") as handle:
    json.dump(report, handle)
'''


@pytest.fixture(scope="module")
def report(installed: Installed) -> dict:
    """What the fresh venv's Python imports, from where, and whether the bundled data verifies."""
    script, out = installed.cwd / "check_installed.py", installed.cwd / "report.json"
    script.write_text(CHECK, encoding="utf-8")
    proc = _run([installed.python, script, out], cwd=installed.cwd)
    assert proc.returncode == 0 and out.is_file(), _show(proc)
    return json.loads(out.read_text(encoding="utf-8"))


# --- the tests -----------------------------------------------------------------------------------


def test_wheel_holds_every_module_both_markers_and_all_bundled_data(built: Built):
    names = set(zipfile.ZipFile(built.wheel).namelist())
    missing = [f for f in _expected_wheel_files(built.src) if f not in names]
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


def test_installed_wheel_imports_every_module_from_the_fresh_venv(built: Built, installed: Installed, report: dict):
    site_packages = Path(report["site_packages"])
    assert site_packages == installed.site_packages.resolve()
    assert _inside(site_packages, installed.root) and not _inside(installed.root, REPO)
    assert not report["editable_finders"], "the running environment's editable install leaked in"
    assert not [p for p in report["sys_path"] if any(_inside(p, REPO / top) for top in PACKAGES)
                or (p and Path(p).resolve() == REPO)], report["sys_path"]
    assert not report["errors"], "import errors in the installed wheel:\n" + "\n".join(
        f"--- {name}\n{tb}" for name, tb in report["errors"].items())

    modules = report["modules"]
    expected = _expected_modules(built.src)
    assert not expected - set(modules), f"modules not importable from the wheel: {sorted(expected - set(modules))}"
    assert not set(modules) - expected, f"modules in the wheel but not in the source: {sorted(set(modules) - expected)}"
    assert _inside(modules["neuronedit"], site_packages), modules["neuronedit"]
    assert _inside(modules["attributions"], site_packages), modules["attributions"]
    elsewhere = {name: file for name, file in modules.items() if not _inside(file, site_packages)}
    assert not elsewhere, f"modules imported from outside the fresh venv: {elsewhere}"
    assert report["py_typed"] == {top: True for top in PACKAGES}


def test_installed_bundled_data_verifies(installed: Installed, report: dict):
    assert report["verify"] == "ok", report["verify"]
    site_packages = Path(report["site_packages"])
    assert Path(report["bundled_root"]) == site_packages / "neuronedit" / "data" / "bundled"
    for kind, (path, exists) in report["bundled"].items():
        assert exists and _inside(path, site_packages), (kind, path, exists)


def test_installed_cli_runs(installed: Installed, workdir: Path):
    exe = installed.scripts / ("neuronedit.exe" if os.name == "nt" else "neuronedit")
    assert exe.is_file(), f"no console script {exe}"
    if os.name != "nt":
        shebang = exe.read_text(encoding="utf-8", errors="replace").splitlines()[0]
        assert str(installed.root) in shebang, shebang
    cache = workdir / "empty-cache"
    cache.mkdir()
    env = _env(NEURONEDIT_CACHE=str(cache))

    proc = _run([exe, "--help"], cwd=installed.cwd, env=env)
    assert proc.returncode == 0, _show(proc)
    for text in ("usage: neuronedit", "models", "transfer", "unlearn"):
        assert text in proc.stdout, _show(proc)

    proc = _run([exe, "models"], cwd=installed.cwd, env=env)
    assert proc.returncode == 0, _show(proc)
    for text in (f"cache: {cache}", "(empty; `neuronedit models --fetch-demo`", "supported architectures",
                 "gpt2", "llama"):
        assert text in proc.stdout, _show(proc)
