"""The layers hold: no import runs back up, and none runs sideways.

Every package of the two distributions sits in one layer; a module may import from its own package
and from packages of lower layers only (packages of one layer are independent of each other). Every
module's imports are read with ``ast``, without importing anything: absolute and relative ones, at any
depth (an import inside a function counts), and ``importlib.import_module`` with a constant name.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from locations import REPO

ROOT = REPO
PACKAGES = ("attributions", "neuronedit")

LAYERS: tuple[tuple[str, ...], ...] = (
    ("attributions",),  # locate: attribution methods, sites, objectives, selection
    ("neuronedit._version",),
    ("neuronedit.model",),  # load models, the cache
    ("neuronedit.data", "neuronedit.edits"),  # benchmark data; what an edit is and does
    ("neuronedit.measure", "neuronedit.unlearn"),  # scoring, suites, metrics, evaluation; unlearning edits
    ("neuronedit.locate", "neuronedit.explain", "neuronedit.baselines"),
    ("neuronedit.analysis",),  # transfer analysis, comparison of methods
    ("neuronedit.groundtruth",),  # planted mechanisms and whether the pipeline recovers them
    ("neuronedit.report",),  # figures and HTML reports
    ("neuronedit",),  # the package face
    ("neuronedit.cli", "neuronedit.harness"),  # entry points: the command line, the lm-eval model type
    ("neuronedit.__main__",),
)
"""The packages, lowest layer first. ``neuronedit`` itself stands for the package face only."""

NO_FACE = ("attributions", "neuronedit")
"""Modules under these may not take names from the ``__init__`` of a package that contains them (it may
still be initialising when they run, e.g. ``from neuronedit import __version__`` inside ``neuronedit``);
the entry points (``neuronedit.cli``, ``neuronedit.harness``) may use the ``neuronedit`` face."""


def layer_of(module: str) -> tuple[int, str] | None:
    """``(layer index, package)`` of ``module``: the longest package in :data:`LAYERS` that holds it."""
    best: tuple[int, str] | None = None
    for index, packages in enumerate(LAYERS):
        for package in packages:
            holds = module == package if package == "neuronedit" else _under(module, package)
            if holds and (best is None or len(package) > len(best[1])):
                best = (index, package)
    return best


class Import(NamedTuple):
    line: int
    target: str  # the module imported from, absolute
    name: str | None  # for ``from target import name``


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute name of a (possibly relative) import target seen in ``module``."""
    if not level:
        return target or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level - 1 >= len(base):
        raise ValueError(f"{module}: relative import beyond the top-level package")
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, target] if target else base)


def imports_of(source: str, module: str, is_package: bool = False) -> Iterator[Import]:
    """Every import in ``source``, the text of ``module``."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(node.lineno, alias.name, None)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, is_package, node.level, node.module)
            for alias in node.names:
                yield Import(node.lineno, target, alias.name)
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and (getattr(node.func, "attr", None) or getattr(node.func, "id", None)) in ("import_module",
                                                                                           "__import__")):
            name = node.args[0].value
            level = len(name) - len(name.lstrip("."))
            yield Import(node.lineno, _resolve(module, is_package, level, name.lstrip(".") or None), None)


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _is_submodule(package: str, name: str, root: Path) -> bool:
    folder = root.joinpath(*package.split("."))
    return (folder / f"{name}.py").is_file() or (folder / name / "__init__.py").is_file()


def violations(source: str, module: str, is_package: bool = False, root: Path = ROOT) -> list[str]:
    """What in ``source`` (the text of ``module``) breaks the layering, one line per import."""
    found = []
    here = layer_of(module)
    if here is None:
        return [f"{module}: its package stands in no layer (add it to LAYERS)"]
    for imp in imports_of(source, module, is_package):
        if imp.target.split(".")[0] not in PACKAGES:
            continue
        target = imp.target
        if imp.name and _is_submodule(target, imp.name, root):
            target = f"{target}.{imp.name}"
        there = layer_of(target)
        what = f"{imp.name} from {imp.target}" if imp.name else imp.target
        if there is None:
            found.append(f"{module}:{imp.line} imports {what}, whose package stands in no layer")
        elif there[1] != here[1] and there[0] >= here[0]:
            way = "sideways" if there[0] == here[0] else "up"
            found.append(f"{module}:{imp.line} imports {what} ({here[1]} may not import {there[1]}: {way})")
        ancestors = module.split(".")[: None if is_package else -1]
        own_packages = {".".join(ancestors[:i]) for i in range(1, len(ancestors) + 1)} - ({module} if is_package
                                                                                        else set())
        entry_point = _under(module, "neuronedit.cli") or _under(module, "neuronedit.harness")
        if (any(_under(module, layer) for layer in NO_FACE) and imp.name and imp.target in own_packages
                and not _is_submodule(imp.target, imp.name, root) and not (entry_point and imp.target == "neuronedit")):
            found.append(f"{module}:{imp.line} takes {imp.name!r} from the package face {imp.target} "
                         "(import it from the module that defines it)")
    return found


def _modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def test_every_package_is_scanned():
    names = {module_name(p) for p in _modules()}
    assert {"attributions", "neuronedit", "neuronedit.edits", "neuronedit.edits.record"} <= names
    assert len(names) > 50


def test_no_import_runs_back_up_the_layers():
    found = [v for path in _modules()
             for v in violations(path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py")]
    assert not found, "imports against the layering:\n" + "\n".join(found)


@pytest.mark.parametrize("module, is_package, source, message", [
    ("neuronedit.edits.record", False, "from ..unlearn.losses import nll", "may not import neuronedit.unlearn: up"),
    ("neuronedit.edits.record", False, "from .. import analysis", "may not import neuronedit.analysis"),
    ("neuronedit.edits.weights", False, "def f():\n    from neuronedit.cli import main", "neuronedit.cli"),
    ("neuronedit.edits", True, "from ..data import load", "may not import neuronedit.data: sideways"),
    ("neuronedit.edits.log", False, "import neuronedit.analysis.transfer", "neuronedit.analysis"),
    ("neuronedit.edits.log", False, "import importlib\nimportlib.import_module('neuronedit.unlearn')",
     "neuronedit.unlearn"),
    ("attributions.methods.grad", False, "from neuronedit.edits import Edit", "may not import neuronedit.edits"),
    ("attributions.model", False, "import neuronedit", "may not import neuronedit"),
    ("neuronedit.edits.record", False, "from .. import __version__", "package face neuronedit"),
    ("neuronedit.edits.weights", False, "from . import Edit", "package face neuronedit.edits"),
    ("neuronedit.measure.suites", False, "from ..locate.recipes import x", "neuronedit.locate: up"),
    ("neuronedit.measure.suites", False, "from . import Interval", "package face neuronedit.measure"),
    ("neuronedit.explain.cards", False, "from ..baselines import leace", "neuronedit.baselines: sideways"),
    ("neuronedit.analysis.transfer", False, "from ..report.plots import x", "neuronedit.report: up"),
    ("neuronedit.model.loading", False, "from ..data import load", "neuronedit.data: up"),
    ("neuronedit.report.plots", False, "from ..cli import main", "neuronedit.cli: up"),
    ("neuronedit.report.plots", False, "from neuronedit import load_model", "neuronedit: up"),
    ("neuronedit.newthing.x", False, "import os", "stands in no layer"),
])
def test_the_checker_catches(module, is_package, source, message):
    found = violations(source, module, is_package)
    assert any(message in f for f in found), found


@pytest.mark.parametrize("module, is_package, source", [
    ("neuronedit.edits.record", False, "from .._version import __version__\nfrom ..model.cache import atomic_dir"),
    ("neuronedit.edits", True, "from .record import Edit\nfrom . import log"),
    ("neuronedit.unlearn.train", False, "from ..edits.log import EditLog"),  # downward: fine
    ("neuronedit.cli.edit", False, "from .. import prune_"),  # the CLI sits on top
    ("neuronedit.report.plots", False, "from ..analysis.transfer_result import TransferResult"),
    ("neuronedit.edits.record", False, "from neuronedit_extra import y"),  # not a package of ours: ignored
    ("neuronedit.model.cache", False, "import attributions.files"),
])
def test_the_checker_allows(module, is_package, source):
    assert violations(source, module, is_package) == []


def test_every_layer_names_a_package_that_exists():
    for packages in LAYERS:
        for package in packages:
            path = ROOT.joinpath(*package.split("."))
            assert (path / "__init__.py").is_file() or path.with_suffix(".py").is_file(), package


def test_relative_imports_resolve_like_python():
    assert _resolve("neuronedit.edits.record", False, 1, "log") == "neuronedit.edits.log"
    assert _resolve("neuronedit.edits.record", False, 2, None) == "neuronedit"
    assert _resolve("neuronedit.edits", True, 1, "record") == "neuronedit.edits.record"
    assert _resolve("neuronedit.edits", True, 2, "cache") == "neuronedit.cache"
    with pytest.raises(ValueError, match="beyond the top-level"):
        _resolve("neuronedit.model.cache", False, 3, None)
