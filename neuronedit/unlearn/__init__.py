"""Unlearning edits: gradient-based forgetting of biased text, optionally confined to located neurons."""

from .losses import LOSSES, kl_to_reference, term_log_probs
from .train import UNLEARNING_METHODS, UnlearnMethod, unlearn
from .transfer import unlearning_edit

__all__ = ["LOSSES", "UNLEARNING_METHODS", "UnlearnMethod", "kl_to_reference", "term_log_probs", "unlearn",
           "unlearning_edit"]
