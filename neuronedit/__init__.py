"""neuronedit: locate, edit and measure the MLP neurons behind a language model's bias."""

from attributions import LanguageModel

from .checkpoints import save_edited
from .completion import next_token_logprob_gap
from .demo_model import DemoModelUnavailable
from .editing import masked
from .evaluation import Evaluation, compare, evaluate
from .loading import ModelLoadError, load_model
from .manifest import Edit, ManifestError, load_manifest
from .weight_edits import EditError, apply_edit, compact, prune_, scale_

__version__ = "0.1.0"

__all__ = [
    "DemoModelUnavailable",
    "Edit",
    "EditError",
    "ManifestError",
    "Evaluation",
    "LanguageModel",
    "ModelLoadError",
    "__version__",
    "apply_edit",
    "compact",
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
