"""Debiasing baselines as edits (each a context manager that restores the model exactly):
LEACE concept erasure (:mod:`.leace`), Self-Debias (:mod:`.self_debias`) and counterfactual data
augmentation (:mod:`.cda`). ``neuronedit.analysis.compare_methods`` puts them beside the neuron edits."""

from .cda import cda, cda_texts, counterfactual_texts
from .leace import ConceptEraser, concept_examples, erased, fit_leace
from .leace_files import EraserFileError, load_eraser, save_eraser
from .self_debias import debias_prefix, rescale, self_debiased

__all__ = [
    "ConceptEraser", "EraserFileError", "cda", "cda_texts", "concept_examples", "counterfactual_texts",
    "debias_prefix", "erased", "fit_leace", "load_eraser", "rescale", "save_eraser", "self_debiased",
]
