"""Where a neuron fires: its top-activating windows of a corpus (Neuroscope style), in one pass for all neurons.

The corpus is cut into windows of ``window`` tokens, each run after the start token. For every
neuron the window's highest activation is a candidate; a running top-``n_top`` per neuron
(values ``[neurons, n_top]`` plus their window and position) is merged with each batch's
candidates, so memory follows ``neurons * n_top``, not the corpus. Ties go to the earlier window.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from attributions import LanguageModel, NeuronSet, capture_activations
from attributions.errors import InputError
from attributions.forward import input_device, pad_rows, start_token_id
from attributions.hooks import stop_before

__all__ = ["Context", "TopContexts", "activations_of", "contexts_of", "corpus_windows", "decode_pieces", "top_contexts"]


@dataclass(frozen=True)
class Context:
    """One top-activating window: its tokens (decoded one by one), which of them fired, and how much.

    Attributes:
        window: index of the corpus window.
        position: index of the firing token in the window (0 = first token after the start token).
        activation: the neuron's activation there.
        tokens: decoded tokens around it (``before`` tokens before, ``after`` after).
        marked: index in ``tokens`` of the firing token.
    """

    window: int
    position: int
    activation: float
    tokens: tuple[str, ...]
    marked: int

    @property
    def text(self) -> str:
        return "".join(self.tokens)


@dataclass
class TopContexts:
    """The running top windows of every neuron: ``values [K, n_top]`` (-inf where unfilled),
    ``windows`` and ``positions`` ``[K, n_top]`` (-1 where unfilled), best first."""

    values: torch.Tensor
    windows: torch.Tensor
    positions: torch.Tensor

    @classmethod
    def empty(cls, n_neurons: int, n_top: int) -> TopContexts:
        return cls(torch.full((n_neurons, n_top), -torch.inf, dtype=torch.float64),
                   torch.full((n_neurons, n_top), -1, dtype=torch.long),
                   torch.full((n_neurons, n_top), -1, dtype=torch.long))

    def merge(self, values: torch.Tensor, windows: torch.Tensor, positions: torch.Tensor) -> None:
        """Add candidates ``[K, m]`` (in corpus order) and keep the best ``n_top`` of each row."""
        n_top = self.values.shape[1]
        all_values = torch.cat([self.values, values.double()], dim=1)
        order = torch.sort(all_values, dim=1, descending=True, stable=True).indices[:, :n_top]
        self.values = all_values.gather(1, order)
        self.windows = torch.cat([self.windows, windows], dim=1).gather(1, order)
        self.positions = torch.cat([self.positions, positions], dim=1).gather(1, order)


def corpus_windows(tokenizer: object, text: str | Iterable[str], *, window: int = 64,
                   max_tokens: int = 20_000) -> list[list[int]]:
    """The first ``max_tokens`` tokens of ``text`` (a string or its pieces in order, read only as far as
    needed) cut into windows of ``window`` tokens."""
    from ..measure.language import token_ids

    if window < 1:
        raise InputError(f"window must be at least 1 token, not {window}")
    ids = token_ids(tokenizer, text, max_tokens).tolist()
    return [ids[i : i + window] for i in range(0, len(ids), window) if ids[i : i + window]]


def activations_of(lm: LanguageModel, layers: Sequence[int], ids: torch.Tensor,
                   mask: torch.Tensor) -> dict[int, torch.Tensor]:
    """The neuron activations ``{layer: [batch, pos, n_neurons]}`` of ``layers`` for one padded batch,
    running the model only as far as the last of them (its capture is the last thing that runs)."""
    sites = [lm.sites[layer] for layer in sorted(layers)]
    device = input_device(lm.model)
    with capture_activations(sites) as acts, stop_before(sites[-1].module):
        lm.model(input_ids=ids.to(device), attention_mask=mask.to(device))
    return acts


@torch.no_grad()
def top_contexts(lm: LanguageModel, neurons: NeuronSet, windows: Sequence[Sequence[int]], *, n_top: int = 8,
                 batch_size: int = 8, progress: bool = False) -> TopContexts:
    """Each neuron's ``n_top`` windows with the highest activation (one per window: its maximum), so at most
    as many as there are windows: the table kept is no wider, whatever ``n_top`` asks for."""
    by_layer = neurons.by_layer()
    order = {neuron: k for k, neuron in enumerate(neurons)}
    columns = {layer: torch.tensor([order[(layer, int(n))] for n in idx]) for layer, idx in by_layer.items()}
    found = TopContexts.empty(len(neurons), max(1, min(n_top, len(windows))))
    start = start_token_id(lm.tokenizer)
    for first in tqdm(range(0, len(windows), batch_size), desc="top contexts", disable=not progress, unit="batch"):
        chunk = windows[first : first + batch_size]
        ids, mask = pad_rows([[start, *window] for window in chunk], lm.pad_id)  # [batch, 1 + longest window]
        width = ids.shape[1]
        acts = activations_of(lm, list(by_layer), ids, mask)
        values = torch.full((len(neurons), len(chunk), width - 1), -torch.inf, dtype=torch.float64)
        for layer, idx in by_layer.items():
            act = acts[layer][:, 1:, idx.to(acts[layer].device)].double().cpu()  # [batch, width-1, k_layer]
            values[columns[layer]] = act.permute(2, 0, 1)
        values[:, mask[:, 1:] == 0] = -torch.inf
        best, where = values.max(dim=2)  # [K, batch]: the first maximum of each window
        window_index = torch.arange(first, first + len(chunk)).expand_as(best)
        found.merge(best, window_index, where)
    return found


def decode_pieces(tokenizer: Any, ids: Sequence[int]) -> list[str]:
    """The text each token adds to the decoded span, so that the pieces join to ``decode(ids)``
    (decoding tokens one by one would drop SentencePiece's leading spaces)."""
    pieces, previous = [], ""
    for end in range(1, len(ids) + 1):
        text = tokenizer.decode(list(ids[:end]))
        pieces.append(text[len(previous):] if text.startswith(previous) else text)
        previous = text
    return pieces


def contexts_of(lm: LanguageModel, found: TopContexts, windows: Sequence[Sequence[int]], *, before: int = 12,
                after: int = 4) -> list[list[Context]]:
    """Decoded :class:`Context` lists, one per neuron, from :func:`top_contexts`."""
    out = []
    for values, wins, positions in zip(found.values.tolist(), found.windows.tolist(), found.positions.tolist()):
        contexts = []
        for value, win, pos in zip(values, wins, positions):
            if win < 0 or value == -float("inf"):
                continue
            ids = windows[win]
            low = max(0, pos - before)
            tokens = tuple(decode_pieces(lm.tokenizer, ids[low : pos + after + 1]))
            contexts.append(Context(win, pos, value, tokens, pos - low))
        out.append(contexts)
    return out
