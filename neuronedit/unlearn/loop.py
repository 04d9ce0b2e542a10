"""Unlearning, step 2: the training loop and its stopping rules (checked every ``eval_every`` steps)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from attributions import LanguageModel, PairPreference
from attributions.errors import InputError
from attributions.forward import Batch, collate, max_positions, row_values

from .confine import trainable
from .losses import LOSSES, kl_to_reference, nll, term_log_probs
from .prepare import UnlearnData

__all__ = ["Settings", "StopRules", "preference", "restore", "run"]


@dataclass(frozen=True)
class Settings:
    """AdamW (no weight decay) settings and the loss weights; ``batch_size`` forget items per step."""

    loss: str
    lr: float = 1e-5
    steps: int = 40
    batch_size: int = 8
    eval_every: int = 10
    retain_weight: float = 1.0
    kl_weight: float = 0.0
    seed: int = 0


@dataclass(frozen=True)
class StopRules:
    """When a run stops early (see :func:`_stop_reason`)."""

    max_retain_ppl_increase: float | None = 0.05
    max_knowledge_drop: float = 2.0
    guard: bool = False


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
    """Mean log-probability of the rows' scored terms."""
    total, count = 0.0, 0
    for first in range(0, len(rows), batch_size):
        batch = collate(rows[first : first + batch_size], pad)
        lp = term_log_probs(model, batch)
        total += float(lp.gather(1, batch.term_token.unsqueeze(1)).sum())
        count += batch.term_token.numel()
    return total / max(count, 1)


@torch.no_grad()
def preference(lm: LanguageModel, pairs: list[Any], batch_size: int = 32) -> float:
    """Percent of pairs whose ``more`` side is the more likely (the held-in bias or knowledge measure)."""
    encoded = PairPreference(pairs).encode(lm.tokenizer, max_positions(lm.model))
    gaps = torch.zeros(encoded.n_examples, dtype=torch.float64)
    for first in range(0, len(encoded.rows), batch_size):
        rows = encoded.rows[first : first + batch_size]
        values = row_values(lm.model, collate(rows, lm.pad_id)).double()
        for row, value in zip(rows, values):
            gaps[row.example] += float(value)
    decided = gaps.abs() > 1e-4
    return 100.0 * float((gaps[decided] > 0).double().mean()) if decided.any() else 50.0


@torch.no_grad()
def _reference_log_probs(model: torch.nn.Module, rows: list[Any], pad: int, batch_size: int = 16) -> list[torch.Tensor]:
    """The unedited model's log-probabilities at every term of each row, ``[terms_of_row, vocab]`` per row."""
    out: list[torch.Tensor] = []
    for first in range(0, len(rows), batch_size):
        chunk = rows[first : first + batch_size]
        lp = term_log_probs(model, collate(chunk, pad))
        out += list(lp.split([len(r.terms) for r in chunk]))
    return out


@torch.no_grad()
def restore(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy ``state`` (a snapshot of some parameters, by name) back into ``model``."""
    for name, p in model.named_parameters():
        if name in state:
            p.copy_(state[name])


def _stop_reason(history: list[dict[str, float]], rules: StopRules) -> tuple[str, bool] | None:
    """Whether to stop after the newest check ``history[-1]``: ``(reason, roll back to history[-2])``, or None."""
    entry, previous, first = history[-1], history[-2], history[0]
    step, back = entry["step"], f"rolled back to step {previous['step']}"
    ceiling = rules.max_retain_ppl_increase
    if ceiling is not None and "retain_ppl" in first and entry["retain_ppl"] > first["retain_ppl"] * (1 + ceiling):
        return f"retain perplexity ceiling at step {step}; {back}", True
    if "knowledge" in first and entry["knowledge"] < first["knowledge"] - rules.max_knowledge_drop:
        return f"knowledge fell by more than {rules.max_knowledge_drop} points at step {step}; {back}", True
    if rules.guard and "held_in_bias" in entry:
        before, now = previous["held_in_bias"] - 50, entry["held_in_bias"] - 50
        if before * now <= 0 and before != 0:
            if abs(now) > abs(before):
                return f"held-in bias crossed 50% at step {step}; {back}", True
            return f"held-in bias crossed 50% at step {step}", False
    return None


def _require_finite(entry: dict[str, float], step: int, settings: Settings) -> dict[str, float]:
    """``entry``, or :class:`InputError` when a value in it is NaN or infinite (the run diverged)."""
    bad = next((key for key, value in entry.items() if not math.isfinite(value)), None)
    if bad is not None:
        raise InputError(f"unlearning diverged at step {step}: the {bad.replace('_', ' ')} is {entry[bad]}; lower "
                         f"the learning rate (--lr, now {settings.lr:g}) and run again; the weights were restored")
    return entry


def run(lm: LanguageModel, data: UnlearnData, settings: Settings, rules: StopRules, *,
        masks: dict[torch.nn.Parameter, torch.Tensor] | None = None, knowledge: list[Any] | None = None,
        progress: bool = False, desc: str = "unlearn") -> tuple[list[dict[str, float]], str]:
    """Train in place until ``settings.steps`` or a stopping rule; returns the checks and why it stopped.

    ``masks`` confine the update to masked entries (see :func:`~neuronedit.unlearn.confine.neuron_masks`).
    A rule that rolls back restores the parameters of the previous check. A NaN or infinite loss or
    check raises :class:`InputError` (the caller restores the weights).
    """
    model, pad = lm.model, lm.pad_id
    use_retain = settings.retain_weight > 0 or settings.kl_weight > 0
    generator = torch.Generator().manual_seed(settings.seed)
    torch.manual_seed(settings.seed)
    forget = _Cycle(data.forget_rows, settings.batch_size, pad, generator)
    retain = _Cycle(data.retain_rows, settings.batch_size, pad, generator) if use_retain and data.retain_rows else None
    reference = _reference_log_probs(model, data.retain_rows, pad) if settings.kl_weight > 0 and retain else []
    check = _checker(lm, data, rules, knowledge)
    history = [check(0)]
    last_good = _snapshot(model, masks)
    stopped = "steps"
    with trainable(model, masks) as params:
        optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=0.0)
        for step in tqdm(range(1, settings.steps + 1), desc=desc, disable=not progress, unit="step"):
            indices = forget.indices()
            batch = forget.batch(indices)
            loss = LOSSES[settings.loss](term_log_probs(model, batch), batch)
            if data.counter_rows is not None:
                cbatch = collate([data.counter_rows[i] for i in indices], pad)
                loss = loss + nll(term_log_probs(model, cbatch), cbatch)
            if retain is not None:
                ridx = retain.indices()
                rbatch = retain.batch(ridx)
                lp = term_log_probs(model, rbatch)
                if settings.retain_weight > 0:
                    loss = loss + settings.retain_weight * nll(lp, rbatch)
                if settings.kl_weight > 0:
                    loss = loss + settings.kl_weight * kl_to_reference(lp, torch.cat([reference[i] for i in ridx]))
            _require_finite({"loss": float(loss.detach())}, step, settings)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if step % settings.eval_every and step != settings.steps:
                continue
            history.append(_require_finite(check(step), step, settings))
            verdict = _stop_reason(history, rules)
            if verdict is not None and verdict[1]:
                restore(model, last_good)
            if verdict is not None:
                stopped = verdict[0]
                break
            last_good = _snapshot(model, masks)
    return history, stopped


def _snapshot(model: torch.nn.Module, masks: dict[torch.nn.Parameter, torch.Tensor] | None) -> dict[str, torch.Tensor]:
    """Copies of the parameters the run may change (all of them, or those ``masks`` names)."""
    return {name: p.detach().clone() for name, p in model.named_parameters()
            if masks is None or any(p is q for q in masks)}


def _checker(lm: LanguageModel, data: UnlearnData, rules: StopRules,
             knowledge: list[Any] | None) -> Callable[[int], dict[str, float]]:
    def check(step: int) -> dict[str, float]:
        entry = {"step": step, "forget_logprob": round(_mean_term_logprob(lm.model, data.forget_rows, lm.pad_id), 4)}
        if data.monitor_rows:
            retain_nll = -_mean_term_logprob(lm.model, data.monitor_rows, lm.pad_id)
            entry["retain_ppl"] = round(math.exp(retain_nll), 4) if retain_nll < 700 else math.inf  # no OverflowError
        if rules.guard and data.pairs is not None:
            entry["held_in_bias"] = round(preference(lm, data.pairs), 2)
        if knowledge:
            entry["knowledge"] = round(preference(lm, knowledge), 2)
        return entry

    return check
