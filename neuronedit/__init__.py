"""neuronedit: locate, edit and measure the MLP neurons behind a language model's bias.

The names below load on first use, so ``neuronedit --help`` and ``import neuronedit.cli`` start
without importing torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from attributions import LanguageModel

    from .completion import next_token_logprob_gap
    from .demo_model import DemoModelUnavailable
    from .edits import (
        Edit,
        EditError,
        EditLog,
        ManifestError,
        apply_edit,
        apply_edit_,
        compact,
        compact_,
        load_manifest,
        masked,
        prune_,
        save_edited,
        scale_,
    )
    from .evaluation import Evaluation, compare, evaluate
    from .loading import ModelLoadError, load_model

_HOMES = {
    "LanguageModel": "attributions",
    "next_token_logprob_gap": ".completion",
    "DemoModelUnavailable": ".demo_model",
    **dict.fromkeys(["Edit", "EditError", "EditLog", "ManifestError", "apply_edit", "apply_edit_", "compact",
                     "compact_", "load_manifest", "masked", "prune_", "save_edited", "scale_"], ".edits"),
    **dict.fromkeys(["Evaluation", "compare", "evaluate"], ".evaluation"),
    **dict.fromkeys(["ModelLoadError", "load_model"], ".loading"),
}
"""Where each public name lives (``apply_edit`` and ``compact`` are deprecated aliases of the ``_`` forms)."""

__all__ = [
    "DemoModelUnavailable", "Edit", "EditError", "EditLog", "Evaluation", "LanguageModel", "ManifestError",
    "ModelLoadError", "__version__", "apply_edit", "apply_edit_", "compact", "compact_", "compare", "evaluate",
    "load_manifest", "load_model", "masked", "next_token_logprob_gap", "prune_", "save_edited", "scale_",
]
assert set(__all__) == {"__version__", *_HOMES}, "__all__ and _HOMES must list the same names"


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'neuronedit' has no attribute {name!r}")
    value = getattr(import_module(_HOMES[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
