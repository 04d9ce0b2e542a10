"""Hooks are registered in one place: ``attributions/hooks.py`` is the only module of the project that
calls ``register_*hook`` (module, parameter and tensor hooks); everything else enters its context managers,
which remove every hook on exit (test_hook_hygiene.py runs them)."""

from __future__ import annotations

import pytest
from hook_checks import HOOKS_MODULE, REGISTER_CALL, calls_in, package_calls

SOURCES = ("attributions", "neuronedit", "benchmarks")


def _registering(found: dict[str, str]) -> dict[str, str]:
    return {name: where for name, where in found.items() if not name.startswith(f"{HOOKS_MODULE}:")}


def test_only_attributions_hooks_registers_hooks():
    found = package_calls(SOURCES, REGISTER_CALL.fullmatch)
    assert f"{HOOKS_MODULE}:pre_hooks" in found, f"the scan no longer finds the scoped hooks: {sorted(found)}"
    outside = _registering(found)
    assert not outside, ("hooks registered outside attributions/hooks.py (use its context managers: pre_hooks, "
                         "forward_hooks, grad_hooks, stop_before, ...): "
                         + ", ".join(f"{name} ({where})" for name, where in sorted(outside.items())))


BITES = {
    "forward-hook": "def f(m):\n    h = m.register_forward_hook(g)\n    h.remove()\n",
    "pre-hook-with-kwargs": "def f(m):\n    m.register_forward_pre_hook(g, with_kwargs=True)\n",
    "parameter-grad-hook": "def f(model):\n    for p in model.parameters():\n        p.register_hook(lambda g: g)\n",
    "post-accumulate": "def f(p):\n    p.register_post_accumulate_grad_hook(print)\n",
    "in-a-method": "class C:\n    def __init__(self, m):\n        self.h = m.register_full_backward_hook(g)\n",
    "module-level": "import torch\ntorch.nn.modules.module.register_module_forward_hook(print)\n",
    "stack-callback": "def f(stack, block):\n    stack.callback(block.register_forward_hook(g).remove)\n",
}


@pytest.mark.parametrize("source", list(BITES.values()), ids=list(BITES))
def test_the_scan_finds_a_hook_registered_elsewhere(source: str):
    assert _registering(calls_in(source, "neuronedit.somewhere", REGISTER_CALL.fullmatch))
    assert not _registering(calls_in(source, HOOKS_MODULE, REGISTER_CALL.fullmatch))


def test_the_scan_passes_the_scoped_hooks():
    source = "def f(m):\n    with pre_hooks([(m, g)]), forward_hooks([(m, g)]):\n        m(1)\n"
    assert not calls_in(source, "neuronedit.somewhere", REGISTER_CALL.fullmatch)
