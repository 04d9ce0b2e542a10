"""The package faces load their names lazily; a name must never resolve to a submodule of the same
name (importing ``attributions.attribute`` once made ``from attributions import attribute`` the module)."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import types

import pytest


@pytest.mark.parametrize("package", ["attributions", "neuronedit"])
def test_public_names_stay_the_objects_after_every_submodule_is_imported(package):
    face = importlib.import_module(package)
    for info in pkgutil.walk_packages(face.__path__, f"{package}."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    for name in face.__all__:
        value = getattr(face, name)
        assert not isinstance(value, types.ModuleType), f"{package}.{name} is a module"
    assert set(face.__all__) <= set(dir(face))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        face.nope  # noqa: B018


def test_the_command_line_starts_without_torch():
    code = ("import sys, neuronedit.cli as c; c.build_parser(); import attributions.registry; "
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
