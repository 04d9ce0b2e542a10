"""``unlearn``: gradient-based unlearning of forget items, optionally confined to located neurons."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from tqdm.auto import tqdm

from attributions import ForgetLoss, LanguageModel, NeuronSet, PairPreference, weights_fingerprint
from attributions.forward import Batch, collate, max_positions, row_values

from ..data.neutral import NEUTRAL_TEXTS
from ..data.realtext import monitor_sentences
from ..data.spans import diff_char_spans
from ..edits.apply import model_name, require_weights_in_memory
from ..edits.delta import delta_bytes, make_delta
from ..edits.log import EditLog
from ..edits.masks import check_neurons
from ..edits.record import Edit
from .confine import neuron_masks, trainable
from .losses import LOSSES, kl_to_reference, nll, term_log_probs

__all__ = ["METHODS", "UnlearnMethod", "unlearn"]


@dataclass(frozen=True)
class UnlearnMethod:
    """How a method treats the forget items.

    Attributes:
        loss: ``ascent`` (minimise the marked tokens' log-likelihood) or ``max_entropy``.
        marked_only: act on the marked (harmful) tokens only, not the whole text.
        keep_counterpart: also learn the pair's other side (its differing tokens), as ``dual`` does.
        guard: stop when the held-in bias measure crosses 50% (polarity reversal).
    """

    name: str
    loss: str
    marked_only: bool
    keep_counterpart: bool = False
    guard: bool = False


METHODS: dict[str, UnlearnMethod] = {
    "gradient_ascent": UnlearnMethod("gradient_ascent", "ascent", marked_only=False),
    "masked_token": UnlearnMethod("masked_token", "ascent", marked_only=True),
    "max_entropy": UnlearnMethod("max_entropy", "max_entropy", marked_only=True),
    "dual": UnlearnMethod("dual", "ascent", marked_only=True, keep_counterpart=True, guard=True),
}


def _pair_parts(item: Any) -> tuple[str, str, str]:
    if isinstance(item, (tuple, list)):
        return str(item[0]), str(item[1]), ""
    return str(item.more), str(item.less), str(getattr(item, "prefix", "") or "")


def _with_prefix(prefix: str, text: str, spans: list[tuple[int, int]]) -> tuple[str, list[tuple[int, int]]]:
    if not prefix:
        return text, spans
    shift = len(prefix) + 1
    return f"{prefix} {text}", [(a + shift, b + shift) for a, b in spans]


def _forget_objectives(forget: Sequence[Any], spans: Sequence[Sequence[tuple[int, int]]] | None,
                       method: UnlearnMethod) -> tuple[ForgetLoss, ForgetLoss | None, list[Any] | None]:
    """The forget objective, the counterpart objective (dual) and the pairs (for the guard)."""
    is_pairs = bool(forget) and not isinstance(forget[0], str)
    if not is_pairs:
        if method.keep_counterpart or method.guard:
            raise ValueError(f"method {method.name!r} needs minimal pairs (more/less), not plain texts")
        if method.marked_only and spans is None:
            raise ValueError(f"method {method.name!r} acts on marked tokens: give spans=[[(start, end), ...], ...] "
                             "per text, or minimal pairs from which the spans are derived")
        return ForgetLoss(list(forget), spans if method.marked_only else None), None, None
    texts, marks, others, other_marks = [], [], [], []
    for item in forget:
        more, less, prefix = _pair_parts(item)
        text, span = _with_prefix(prefix, more, diff_char_spans(more, less))
        other, other_span = _with_prefix(prefix, less, diff_char_spans(less, more))
        texts.append(text)
        marks.append(span)
        others.append(other)
        other_marks.append(other_span)
    objective = ForgetLoss(texts, marks if method.marked_only else None)
    counterpart = ForgetLoss(others, other_marks) if method.keep_counterpart else None
    return objective, counterpart, list(forget)


class _Cycle:
    """Batches of rows drawn without replacement, reshuffled every pass (seeded)."""

    def __init__(self, rows: list[Any], batch_size: int, pad: int, generator: torch.Generator) -> None:
        self.rows, self.batch_size, self.pad, self.generator = rows, batch_size, pad, generator
        self.order: list[int] = []

    def indices(self) -> list[int]:
        if len(self.order) < self.batch_size:
            self.order += torch.randperm(len(self.rows), generator=self.generator).tolist()
        out, self.order = self.order[: self.batch_size], self.order[self.batch_size :]
        return out

    def batch(self, indices: list[int]) -> Batch:
        return collate([self.rows[i] for i in indices], self.pad)


@torch.no_grad()
def _mean_term_logprob(model: torch.nn.Module, rows: list[Any], pad: int, batch_size: int = 32) -> float:
    total, count = 0.0, 0
    for first in range(0, len(rows), batch_size):
        batch = collate(rows[first : first + batch_size], pad)
        lp = term_log_probs(model, batch)
        total += float(lp.gather(1, batch.term_token.unsqueeze(1)).sum())
        count += batch.term_token.numel()
    return total / max(count, 1)


@torch.no_grad()
def _preference(lm: LanguageModel, pairs: list[Any], batch_size: int = 32) -> float:
    """Percent of pairs whose stereotypical side is the more likely (the held-in bias measure)."""
    encoded = PairPreference(pairs).encode(lm.tokenizer, max_positions(lm.model))
    pad = lm.pad_id
    gaps = torch.zeros(encoded.n_examples, dtype=torch.float64)
    for first in range(0, len(encoded.rows), batch_size):
        rows = encoded.rows[first : first + batch_size]
        values = row_values(lm.model, collate(rows, pad)).double()
        for row, value in zip(rows, values):
            gaps[row.example] += float(value)
    decided = gaps.abs() > 1e-4
    return 100.0 * float((gaps[decided] > 0).double().mean()) if decided.any() else 50.0


def unlearn(
    lm: LanguageModel,
    forget: Sequence[Any],
    method: str = "masked_token",
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
    forget_drop: float | None = None,
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
        method: ``gradient_ascent``, ``masked_token``, ``max_entropy`` or ``dual`` (see :data:`METHODS`).
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
        forget_drop: stop once the forget tokens' mean log-likelihood fell by this many nats.
        guard: stop when the held-in pair preference crosses 50%, keeping the state closer to 50
            (default: on for ``dual``).
        seed: makes the run deterministic on CPU.
        provenance: extra entries for the edit's provenance (data files, ...).

    Returns:
        the applied edit; ``provenance["history"]`` holds the checks (step, forget log-likelihood,
        perplexity on the monitored retain texts, held-in bias) and ``provenance["stopped"]`` why it stopped.
    """
    if method not in METHODS:
        raise ValueError(f"unknown unlearning method {method!r}; choose one of {', '.join(METHODS)}")
    spec = METHODS[method]
    if not forget:
        raise ValueError("nothing to forget: the forget set is empty")
    if steps < 1 or batch_size < 1 or eval_every < 1 or lr <= 0:
        raise ValueError("steps, batch_size and eval_every must be >= 1 and lr > 0")
    use_guard = spec.guard if guard is None else guard
    model, tokenizer = lm.model, lm.tokenizer
    require_weights_in_memory(model, "unlearning updates")
    if neurons is not None:
        check_neurons(lm.sites, neurons)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    limit = max_positions(model)
    objective, counterpart, pairs = _forget_objectives(list(forget), spans, spec)
    if use_guard and pairs is None:
        raise ValueError("the polarity guard needs minimal pairs")
    encoded = objective.encode(tokenizer, limit)
    counter_rows = None
    if counterpart is not None:
        counter_encoded = counterpart.encode(tokenizer, limit)
        by_input = {i: r for i, r in zip(counter_encoded.kept, counter_encoded.rows)}
        keep = [k for k, i in enumerate(encoded.kept) if i in by_input]
        counter_rows = [by_input[encoded.kept[k]] for k in keep]
        forget_rows = [encoded.rows[k] for k in keep]
    else:
        forget_rows = list(encoded.rows)
    use_retain = retain_weight > 0 or kl_weight > 0
    retain_texts = list(retain if retain is not None else NEUTRAL_TEXTS)[:max_retain_texts]
    all_retain = ForgetLoss(retain_texts).encode(tokenizer, limit).rows if retain_texts else []
    retain_rows = all_retain
    # the perplexity ceiling watches real text that the update never trains on
    monitor_texts = list(monitor if monitor is not None else monitor_sentences())
    monitor_rows = ForgetLoss(monitor_texts).encode(tokenizer, limit).rows if monitor_texts else []
    knowledge_pairs = list(knowledge) if knowledge else None

    fingerprint = weights_fingerprint(model)
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    forget_cycle = _Cycle(forget_rows, batch_size, pad, generator)
    retain_cycle = _Cycle(retain_rows, batch_size, pad, generator) if use_retain and retain_rows else None
    reference = _reference_log_probs(model, retain_rows, pad) if kl_weight > 0 and retain_cycle is not None else []
    masks = neuron_masks(lm.sites, neurons) if neurons is not None else None
    tracked = {name: p.detach().clone() for name, p in model.named_parameters()
               if masks is None or any(p is q for q in masks)}

    def check(step: int) -> dict[str, float]:
        entry = {"step": step, "forget_logprob": round(_mean_term_logprob(model, forget_rows, pad), 4)}
        if monitor_rows:
            entry["retain_ppl"] = round(math.exp(-_mean_term_logprob(model, monitor_rows, pad)), 4)
        if use_guard and pairs is not None:
            entry["held_in_bias"] = round(_preference(lm, pairs), 2)
        if knowledge_pairs:
            entry["knowledge"] = round(_preference(lm, knowledge_pairs), 2)
        return entry

    history = [check(0)]
    start_logprob, start_ppl = history[0]["forget_logprob"], history[0].get("retain_ppl")
    last_good = {name: t.clone() for name, t in tracked.items()}
    stopped = "steps"
    started = time.time()
    with trainable(model, masks) as params:
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
        for step in tqdm(range(1, steps + 1), desc=f"unlearn ({method})", disable=not progress, unit="step"):
            indices = forget_cycle.indices()
            batch = forget_cycle.batch(indices)
            loss = LOSSES[spec.loss](term_log_probs(model, batch), batch)
            if counter_rows is not None:
                cbatch = collate([counter_rows[i] for i in indices], pad)
                loss = loss + nll(term_log_probs(model, cbatch), cbatch)
            if retain_cycle is not None:
                ridx = tuple(retain_cycle.indices())
                rbatch = retain_cycle.batch(list(ridx))
                lp = term_log_probs(model, rbatch)
                if retain_weight > 0:
                    loss = loss + retain_weight * nll(lp, rbatch)
                if kl_weight > 0:
                    loss = loss + kl_weight * kl_to_reference(lp, torch.cat([reference[i] for i in ridx]))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if step % eval_every and step != steps:
                continue
            entry = check(step)
            history.append(entry)
            previous = history[-2]
            if (max_retain_ppl_increase is not None and start_ppl is not None
                    and entry["retain_ppl"] > start_ppl * (1 + max_retain_ppl_increase)):
                _restore(model, last_good)
                stopped = f"retain perplexity ceiling at step {step}; rolled back to step {previous['step']}"
                break
            if knowledge_pairs and entry["knowledge"] < history[0]["knowledge"] - max_knowledge_drop:
                _restore(model, last_good)
                stopped = f"knowledge fell by more than {max_knowledge_drop} points at step {step}; " \
                          f"rolled back to step {previous['step']}"
                break
            if use_guard and "held_in_bias" in entry:
                before, now = previous["held_in_bias"] - 50, entry["held_in_bias"] - 50
                if before * now <= 0 and before != 0:
                    if abs(now) > abs(before):
                        _restore(model, last_good)
                        stopped = f"held-in bias crossed 50% at step {step}; rolled back to step {previous['step']}"
                    else:
                        stopped = f"held-in bias crossed 50% at step {step}"
                    break
            last_good = {name: p.detach().clone() for name, p in model.named_parameters() if name in tracked}
            if forget_drop is not None and start_logprob - entry["forget_logprob"] >= forget_drop:
                stopped = f"forget log-likelihood fell by {forget_drop} nats at step {step}"
                break
    model.train(was_training)
    delta = make_delta(tracked, model)
    data, digest = delta_bytes(delta)
    name = f"unlearn-{digest[:12]}.safetensors"
    edit = Edit(
        neurons=neurons or NeuronSet(), mode="unlearn", base_model=model_name(lm), base_fingerprint=fingerprint,
        delta=name, delta_sha256=digest,
        provenance={"method": method, "lr": lr, "steps": steps, "batch_size": batch_size, "seed": seed,
                    "retain_weight": retain_weight if use_retain else 0.0, "kl_weight": kl_weight,
                    "retain_texts": len(retain_rows) if use_retain else 0, "forget_items": len(forget_rows),
                    "skipped": [[i, r] for i, r in encoded.skipped], "confined": neurons is not None,
                    "changed_entries": int(sum(t.numel() for k, t in delta.items() if k.endswith(".index"))),
                    "max_retain_ppl_increase": max_retain_ppl_increase, "guard": use_guard,
                    "monitor_texts": len(monitor_rows), "knowledge_pairs": len(knowledge_pairs or []),
                    "history": history, "stopped": stopped, "seconds": round(time.time() - started, 1),
                    **(provenance or {})},
    )
    EditLog.of(model).record(edit, delta_bytes=data)
    return edit


@torch.no_grad()
def _restore(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    for name, p in model.named_parameters():
        if name in state:
            p.copy_(state[name])


@torch.no_grad()
def _reference_log_probs(model: torch.nn.Module, rows: list[Any], pad: int, batch_size: int = 16) -> list[torch.Tensor]:
    """The unedited model's log-probabilities at every term of each row, ``[terms_of_row, vocab]`` per row."""
    out: list[torch.Tensor] = []
    for first in range(0, len(rows), batch_size):
        chunk = rows[first : first + batch_size]
        lp = term_log_probs(model, collate(chunk, pad))
        out += list(lp.split([len(r.terms) for r in chunk]))
    return out
