"""Every error class of the toolkit derives from :class:`NeuronEditError`, so ``except NeuronEditError``
catches all of them (and the command line turns them into one line and exit 2)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import attributions
import neuronedit
from attributions.errors import InputError, NeuronEditError


def _error_classes() -> dict[str, type[BaseException]]:
    """Every public exception class defined in a module of either package, by qualified name."""
    found: dict[str, type[BaseException]] = {}
    for face in (attributions, neuronedit):
        modules = [face.__name__] + [info.name for info in pkgutil.walk_packages(face.__path__, f"{face.__name__}.")
                                     if not info.name.endswith("__main__")]
        for name in modules:
            for _, cls in inspect.getmembers(importlib.import_module(name), inspect.isclass):
                defined_here = cls.__module__.split(".")[0] in ("attributions", "neuronedit")
                if defined_here and issubclass(cls, BaseException) and not cls.__name__.startswith("_"):
                    found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return found


def test_the_walk_finds_the_known_error_classes():
    names = {cls.__name__ for cls in _error_classes().values()}
    assert {"ModelLoadError", "DataFormatError", "FetchError", "UnknownNameError", "EraserFileError"} <= names


@pytest.mark.parametrize("name, cls", sorted(_error_classes().items()))
def test_every_error_class_derives_from_the_base(name, cls):
    assert issubclass(cls, NeuronEditError), f"{name} must derive from attributions.errors.NeuronEditError"


def test_bad_values_stay_value_errors_and_the_faces_export_the_base():
    assert issubclass(InputError, ValueError)
    for cls in (neuronedit.ModelLoadError, neuronedit.ManifestError, neuronedit.EditError,
                attributions.UnsupportedArchitectureError):
        assert issubclass(cls, InputError)
    assert neuronedit.NeuronEditError is attributions.NeuronEditError is NeuronEditError
    assert neuronedit.InputError is attributions.InputError is InputError
    assert issubclass(neuronedit.DemoModelUnavailable, RuntimeError)
