"""The layers hold: no import runs back up.

``attributions`` (locate neurons) sits below ``neuronedit``; inside ``neuronedit``, ``edits`` (what an
edit is and does) sits below ``unlearn``, ``analysis`` and the CLI. Every module's imports are read
with ``ast``, without importing anything: absolute and relative ones, at any depth (an import inside a
function counts), and ``importlib.import_module`` with a constant name.
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

FORBIDDEN: dict[str, tuple[str, ...]] = {
    "attributions": ("neuronedit",),
    "neuronedit.edits": ("neuronedit.analysis", "neuronedit.unlearn", "neuronedit.cli", "neuronedit.cli_args"),
    "neuronedit.explain": ("neuronedit.analysis", "neuronedit.unlearn", "neuronedit.cli", "neuronedit.report"),
}
"""Modules under a key may not import anything under its values."""

NO_FACE = ("attributions", "neuronedit.edits")
"""Modules under these may not take names from the ``__init__`` of a package that contains them (it may
still be initialising when they run, e.g. ``from neuronedit import __version__`` inside ``neuronedit``)."""


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
    for imp in imports_of(source, module, is_package):
        targets = [imp.target] + ([f"{imp.target}.{imp.name}"] if imp.name else [])
        for layer, banned in FORBIDDEN.items():
            if _under(module, layer):
                hit = next((b for b in banned for t in targets if _under(t, b)), None)
                if hit:
                    what = f"{imp.name} from {imp.target}" if imp.name else imp.target
                    found.append(f"{module}:{imp.line} imports {what} ({layer} may not import {hit})")
        ancestors = module.split(".")[: None if is_package else -1]
        own_packages = {".".join(ancestors[:i]) for i in range(1, len(ancestors) + 1)} - ({module} if is_package
                                                                                        else set())
        if (any(_under(module, layer) for layer in NO_FACE) and imp.name and imp.target in own_packages
                and not _is_submodule(imp.target, imp.name, root)):
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
    ("neuronedit.edits.record", False, "from ..unlearn.losses import nll", "may not import neuronedit.unlearn"),
    ("neuronedit.edits.record", False, "from .. import analysis", "may not import neuronedit.analysis"),
    ("neuronedit.edits.weights", False, "def f():\n    from neuronedit.cli import main", "neuronedit.cli"),
    ("neuronedit.edits", True, "from ..cli_args import x", "neuronedit.cli_args"),
    ("neuronedit.edits.log", False, "import neuronedit.analysis.transfer", "neuronedit.analysis"),
    ("neuronedit.edits.log", False, "import importlib\nimportlib.import_module('neuronedit.unlearn')",
     "neuronedit.unlearn"),
    ("attributions.methods.grad", False, "from neuronedit.edits import Edit", "may not import neuronedit"),
    ("attributions.model", False, "import neuronedit", "may not import neuronedit"),
    ("neuronedit.edits.record", False, "from .. import __version__", "package face neuronedit"),
    ("neuronedit.edits.weights", False, "from . import Edit", "package face neuronedit.edits"),
])
def test_the_checker_catches(module, is_package, source, message):
    found = violations(source, module, is_package)
    assert len(found) == 1 and message in found[0], found


@pytest.mark.parametrize("module, is_package, source", [
    ("neuronedit.edits.record", False, "from .._version import __version__\nfrom ..cache import atomic_file"),
    ("neuronedit.edits", True, "from .record import Edit\nfrom . import log"),
    ("neuronedit.unlearn.train", False, "from ..edits.log import EditLog"),  # downward: fine
    ("neuronedit.cli.edit", False, "from .. import prune_"),  # the CLI sits on top
    ("neuronedit.edits.record", False, "from neuronedit.cli_argsx import y"),  # a prefix of a name is not a layer
])
def test_the_checker_allows(module, is_package, source):
    assert violations(source, module, is_package) == []


def test_relative_imports_resolve_like_python():
    assert _resolve("neuronedit.edits.record", False, 1, "log") == "neuronedit.edits.log"
    assert _resolve("neuronedit.edits.record", False, 2, None) == "neuronedit"
    assert _resolve("neuronedit.edits", True, 1, "record") == "neuronedit.edits.record"
    assert _resolve("neuronedit.edits", True, 2, "cache") == "neuronedit.cache"
    with pytest.raises(ValueError, match="beyond the top-level"):
        _resolve("neuronedit.cache", False, 3, None)
