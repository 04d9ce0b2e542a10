"""``unlearn``: gradient-based unlearning of forget items, optionally confined to located neurons.

Step 3 of a run: check the arguments, prepare the rows (:mod:`.prepare`), train (:mod:`.loop`),
and turn the weight change into an :class:`~neuronedit.edits.record.Edit` with its delta.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from attributions import LanguageModel, NeuronSet
from attributions.errors import InputError

from ..edits.apply import require_weights_in_memory
from ..edits.delta import delta_bytes, make_delta
from ..edits.log import EditLog
from ..edits.masks import check_neurons
from ..edits.record import Edit
from .confine import neuron_masks
from .loop import Settings, StopRules, preference, restore, run
from .prepare import UNLEARNING_METHODS, UnlearnMethod, forget_objectives, prepare

__all__ = ["UNLEARNING_METHODS", "UnlearnMethod", "unlearn"]
_forget_objectives, _preference = forget_objectives, preference  # old private names, used by older tests


def unlearn(
    lm: LanguageModel,
    forget: Sequence[Any],
    method: str | UnlearnMethod = "masked_token",
    *,
    spans: Sequence[Sequence[tuple[int, int]]] | None = None,
    retain: Sequence[str] | None = None,
    retain_weight: float = 1.0,
    kl_weight: float = 0.0,
    neurons: NeuronSet | None = None,
    lr: float = 1e-5,
    steps: int = 40,
    batch_size: int = 8,
    eval_every: int = 10,
    max_retain_ppl_increase: float | None = 0.05,
    monitor: Sequence[str] | None = None,
    knowledge: Sequence[Any] | None = None,
    max_knowledge_drop: float = 2.0,
    guard: bool | None = None,
    max_retain_texts: int = 64,
    seed: int = 0,
    progress: bool = False,
    provenance: dict[str, Any] | None = None,
) -> Edit:
    """Unlearn ``forget`` in place and return the :class:`Edit` (mode ``unlearn``, with a weight delta).

    Args:
        lm: the model; changed in place (use :func:`neuronedit.edits.restoring` to undo).
        forget: minimal pairs (the ``more`` side is forgotten; the harmful tokens are where it
            differs from ``less``) or plain texts (with ``spans`` for marked-token methods).
        method: ``gradient_ascent``, ``masked_token``, ``max_entropy`` or ``dual`` (see
            :data:`UNLEARNING_METHODS`), or an :class:`UnlearnMethod` (the CDA baseline passes one whose
            loss is plain language modelling).
        retain: texts to keep modelling (default: the built-in neutral corpus); ``retain_weight``
            weighs their NLL, ``kl_weight`` the KL from the original model's predictions on them.
        neurons: confine the update to the rows and columns of these neurons (others stay bit-identical).
        lr, steps, batch_size: AdamW (no weight decay) settings; forget items per step.
        eval_every: steps between checks of the stopping rules.
        max_retain_ppl_increase: stop, and roll back to the last checked state, when perplexity on the
            ``monitor`` texts rises by more than this share (None: no ceiling).
        monitor: real text the ceiling watches, never trained on (default: 48 WikiText-2 sentences from
            the end of the bundled validation text, :func:`neuronedit.data.realtext.monitor_sentences`).
        knowledge: knowledge pairs (``more`` = the fact, e.g. ``load("probes:knowledge-gender",
            split="dev")``) whose accuracy may fall by at most ``max_knowledge_drop`` points; beyond
            that the run stops and rolls back to the last checked state.
        guard: stop when the held-in pair preference crosses 50%, keeping the state closer to 50
            (default: on for ``dual``).
        seed: makes the run deterministic on CPU.
        provenance: extra entries for the edit's provenance (data files, ...).

    Returns:
        the applied edit; ``provenance["history"]`` holds the checks (step, forget log-likelihood,
        perplexity on the monitored retain texts, held-in bias) and ``provenance["stopped"]`` why it stopped.
    """
    spec = method if isinstance(method, UnlearnMethod) else UNLEARNING_METHODS[method]  # unknown: names the methods
    method = spec.name
    if not forget:
        raise InputError("nothing to forget: the forget set is empty")
    if steps < 1 or batch_size < 1 or eval_every < 1 or lr <= 0:
        raise InputError("steps, batch_size and eval_every must be >= 1 and lr > 0")
    rules = StopRules(max_retain_ppl_increase, max_knowledge_drop, spec.guard if guard is None else guard)
    settings = Settings(spec.loss, lr, steps, batch_size, eval_every, retain_weight, kl_weight, seed)
    model = lm.model
    require_weights_in_memory(model, "unlearning updates")
    if neurons is not None:
        check_neurons(lm.sites, neurons)
    data = prepare(lm, forget, spec, spans=spans, retain=retain, max_retain_texts=max_retain_texts, monitor=monitor)
    if rules.guard and data.pairs is None:
        raise InputError("the polarity guard needs minimal pairs")
    knowledge_pairs = list(knowledge) if knowledge else None
    fingerprint = lm.fingerprint()
    masks = neuron_masks(lm.sites, neurons) if neurons is not None else None
    tracked = {name: p.detach().clone() for name, p in model.named_parameters()
               if masks is None or any(p is q for q in masks)}
    was_training = model.training
    model.eval()
    started = time.time()
    try:
        history, stopped = run(lm, data, settings, rules, masks=masks, knowledge=knowledge_pairs,
                               progress=progress, desc=f"unlearn ({method})")
    except InputError:  # the run diverged: no half-trained weights are left behind
        restore(model, tracked)
        raise
    finally:
        model.train(was_training)
    delta = make_delta(tracked, model)
    data_bytes, digest = delta_bytes(delta)
    use_retain = retain_weight > 0 or kl_weight > 0
    edit = Edit(
        neurons=neurons or NeuronSet(), mode="unlearn", base_model=lm.name, base_fingerprint=fingerprint,
        delta=f"unlearn-{digest[:12]}.safetensors", delta_sha256=digest,
        provenance={"method": method, "lr": lr, "steps": steps, "batch_size": batch_size, "seed": seed,
                    "retain_weight": retain_weight if use_retain else 0.0, "kl_weight": kl_weight,
                    "retain_texts": len(data.retain_rows) if use_retain else 0, "forget_items": len(data.forget_rows),
                    "skipped": [[i, r] for i, r in data.skipped], "confined": neurons is not None,
                    "changed_entries": int(sum(t.numel() for k, t in delta.items() if k.endswith(".index"))),
                    "max_retain_ppl_increase": max_retain_ppl_increase, "guard": rules.guard,
                    "monitor_texts": len(data.monitor_rows), "knowledge_pairs": len(knowledge_pairs or []),
                    "history": history, "stopped": stopped, "seconds": round(time.time() - started, 1),
                    **(provenance or {})},
    )
    EditLog.of(lm).record(edit, delta_bytes=data_bytes)
    return edit
