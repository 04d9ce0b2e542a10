"""EleutherAI's lm-evaluation-harness on an edit held in memory (``pip install 'neuronedit[lm-eval]'``).

Importing this module registers the harness model type ``neuronedit``: a Hugging Face causal LM loaded
by :func:`neuronedit.load_model` (so ``pretrained=demo`` works offline), with an edit manifest applied
(``edit=neuronedit.json``) and/or neurons edited by hooks for the model's lifetime
(``neurons=neurons.json,mode=zero|mean``). The harness's command line does not discover plugins, so
run it through this module::

    python -m neuronedit.harness run --model neuronedit \\
        --model_args pretrained=demo,neurons=out/neurons.json --tasks crows_pairs_english

In Python, :func:`harness_model` wraps a :class:`LanguageModel` you already hold: an edit active
around ``lm_eval.simple_evaluate(model=harness_model(lm), ...)`` is what the harness scores.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from typing import Any

from lm_eval.api.registry import register_model  # type: ignore[import-untyped]
from lm_eval.models.huggingface import HFLM  # type: ignore[import-untyped]

from attributions import LanguageModel, NeuronSet, mean_activations
from attributions.errors import InputError
from attributions.forward import start_token_id

from .data.neutral import NEUTRAL_TEXTS
from .edits.handle import as_language_model
from .edits.masks import masked

__all__ = ["NeuronEditHarnessLM", "harness_model", "main"]


def harness_model(model: LanguageModel, *, batch_size: int = 16, **options: Any) -> HFLM:
    """A harness model over ``model``'s module and tokenizer; the harness's empty-context requests start
    with the same start token as neuronedit's scorers. Hooks and weights are shared, not copied."""
    lm = as_language_model(model)
    return HFLM(pretrained=lm.model, tokenizer=lm.tokenizer, batch_size=batch_size,
                prefix_token_id=start_token_id(lm.tokenizer), **options)


@register_model("neuronedit")
class NeuronEditHarnessLM(HFLM):
    """``--model neuronedit``: ``pretrained`` is a neuronedit model spec (``demo``, a folder, a GGUF file);
    ``edit`` a neuronedit.json manifest (or a checkpoint folder holding one) applied to the weights;
    ``neurons`` a neuron file edited by hooks with ``mode`` (``zero`` or ``mean``) while the model lives
    (:meth:`close` removes them); ``force`` applies a manifest made on other weights."""

    def __init__(self, pretrained: str = "demo", edit: str | None = None, neurons: str | None = None,
                 mode: str = "zero", force: bool | str = False, batch_size: int | str = 16, **kwargs: Any) -> None:
        from .edits import apply_edit_
        from .model.loading import load_model

        if mode not in ("zero", "mean"):
            raise InputError(f"mode must be zero or mean, not {mode!r}")
        if neurons is None and mode != "zero":
            raise InputError("mode applies to neurons=FILE; give the neuron file too")
        lm = load_model(str(pretrained))
        if edit:
            apply_edit_(lm, os.fspath(edit), force=str(force).lower() in ("true", "1", "yes"))
        self._hooks = ExitStack()
        if neurons:
            chosen = NeuronSet.load(neurons)
            means = mean_activations(lm, list(NEUTRAL_TEXTS)) if mode == "mean" else None
            self._hooks.enter_context(masked(lm, chosen, mode, means=means))
        self.language_model = lm
        kwargs.pop("tokenizer", None)
        kwargs.pop("device", None)
        super().__init__(pretrained=lm.model, tokenizer=lm.tokenizer, batch_size=batch_size,
                         prefix_token_id=start_token_id(lm.tokenizer), **kwargs)

    def close(self) -> None:
        """Remove the neuron hooks (the model is unedited by hooks afterwards)."""
        self._hooks.close()


def main() -> None:
    """The harness's own command line, with the ``neuronedit`` model type registered."""
    from lm_eval.__main__ import cli_evaluate  # type: ignore[import-untyped]

    cli_evaluate()


if __name__ == "__main__":
    main()
