"""The one Registry class behind methods, architectures, data kinds and unlearning methods/losses."""

from __future__ import annotations

import pytest

from attributions.registry import Registry, UnknownNameError


def test_registry_is_an_ordered_read_only_mapping_with_register():
    reg: Registry[int] = Registry("widget", {"b": 2, "a": 1})
    assert list(reg) == ["b", "a"] and reg["a"] == 1 and len(reg) == 2 and "b" in reg and "c" not in reg
    assert reg.register("c", 3) == 3 and list(reg) == ["b", "a", "c"]
    assert reg.register("a", 10) == 10 and reg["a"] == 10 and list(reg) == ["b", "a", "c"]  # replaced in place
    assert reg.unregister("c") == 3 and "c" not in reg
    with pytest.raises(TypeError):
        reg["d"] = 4  # type: ignore[index]
    assert reg.get("zzz") is None  # Mapping.get still answers None for a missing name


def test_unknown_names_raise_one_error_that_is_both_key_and_value_error():
    reg: Registry[int] = Registry("widget", {"one": 1, "two": 2})
    with pytest.raises(UnknownNameError) as caught:
        reg["three"]
    assert isinstance(caught.value, KeyError) and isinstance(caught.value, ValueError)
    assert str(caught.value) == "unknown widget 'three'; choose one of one, two"
    with pytest.raises(ValueError, match="non-empty string"):
        reg.register("", 0)


def test_the_product_registries_are_registries():
    from neuronedit.data import KINDS
    from neuronedit.unlearn import LOSSES, UNLEARNING_METHODS

    for registry, name in [(KINDS, "stereoset"), (UNLEARNING_METHODS, "dual"), (LOSSES, "ascent")]:
        assert isinstance(registry, Registry) and name in registry
        with pytest.raises(ValueError, match=f"unknown {registry.what} 'nope'; choose one of .*{name}"):
            registry["nope"]
