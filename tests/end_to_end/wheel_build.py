"""Build the wheel from a snapshot of this tree and install it on its own in a fresh virtual environment
(for test_wheel_contents.py and test_wheel_install.py; their fixtures are in this folder's conftest.py)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from locations import REPO

PACKAGES = ("attributions", "neuronedit")
BUNDLED = "neuronedit/data/bundled"
TIMEOUT = 300  # seconds for any one subprocess; the whole file takes far less


# --- the source tree ---------------------------------------------------------------------------


# Expectations are read from the copy the wheel is built from (see copy_tree), a snapshot of the
# source tree, so files others add, rename or delete in the checkout during the run cannot make it flaky.
def source_files(root: Path, top: str) -> list[str]:
    """Files under ``root/top`` as wheel paths, without caches and hidden files."""
    files = []
    for dirpath, dirnames, filenames in os.walk(root / top):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
        for name in filenames:
            if not name.startswith(".") and not name.endswith((".pyc", ".pyo")):
                files.append((Path(dirpath) / name).relative_to(root).as_posix())
    return sorted(files)


def source_python_files(root: Path) -> list[str]:
    return [f for top in PACKAGES for f in source_files(root, top) if f.endswith(".py")]


def expected_wheel_files(root: Path) -> list[str]:
    bundled = source_files(root, BUNDLED)
    # guard against a walk of the wrong folder making the check vacuous
    assert any(f.endswith(".gz") for f in bundled) and f"{BUNDLED}/SHA256SUMS" in bundled, bundled
    return sorted({*source_python_files(root), *(f"{top}/py.typed" for top in PACKAGES), *bundled})


def expected_modules(root: Path) -> set[str]:
    """Importable module names of the source tree (every folder on the way is a regular package);
    ``__main__`` modules are left out: importing ``neuronedit.__main__`` runs the CLI."""
    modules = set()
    for file in source_python_files(root):
        parts = Path(file).with_suffix("").parts
        if not all((root.joinpath(*parts[:i]) / "__init__.py").is_file() for i in range(1, len(parts))):
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts[-1] != "__main__":
            modules.add(".".join(parts))
    return modules


def inside(path: str | os.PathLike[str] | None, folder: Path) -> bool:
    if not path:
        return False
    try:
        Path(os.path.realpath(path)).relative_to(folder.resolve())
        return True
    except ValueError:
        return False


# --- subprocesses --------------------------------------------------------------------------------


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without anything that points Python at another tree."""
    drop = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH", "PYTHONUSERBASE", "VIRTUAL_ENV",
            "__PYVENV_LAUNCHER__"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(PYTHONNOUSERSITE="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", MPLBACKEND="Agg",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.update(extra)
    return env


def run(cmd: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env or clean_env(), capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)


def show(proc: subprocess.CompletedProcess[str]) -> str:
    return (f"$ {' '.join(proc.args)}\nexit {proc.returncode}\n--- stdout\n{proc.stdout[-6000:]}"
            f"\n--- stderr\n{proc.stderr[-6000:]}")


# --- building ------------------------------------------------------------------------------------


def copy_tree(dest: Path) -> None:
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
            with contextlib.suppress(FileNotFoundError):  # deleted meanwhile by someone editing the checkout
                shutil.copy2(REPO / name, dest / name)
    else:  # not a git checkout (or no git): copy everything but environments and build output
        shutil.copytree(REPO, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
            ".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__", "*.pyc", ".*_cache",
            ".hypothesis", "out", "results"))


def unmet_build_requirements(pyproject: Path) -> list[str]:
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


@dataclass
class Built:
    wheel: Path
    src: Path  # the copy of the source tree it was built from


def build_wheel(workdir: Path) -> Built:
    """Copy the tree to ``workdir/src`` and build its wheel into ``workdir/dist``."""
    src, out = workdir / "src", workdir / "dist"
    src.mkdir()
    copy_tree(src)
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "-w", out]
    unmet = unmet_build_requirements(src / "pyproject.toml")
    if unmet:
        # --no-build-isolation builds with this environment's setuptools, which is too old or absent;
        # let pip set up an isolated build environment from its index instead (needs the network)
        how = f"isolated build (this environment lacks {', '.join(unmet)}, so --no-build-isolation cannot work)"
        proc = run(cmd + [src], cwd=workdir)
    else:
        how = "offline build with this environment's build backend (--no-build-isolation --no-index)"
        proc = run(cmd + ["--no-build-isolation", "--no-index", src], cwd=workdir)
    assert proc.returncode == 0, f"building the wheel failed ({how}):\n{show(proc)}"
    wheels = sorted(out.glob("neuronedit-*.whl"))
    assert len(wheels) == 1, f"expected one neuronedit wheel in {out}, found {wheels}\n{show(proc)}"
    return Built(wheel=wheels[0], src=src)


# --- installing ----------------------------------------------------------------------------------


@dataclass
class Installed:
    root: Path  # the fresh virtual environment
    python: Path
    scripts: Path
    site_packages: Path
    cwd: Path  # outside the source tree


def install_wheel(built: Built, workdir: Path) -> Installed:
    """The wheel installed (--no-deps) in a fresh venv that sees this environment's dependencies."""
    root, cwd = workdir / "venv", workdir / "cwd"
    cwd.mkdir()
    proc = run([sys.executable, "-m", "venv", "--without-pip", root], cwd=cwd)
    assert proc.returncode == 0, show(proc)
    python = root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    proc = run([python, "-c", "import json, sysconfig; print(json.dumps(sysconfig.get_paths()))"], cwd=cwd)
    assert proc.returncode == 0, show(proc)
    paths = json.loads(proc.stdout)
    site_packages, scripts = Path(paths["purelib"]), Path(paths["scripts"])

    install = ["install", "--no-deps", "--no-index", "--no-cache-dir", built.wheel]
    if tuple(int(p) for p in metadata.version("pip").split(".")[:2] if p.isdigit()) >= (22, 3):
        proc = run([sys.executable, "-m", "pip", "--python", python, *install], cwd=cwd)  # this pip, that venv
    else:
        proc = run([python, "-m", "ensurepip", "--default-pip"], cwd=cwd)
        assert proc.returncode == 0, show(proc)
        proc = run([python, "-m", "pip", *install], cwd=cwd)
    assert proc.returncode == 0, f"installing the wheel failed:\n{show(proc)}"

    # Only now (so pip above never saw the editable neuronedit of this environment) make this
    # environment's site-packages visible for torch, transformers, ...: a directory added by a .pth
    # line is appended to sys.path but its own .pth files (the editable finder's) are not run.
    import site

    dirs = [*site.getsitepackages(), *([site.getusersitepackages()] if site.ENABLE_USER_SITE else [])]
    dirs = [d for d in dict.fromkeys(dirs) if Path(d).is_dir() and d in sys.path
            and not any(inside(d, REPO / top) for top in PACKAGES)]
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


def installed_report(installed: Installed) -> dict:
    """What the fresh venv's Python imports, from where, and whether the bundled data verifies."""
    script, out = installed.cwd / "check_installed.py", installed.cwd / "report.json"
    script.write_text(CHECK, encoding="utf-8")
    proc = run([installed.python, script, out], cwd=installed.cwd)
    assert proc.returncode == 0 and out.is_file(), show(proc)
    return json.loads(out.read_text(encoding="utf-8"))
