"""Planting a known bias mechanism in chosen MLP neurons of a real model (see :mod:`.directions` for
what a planted pair reads and writes, :mod:`.writing` for how it is written into each MLP layout).

The gain is calibrated by search: the smallest gain (to a few per cent) that raises the association
score on the dev pairs by ``strength`` points, for each domain (``separate``) or for every domain the
shared neurons serve (``shared``: the least raised counts). The planted model is an ordinary
edited model: its weights changed by an ``Edit`` of mode ``plant`` (a stored weight delta), and the
returned :class:`~.truth.GroundTruth` says which neurons carry what.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import torch

from attributions import LanguageModel, NeuronSet
from attributions.errors import InputError
from attributions.forward import start_token_id
from attributions.sites import NeuronSite

from ..data import Dataset, canonical_bias_type, load, load_pairs
from ..data.groups import GROUPS
from ..data.neutral import NEUTRAL_TEXTS
from ..edits import Edit, EditLog, delta_bytes, make_delta
from ..measure.scoring import is_masked_lm
from ..measure.suites import association_scores, association_span
from .directions import Directions, ScoredRow, measure_directions, pair_rows
from .truth import ROLES, VARIANTS, GroundTruth, PlantedNeuron
from .writing import set_gain, write_neuron

__all__ = ["dev_pairs", "plant"]

MAX_GAIN_STEPS = 24
MAX_UNKNOWN = 0.3
"""The largest share of unknown tokens ``plant`` accepts in a domain's dev pairs."""
MAX_GAIN = 1e4
"""The largest gain ``plant`` writes (a natural neuron's write row of the demo model has norm ~4.6)."""


@dataclass
class _Slot:
    site: NeuronSite
    neuron: int
    write: torch.Tensor
    sign: int


def _thin(data: Dataset, most: int | None) -> Dataset:
    return data[:: max(1, math.ceil(len(data) / most))] if most else data


def dev_pairs(domain: str, data: str = "stereoset", max_items: int | None = None) -> Dataset:
    """The dev half of ``data`` (``stereoset``, ``probes`` or ``KIND:PATH``) for ``domain``, at most
    ``max_items`` evenly spaced items."""
    spec = f"probes:{domain}" if data == "probes" else data
    dev = load_pairs(spec, bias_type=domain, split="dev")
    if not len(dev):
        raise InputError(f"{spec} has no {domain} pairs in its dev half, so nothing can be planted or calibrated "
                         "for it; choose a domain the data holds (see `neuronedit data`)")
    return _thin(dev, max_items)


def _association(lm: LanguageModel, dev: Dataset, domain: str, batch_size: int) -> float:
    """The dev association score, as ``evaluate`` reports it (the association alone: the gain search calls
    this a dozen times)."""
    value = association_scores(lm, dev.name, list(dev), {"batch_size": batch_size, "progress": False}).get(domain)
    if value is None or not math.isfinite(value):
        raise InputError(f"{dev.spec}: the {domain} association score is undefined on its dev pairs: as this tokenizer "
                         "splits them, every pair is skipped (its sides tokenize identically or share no words "
                         "before the difference) or tied; use other data (--data) or another model")
    return float(value)


def _slots(lm: LanguageModel, pairs: int, taken: set[tuple[int, int]], generator: torch.Generator
           ) -> list[tuple[int, int, int]]:
    """``pairs`` neuron pairs ``(layer, neuron+, neuron-)`` on random layers, avoiding ``taken``."""
    layers = torch.randint(len(lm.sites), (pairs,), generator=generator).tolist()
    out = []
    for layer in sorted(set(layers)):
        count = 2 * layers.count(layer)
        free = [j for j in torch.randperm(lm.sites[layer].n_neurons, generator=generator).tolist()
                if (layer, j) not in taken]
        if len(free) < count:
            raise InputError(f"layer {layer} has {len(free)} free neurons, fewer than the {count} planted there; "
                             "plant fewer neurons (--neurons) or use a wider model")
        taken.update((layer, j) for j in free[:count])
        out += [(layer, free[i], free[i + 1]) for i in range(0, count, 2)]
    return out


def _check_known(lm: LanguageModel, rows: Sequence[ScoredRow], spec: str) -> None:
    """Refuse dev pairs whose tokens are mostly the tokenizer's unknown token: their contexts cannot tell the
    groups apart, and the gain search would fail for a reason it cannot name."""
    unknown = getattr(lm.tokenizer, "unk_token_id", None)
    tokens = [token for ids, _ in rows for token in ids[1:]]
    if unknown is None or not tokens:
        return
    share = sum(token == unknown for token in tokens) / len(tokens)
    if share > MAX_UNKNOWN:
        raise InputError(f"{spec}: {share:.0%} of the dev pairs' tokens are unknown to the tokenizer of {lm.name}, so "
                         "their contexts cannot tell the groups apart; use data in its vocabulary (--data) or another "
                         "model")


def _group_rows(lm: LanguageModel, dev: Dataset, domain: str) -> list[ScoredRow]:
    """Rows scoring every group term of ``domain`` (its words' first tokens) in the pairs' more side."""
    words = {form for group in GROUPS.get(domain, ()) for w in group for form in (w, w.capitalize())}
    firsts = {int(lm.tokenizer(" " + w, add_special_tokens=False)["input_ids"][0]) for w in words}
    start = start_token_id(lm.tokenizer)
    rows: list[ScoredRow] = []
    for item in dev:
        prefix = str(getattr(item, "prefix", "") or "")
        text = (prefix + " " if prefix else "") + str(item.more)
        ids = [start] + list(lm.tokenizer(text, add_special_tokens=False)["input_ids"])
        terms = [(p - 1, ids[p], 1.0) for p in range(1, len(ids)) if ids[p] in firsts]
        if terms:
            rows.append((ids, terms))
    return rows


def _search(rise: Callable[[float], float], target: float, start: float,
            say: Callable[[str], None] = lambda _m: None) -> tuple[float, float]:
    """The smallest gain (within 3%) whose value (``rise``: association points added) reaches ``target``,
    doubling from ``start``; refused once doubling has not raised the best value for three steps (past the
    peak, a larger gain only breaks the model) or after :data:`MAX_GAIN_STEPS` doublings."""
    low, high = 0.0, start
    value = rise(high)
    best, best_gain, stale = -math.inf, high, 0
    for _ in range(MAX_GAIN_STEPS):
        say(f"  gain {high:.3g}: {value:+.2f} points")
        if value >= target:
            break
        stale = 0 if value > best else stale + 1
        best, best_gain = (value, high) if value > best else (best, best_gain)
        if stale == 3:
            break
        low, high = high, 2 * high
        value = rise(high)
    if value < target:
        raise InputError(f"the planted neurons cannot raise the association by {target:.1f} points (at most "
                         f"{best:+.1f}, at gain {best_gain:.3g}); plant more neurons or ask for a smaller --strength")
    first = high
    for _ in range(MAX_GAIN_STEPS):  # bisect to 3%; a target met at every smaller gain would halve forever
        if high - low <= 0.03 * high:
            break
        middle = (low + high) / 2
        if rise(middle) >= target:
            high = middle
        else:
            low = middle
    if low == 0 and high < first / 1e3:
        raise InputError(f"the association rises by {target:.2g} points already at a vanishing gain ({high:.2g}): "
                         "the score moves with ties broken by any change, not with the planted mechanism; ask for a "
                         "larger --strength (in this data's units: points for a share, nats for a gap)")
    return high, rise(high)


def plant(lm: LanguageModel, domains: Sequence[str] = ("gender",), *, neurons: int = 20, variant: str = "separate",
          strength: float = 10.0, decoys: bool = False, seed: int = 0, data: str = "stereoset",
          max_items: int | None = None, gain: float | None = None, batch_size: int = 8,
          log: Callable[[str], None] | None = None) -> tuple[Edit, GroundTruth]:
    """Plant ``neurons`` bias neurons per domain (``separate``) or in all (``shared``) and, with ``decoys``, a
    frequency and a knowledge decoy of the first domain; returns the applied edit (recorded in the
    model's edit log, so ``save_edited`` writes it) and the ground truth. ``strength``: association
    points added on each domain's dev pairs; ``gain``: write this gain instead of calibrating one (e.g. a
    multiple of a calibrated gain, to ask how strong a mechanism must be for recovery to see it; ``strength``
    is then not a target, and the ground truth says the gain was given)."""
    say = log or (lambda _m: None)
    names = [canonical_bias_type(d) for d in domains]
    if variant not in VARIANTS:
        raise InputError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    if not names or len(set(names)) != len(names):
        raise InputError(f"--domains {' '.join(domains)}: name each domain once (e.g. gender race)")
    if variant == "shared" and len(names) < 2:
        raise InputError("the shared variant plants one set serving several domains: name two or more "
                         "(--domains gender race)")
    if isinstance(neurons, bool) or not isinstance(neurons, int) or neurons < 2 or neurons % 2:
        raise InputError(f"planted neurons come in pairs: --neurons must be an even number of at least 2, "
                         f"not {str(neurons)[:20]}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise InputError(f"--seed must be an integer in [0, 2**63), not {str(seed)[:20]}")
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not math.isfinite(strength) \
            or not 0 < strength < 100:
        raise InputError(f"--strength is association points to add, a finite number in (0, 100), not "
                         f"{str(strength)[:20]}")
    if gain is not None and (isinstance(gain, bool) or not isinstance(gain, (int, float))
                             or not math.isfinite(gain) or not 0 < gain <= MAX_GAIN):
        raise InputError(f"--gain is the planted write rows' norm, a number in (0, {MAX_GAIN:g}], not {str(gain)[:20]}")
    if is_masked_lm(lm.model):
        raise InputError(f"{lm.name} is a masked language model; planting measures the write direction on next-token "
                         "predictions, so it needs a causal LM")
    started, generator = time.time(), torch.Generator().manual_seed(seed)
    dev = {name: dev_pairs(name, data, max_items) for name in names}
    directions: dict[str, Directions] = {}
    for name in names:
        rows = pair_rows(lm, dev[name], association_span(dev[name].name))
        if not rows:
            raise InputError(f"the tokenizer of {lm.name} gives no {name} dev pair of {dev[name].spec} two sides that "
                             "differ in a token after a shared head (or share a tail), so no group term is told "
                             "apart; use other data (--data) or another model")
        _check_known(lm, rows, dev[name].spec)
        directions[name] = measure_directions(lm, rows, NEUTRAL_TEXTS, batch_size=batch_size)
    before = {name: _association(lm, dev[name], name, batch_size) for name in names}
    say("dev association before planting: " + ", ".join(f"{n} {v:.2f}" for n, v in before.items()))
    fingerprint, model = lm.fingerprint(), lm.model
    saved = {name: p.detach().clone() for name, p in model.named_parameters()}
    taken: set[tuple[int, int]] = set()
    planted: list[PlantedNeuron] = []
    gains: dict[str, float] = {}
    groups = [[n] for n in names] if variant == "separate" else [names]

    def place(dirs: list[Directions], role: str, domain: str, pairs: int, single: bool = False,
              avoid: Directions | None = None) -> list[_Slot]:
        """Write ``pairs`` neuron pairs (one neuron with ``single``) reading and writing ``dirs``' directions;
        with ``avoid``, the write is made orthogonal to its write direction (a decoy moves no association)."""
        placed = []
        for layer, plus, minus in _slots(lm, pairs, taken, generator):
            read = torch.stack([d.read[layer] / d.scale[layer] for d in dirs]).sum(0)
            offset = float(sum(float(d.offset[layer] / d.scale[layer]) for d in dirs))
            write = torch.stack([d.write[layer] for d in dirs]).sum(0)
            if avoid is not None:
                write = write - (write @ avoid.write[layer]) * avoid.write[layer]
            write = write / write.norm().clamp_min(1e-12)
            site = lm.sites[layer]
            for neuron, sign in ((plus, 1), (minus, -1))[: 1 if single else 2]:
                write_neuron(site, neuron, read=read, offset=offset, unit=dirs[0].unit[layer], write=write,
                             gain=0.0, sign=sign)
                planted.append(PlantedNeuron(layer, neuron, role, domain, sign))
                placed.append(_Slot(site, neuron, write, sign))
        return placed

    try:
        for group in groups:
            label = "+".join(group)
            slots = place([directions[n] for n in group], "bias", label, neurons // 2)

            def rise(gain: float, slots: list[_Slot] = slots, group: list[str] = group) -> float:
                """The smallest dev association rise over the group's domains at ``gain``."""
                for slot in slots:
                    set_gain(slot.site, slot.neuron, slot.write, gain, slot.sign)
                return min(_association(lm, dev[n], n, batch_size) - before[n] for n in group)

            first = directions[group[0]]
            pull = float(sum(first.strength[s.site.layer] for s in slots)) / max(first.rows, 1)
            if gain is None:
                chosen, reached = _search(rise, strength, 0.25 / max(pull, 1e-6), say)
            else:
                chosen, reached = gain, rise(gain)
            say(f"[{label}] {neurons} bias neurons, gain {chosen:.3g}{' (given)' if gain else ''}: dev association "
                f"rises by at least {reached:+.2f}")
            for name in group:
                gains[name] = chosen
        if decoys:  # at the first domain's bias gain, writing orthogonally to its bias direction
            for slot in _plant_decoys(lm, names[0], dev[names[0]], max_items,
                                      partial(place, avoid=directions[names[0]]), batch_size):
                set_gain(slot.site, slot.neuron, slot.write, gains[names[0]], slot.sign)
    except BaseException:
        with torch.no_grad():  # no half-planted model is left behind
            for name, p in model.named_parameters():
                p.copy_(saved[name])
        raise
    after = {name: _association(lm, dev[name], name, batch_size) for name in names}
    delta = make_delta(saved, model)
    data_bytes, digest = delta_bytes(delta)
    provenance = {"data": {n: dev[n].spec for n in names}, "dev_pairs": {n: len(dev[n]) for n in names},
                  "max_items": max_items, "gain_given": gain is not None, "model": lm.name,
                  "base_fingerprint": fingerprint, "seconds": round(time.time() - started, 1)}
    truth = GroundTruth(planted, variant, names, float(strength), seed, gain=gains, before=before, after=after,
                        provenance=provenance)
    edit = Edit(neurons=NeuronSet((n.layer, n.neuron) for n in planted), mode="plant", base_model=lm.name,
                base_fingerprint=fingerprint, delta=f"plant-{digest[:12]}.safetensors", delta_sha256=digest,
                provenance={"variant": variant, "domains": names, "strength": strength, "seed": seed,
                            "roles": {r: sum(n.role == r for n in planted) for r in ROLES}})
    EditLog.of(lm).record(edit, delta_bytes=data_bytes)
    say("dev association after planting: " + ", ".join(f"{n} {v:.2f}" for n, v in after.items()))
    return edit, truth


def _plant_decoys(lm: LanguageModel, name: str, dev: Dataset, max_items: int | None,
                  place: Callable[..., list[_Slot]], batch_size: int) -> list[_Slot]:
    """A knowledge decoy pair (the knowledge probes' own mechanism) and a frequency decoy neuron (raises the
    group terms where they are predicted), written at gain 0 and orthogonal to the bias write direction; their
    slots."""
    knowledge = _thin(load(f"probes:knowledge-{name}", split="dev"), max_items)
    rows = pair_rows(lm, knowledge, association_span(knowledge.name))
    slots = place([measure_directions(lm, rows, NEUTRAL_TEXTS, batch_size=batch_size)], "knowledge", name, 1)
    terms = _group_rows(lm, dev, name)
    if not terms:
        raise InputError(f"no {name} group term of neuronedit.data.groups occurs in {dev.spec}'s dev pairs as "
                         "this tokenizer splits them, so no frequency decoy can be planted; plant without decoys")
    frequency = measure_directions(lm, terms, NEUTRAL_TEXTS, centre="neutral", batch_size=batch_size)
    return slots + place([frequency], "frequency", name, 1, single=True)
