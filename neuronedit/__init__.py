"""neuronedit: locate, edit and measure the MLP neurons behind a language model's bias."""

from attributions import LanguageModel

from ._version import __version__
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

__all__ = [
    "DemoModelUnavailable",
    "Edit",
    "EditError",
    "EditLog",
    "ManifestError",
    "Evaluation",
    "LanguageModel",
    "ModelLoadError",
    "__version__",
    "apply_edit",  # deprecated alias of apply_edit_
    "apply_edit_",
    "compact",  # deprecated alias of compact_
    "compact_",
    "load_manifest",
    "masked",
    "prune_",
    "save_edited",
    "scale_",
    "compare",
    "evaluate",
    "load_model",
    "next_token_logprob_gap",
]
