"""The toolkit's terms for the ``learned_mask`` method: what a mask located for a domain must keep.

The text term keeps WikiText-2 sentences no report reads (:func:`~neuronedit.data.realtext.retain_sentences`);
the knowledge term keeps the dev half of the domain's knowledge probes, scored where the fact is
(the pronoun for gender, what follows the group word otherwise), as the ``lm+knowledge`` control does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attributions import PairPreference

from ..data import load
from ..data.knowledge import KNOWLEDGE_DOMAINS, knowledge_span
from ..data.realtext import retain_sentences

__all__ = ["method_options"]


def method_options(method: str, domain: str | None, mask: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The options ``attribute()`` needs for ``method`` on ``domain``'s objective: for ``learned_mask`` the
    retain texts and, when ``domain`` has knowledge probes, the knowledge objective (else its weight is 0),
    then ``mask`` (:class:`~attributions.masking.MaskOptions` fields the user chose); none for the other methods."""
    if method != "learned_mask":
        return {}
    options: dict[str, Any] = {"retain": list(retain_sentences())}
    if domain in KNOWLEDGE_DOMAINS:
        pairs = list(load(f"probes:knowledge-{domain}", split="dev"))
        options["keep"] = [PairPreference(pairs, span=knowledge_span(domain))]
    else:
        options["knowledge_weight"] = 0.0
    return {**options, **(mask or {})}
