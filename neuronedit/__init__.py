"""neuronedit: locate, edit and measure the MLP neurons behind a language model's bias."""

from attributions import LanguageModel

from .completion import next_token_logprob_gap
from .demo_model import DemoModelUnavailable
from .evaluation import Evaluation, compare, evaluate
from .loading import ModelLoadError, load_model

__version__ = "0.1.0"

__all__ = [
    "DemoModelUnavailable",
    "Evaluation",
    "LanguageModel",
    "ModelLoadError",
    "__version__",
    "compare",
    "evaluate",
    "load_model",
    "next_token_logprob_gap",
]
