"""The machinery of test_hook_hygiene.py and test_hooks_in_one_place.py: the ``ast`` scans for functions
that register hooks or use the scoped hooks of ``attributions.hooks``, the exception injected into an entry
point, the search for leftover hooks, and a recorder of registrations."""

from __future__ import annotations

import ast
import functools
import inspect
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import pytest
import torch
from locations import REPO

import attributions.hooks
from attributions import LanguageModel

PACKAGES = ("attributions", "neuronedit")
HOOKS_MODULE = "attributions.hooks"
REGISTER_CALL = re.compile(r"register_\w*hooks?")
HOOK_CALL = re.compile(r"register_\w*hooks?|saved_tensors_hooks|save_on_cpu")
SCOPED_HOOKS = frozenset(name for name in attributions.hooks.__all__
                         if inspect.isfunction(getattr(attributions.hooks, name)))
"""The context managers of ``attributions.hooks`` (``pre_hooks``, ``capture_activations``, ...)."""


# --- (a) the scans -----------------------------------------------------------------------------------


def _qualname(scope: list[str]) -> str:
    parts = scope[:-1] if scope and scope[-1] == "<locals>" else scope
    return ".".join(parts) or "<module>"


def _scan(node: ast.AST, module: str, scope: list[str], where: str, match: Callable[[str], bool],
          found: dict[str, str]) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.ClassDef):
            _scan(child, module, [*scope, child.name], where, match, found)
            continue
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            _scan(child, module, [*scope, child.name, "<locals>"], where, match, found)
            continue
        if isinstance(child, ast.Call):
            func = child.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if match(name):
                found.setdefault(f"{module}:{_qualname(scope)}", f"{where}:{child.lineno}")
        _scan(child, module, scope, where, match, found)


def calls_in(source: str, module: str, match: Callable[[str], bool], where: str = "<source>") -> dict[str, str]:
    """``"module:qualname"`` -> ``"file:line"`` of each function (or module body) of ``source`` whose own code
    calls a name for which ``match`` holds (lambdas and comprehensions count as the function holding them)."""
    found: dict[str, str] = {}
    _scan(ast.parse(source, where), module, [], where, match, found)
    return found


def package_calls(packages: tuple[str, ...], match: Callable[[str], bool]) -> dict[str, str]:
    """:func:`calls_in` over every module of ``packages``."""
    found: dict[str, str] = {}
    for package in packages:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            where = path.relative_to(REPO).as_posix()
            found.update(calls_in(path.read_text(encoding="utf-8"), module, match, where))
    return found


@functools.lru_cache(maxsize=1)
def hook_functions() -> dict[str, str]:
    """``"module:qualname"`` -> ``"file:line"`` of each function that installs hooks: the scoped hooks of
    ``attributions.hooks`` that register them (and saved-tensors hooks), and every function elsewhere that
    uses one of its context managers."""
    found = package_calls(PACKAGES, HOOK_CALL.fullmatch)
    users = package_calls(PACKAGES, SCOPED_HOOKS.__contains__)
    found.update({name: where for name, where in users.items() if not name.startswith(f"{HOOKS_MODULE}:")})
    return found


# --- (b) the checks ----------------------------------------------------------------------------------


class Boom(Exception):
    """The exception the cases raise inside an entry point."""


def raise_if(boom: bool) -> None:
    if boom:
        raise Boom("raised inside the with block")


@contextmanager
def exploding(lm: LanguageModel, boom: bool, when: Callable[[], bool] = lambda: True) -> Iterator[None]:
    """With ``boom``, the output embeddings raise ``Boom`` in the forward pass (the first one for which
    ``when()`` holds); the instance attribute that does it is removed on exit."""
    if not boom:
        yield
        return
    head = lm.model.get_output_embeddings()
    original = head.forward

    def forward(*args: Any, **kwargs: Any) -> Any:
        if when():
            raise Boom("raised inside the forward pass")
        return original(*args, **kwargs)

    head.forward = forward
    try:
        yield
    finally:
        del head.forward


def leftover_hooks(model: torch.nn.Module) -> list[str]:
    """Every hook still installed: module hook tables, parameter and buffer hooks, global module hooks,
    saved-tensors default hooks."""
    left = []
    for name, module in model.named_modules():
        for attr, table in vars(module).items():
            if "hook" in attr and isinstance(table, dict) and table:
                left.append(f"{name or type(module).__name__}.{attr}: {list(table.values())}")
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        for attr in ("_backward_hooks", "_post_accumulate_grad_hooks"):
            if getattr(tensor, attr, None):
                left.append(f"{name}.{attr}: {dict(getattr(tensor, attr))}")
    globals_ = torch.nn.modules.module
    for attr in sorted(vars(globals_)):
        table = getattr(globals_, attr)
        if attr.startswith("_global_") and isinstance(table, dict) and table:
            left.append(f"torch.nn.modules.module.{attr}: {table}")
    if torch._C._autograd._top_saved_tensors_default_hooks(False) is not None:
        left.append("saved-tensors default hooks are still active")
    return left


def weight_bits(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().contiguous().view(-1).view(torch.uint8).clone()


def caller_of(frame: FrameType) -> str:
    """``"module:qualname"`` of a frame, lambdas and comprehensions folded into the function that holds them."""
    qualname = frame.f_code.co_qualname
    while True:
        head, sep, tail = qualname.rpartition(".<locals>.")
        if not (sep and tail.startswith("<")):
            break
        qualname = head
    return f"{frame.f_globals.get('__name__', '?')}:{'<module>' if qualname.startswith('<') else qualname}"


def _user_of(frame: FrameType) -> str | None:
    """The first caller outside ``attributions.hooks`` and ``contextlib`` of a frame in ``attributions.hooks``."""
    caller: FrameType | None = frame
    while caller is not None and caller.f_globals.get("__name__") in (HOOKS_MODULE, "contextlib"):
        caller = caller.f_back
    return None if caller is None or frame.f_globals.get("__name__") != HOOKS_MODULE else caller_of(caller)


def record_registrations(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Wrap every hook-registering function of torch (undone with ``monkeypatch``); returns the set that
    collects, for each registration made meanwhile, the function that made it (``"module:qualname"``) and,
    when that is a scoped hook of ``attributions.hooks``, the function that entered it."""
    callers: set[str] = set()

    def note(frame: FrameType) -> None:
        callers.add(caller_of(frame))
        user = _user_of(frame)
        if user is not None:
            callers.add(user)

    def recording(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            note(sys._getframe(1))
            return fn(*args, **kwargs)

        return wrapper

    for owner in (torch.nn.Module, torch.Tensor, torch.nn.modules.module, torch.nn.modules):
        for name in list(vars(owner)):
            if HOOK_CALL.fullmatch(name) and callable(getattr(owner, name)):
                monkeypatch.setattr(owner, name, recording(getattr(owner, name)))
    saved_tensors_hooks = torch.autograd.graph.saved_tensors_hooks

    class RecordedSavedTensorsHooks(saved_tensors_hooks):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            note(sys._getframe(1))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(torch.autograd.graph, "saved_tensors_hooks", RecordedSavedTensorsHooks)
    return callers
