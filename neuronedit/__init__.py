"""neuronedit: locate, edit and measure the MLP neurons behind a language model's bias.

The names below load on first use, so ``neuronedit --help`` and ``import neuronedit.cli`` start
without importing torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from attributions import InputError, LanguageModel, NeuronEditError

    from .edits import (
        Edit,
        EditError,
        EditLog,
        ManifestError,
        apply_edit_,
        compact_,
        load_manifest,
        masked,
        prune_,
        save_edited,
        scale_,
    )
    from .measure.completion import next_token_logprob_gap
    from .measure.evaluation import Evaluation, evaluate
    from .measure.paired import paired_effects
    from .model.demo import DemoModelUnavailable
    from .model.loading import ModelLoadError, load_model

_HOMES = {
    **dict.fromkeys(["InputError", "LanguageModel", "NeuronEditError"], "attributions"),
    "next_token_logprob_gap": ".measure.completion",
    "DemoModelUnavailable": ".model.demo",
    **dict.fromkeys(["Edit", "EditError", "EditLog", "ManifestError", "apply_edit_",
                     "compact_", "load_manifest", "masked", "prune_", "save_edited", "scale_"], ".edits"),
    **dict.fromkeys(["Evaluation", "evaluate"], ".measure.evaluation"),
    "paired_effects": ".measure.paired",
    **dict.fromkeys(["ModelLoadError", "load_model"], ".model.loading"),
}
"""Where each public name lives."""

__all__ = [
    "DemoModelUnavailable", "Edit", "EditError", "EditLog", "Evaluation", "InputError", "LanguageModel",
    "ManifestError", "ModelLoadError", "NeuronEditError", "__version__", "apply_edit_", "compact_", "evaluate",
    "load_manifest", "load_model", "masked", "next_token_logprob_gap", "paired_effects", "prune_", "save_edited",
    "scale_",
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
