"""Self-contained HTML for neuron cards: inline CSS, no scripts, no external resources."""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .cards import Explanation, NeuronCard

__all__ = ["card_html", "cards_html", "write_html"]

CSS = """
.ne-cards{font-family:system-ui,sans-serif;font-size:14px;color:#222;max-width:1100px}
.ne-card{border:1px solid #ccc;border-radius:6px;padding:10px 14px;margin:12px 0;background:#fff}
.ne-card h3{margin:0 0 6px 0;font-size:16px}
.ne-tag{display:inline-block;padding:1px 8px;border-radius:10px;background:#e8eefc;margin-left:6px;font-size:12px}
.ne-tag.unclear{background:#eee;color:#666}
.ne-row{display:flex;gap:24px;flex-wrap:wrap}
.ne-col{flex:1;min-width:220px}
.ne-tokens span{display:inline-block;font-family:monospace;background:#f4f4f4;border-radius:3px;padding:0 4px;
 margin:1px}
.ne-ctx{font-family:monospace;white-space:pre-wrap;margin:2px 0;padding:2px 4px;border-left:3px solid #ddd}
.ne-ctx mark{background:#ffb347;font-weight:bold}
.ne-small{color:#666;font-size:12px}
table.ne-bias td{padding:0 8px 0 0}
"""


def _tok(token: str) -> str:
    return html.escape(token.replace(" ", "\u2423").replace("\n", "\u21b5"))


def _interval(value: float, low: float, high: float, digits: int = 3) -> str:
    return f"{value:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"


def card_html(card: NeuronCard) -> str:
    """One neuron's card (an ``<div id="L{layer}.N{neuron}">`` the report links to)."""
    tag_class = "ne-tag unclear" if card.tagging.tag == "unclear" else "ne-tag"
    score = "" if card.score is None else f" · score {card.score:.4g}"
    promoted = "".join(f"<span title='{t.value:.3f}'>{_tok(t.token)} <small>{t.value:+.2f}</small></span>"
                       for t in card.projection.promoted)
    suppressed = "".join(f"<span title='{t.value:.3f}'>{_tok(t.token)} <small>{t.value:+.2f}</small></span>"
                         for t in card.projection.suppressed)
    contexts = []
    for ctx in card.contexts:
        shown = [html.escape(tok.replace("\n", "\u21b5")) for tok in ctx.tokens]
        pieces = [f"<mark>{tok}</mark>" if i == ctx.marked else tok for i, tok in enumerate(shown)]
        contexts.append(f"<div class='ne-ctx'><span class='ne-small'>{ctx.activation:.3f}</span> "
                        f"{''.join(pieces)}</div>")
    bias = "<p class='ne-small'>no bias view (no pairs given)</p>"
    if card.bias is not None:
        d = card.bias.difference
        rows = [f"<tr><td>mean activation, stereotypical side</td><td>{card.bias.more:+.4f}</td></tr>",
                f"<tr><td>mean activation, other side</td><td>{card.bias.less:+.4f}</td></tr>",
                f"<tr><td>paired difference (95% CI, n={d.n})</td><td>{_interval(d.value, d.low, d.high, 4)}</td></tr>"]
        if card.bias.consistency is not None:
            c = card.bias.consistency
            rows.append(f"<tr><td>attribution sign consistency (Wilson 95%, n={c.n})</td>"
                        f"<td>{c.value:.2f} [{c.low:.2f}, {c.high:.2f}]</td></tr>")
        bias = f"<table class='ne-bias'>{''.join(rows)}</table>"
    return (
        f"<div class='ne-card' id='{card.name}'><h3>{card.name} <span class='ne-small'>rank {card.rank}{score}</span>"
        f"<span class='{tag_class}'>{html.escape(card.tagging.tag)}</span></h3>"
        f"<p class='ne-small'>{html.escape(card.tagging.describe())}</p>"
        f"<div class='ne-row'><div class='ne-col'><b>promotes</b><div class='ne-tokens'>{promoted}</div>"
        f"<b>suppresses</b><div class='ne-tokens'>{suppressed}</div></div>"
        f"<div class='ne-col'><b>bias view</b>{bias}</div></div>"
        f"<b>top contexts</b>{''.join(contexts) or '<p class=ne-small>none</p>'}</div>"
    )


def cards_html(explanation: Explanation, *, standalone: bool = True, title: str = "Neuron explanations") -> str:
    """All cards with a summary; a whole page when ``standalone``, else a fragment (notebooks)."""
    meta = explanation.meta
    head = (f"<p>{html.escape(explanation.summary_line())}. Top contexts over {meta.get('tokens', '?')} tokens "
            f"in {meta.get('windows', '?')} windows; model {html.escape(str(meta.get('model', '')))}. "
            "Promoted tokens: the write-out column through the final norm's scale and the unembedding "
            "(direct effect only, an approximation).</p>")
    body = f"<style>{CSS}</style><div class='ne-cards'>{head}{''.join(card_html(c) for c in explanation.cards)}</div>"
    if not standalone:
        return body
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
            f"<body><h1>{html.escape(title)}</h1>{body}</body></html>")


def write_html(explanation: Explanation, path: str | os.PathLike[str], *, title: str = "Neuron explanations") -> Path:
    """Write the standalone page to ``path`` atomically."""
    from attributions.files import atomic_file

    target = Path(path)
    with atomic_file(target) as tmp:
        tmp.write_text(cards_html(explanation, title=title), encoding="utf-8")
    return target
