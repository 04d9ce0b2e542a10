"""Labels a person can check: short tags derived from a neuron's promoted tokens and top contexts.

No language model writes them. The word lists below are the project's own; a tag says which list
matched and how often, so a reader can check it against the card. In order of precedence:

* ``pronoun-writer``: at least 3 of the top promoted tokens are personal pronouns;
* ``group-term``: at least 3 of them are group terms of the domain other than pronouns;
* ``gendered-context`` (``race-context``, ``religion-context``): at least half of the top contexts
  contain a group term of the domain, and at least twice the share of ordinary corpus windows;
* ``unclear``: none of these.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from attributions.errors import InputError

__all__ = ["GROUP_TERMS", "PRONOUNS", "Tagging", "has_term", "tag_neuron", "words"]

_MIN_TOKENS = 3
"""Promoted tokens from one word list that earn its tag (``pronoun-writer``, ``group-term``)."""

PRONOUNS = frozenset([
    "he", "she", "him", "her", "his", "hers", "himself", "herself", "they", "them", "their", "theirs", "themselves",
])

GROUP_TERMS: dict[str, frozenset[str]] = {
    "gender": frozenset([
        "he", "she", "him", "her", "his", "hers", "himself", "herself", "man", "men", "woman", "women", "boy",
        "boys", "girl", "girls", "male", "males", "female", "females", "mother", "mothers", "father", "fathers",
        "mom", "dad", "son", "sons", "daughter", "daughters", "wife", "wives", "husband", "husbands", "brother",
        "brothers", "sister", "sisters", "king", "kings", "queen", "queens", "mr", "mrs", "ms", "miss", "sir",
        "madam", "lady", "ladies", "gentleman", "gentlemen", "aunt", "uncle", "niece", "nephew", "grandmother",
        "grandfather", "grandson", "granddaughter", "girlfriend", "boyfriend", "bride", "groom", "actress", "actor",
        "waitress", "waiter", "princess", "prince", "duchess", "duke", "gender", "masculine", "feminine",
    ]),
    "race": frozenset([
        "black", "blacks", "white", "whites", "asian", "asians", "african", "africans", "american", "hispanic",
        "hispanics", "latino", "latina", "latinos", "arab", "arabs", "indian", "indians", "chinese", "japanese",
        "korean", "mexican", "mexicans", "european", "europeans", "caucasian", "negro", "ethnic", "ethnicity",
        "race", "racial", "racist", "immigrant", "immigrants", "native", "natives", "tribe", "tribal", "colored",
    ]),
    "religion": frozenset([
        "christian", "christians", "christianity", "muslim", "muslims", "islam", "islamic", "jew", "jews", "jewish",
        "judaism", "hindu", "hindus", "hinduism", "buddhist", "buddhists", "buddhism", "sikh", "sikhs", "atheist",
        "atheists", "catholic", "catholics", "protestant", "church", "churches", "mosque", "mosques", "synagogue",
        "temple", "bible", "quran", "koran", "torah", "god", "allah", "priest", "rabbi", "imam", "pastor",
        "religion", "religious", "faith", "prayer",
    ]),
}
"""Group terms by domain (lower case, whole words)."""

_CONTEXT_TAGS = {"gender": "gendered-context", "race": "race-context", "religion": "religion-context"}

_WORD = re.compile(r"[a-z]+")


def words(text: str) -> list[str]:
    """Lower-case alphabetic words of ``text``."""
    return _WORD.findall(text.lower())


def has_term(text: str, terms: Iterable[str]) -> bool:
    """Whether ``text`` contains one of ``terms`` as a whole word."""
    found = set(words(text))
    return any(term in found for term in terms)


@dataclass(frozen=True)
class Tagging:
    """The tag, every tag that applied, and the evidence behind them.

    Attributes:
        pronoun_tokens, group_tokens: how many of the top promoted tokens are pronouns / group terms.
        context_share: share of the top contexts containing a group term (None without contexts).
        base_share: the same share over ordinary corpus windows (None when not given).
    """

    tag: str
    tags: tuple[str, ...]
    pronoun_tokens: int
    group_tokens: int
    context_share: float | None
    base_share: float | None

    def describe(self) -> str:
        parts = [f"{self.pronoun_tokens} pronoun(s) and {self.group_tokens} group term(s) among promoted tokens"]
        if self.context_share is not None:
            base = "" if self.base_share is None else f" (corpus windows: {self.base_share:.0%})"
            parts.append(f"group terms in {self.context_share:.0%} of top contexts{base}")
        return "; ".join(parts)


def tag_neuron(domain: str, promoted: Sequence[str], contexts: Sequence[str], *,
               base_share: float | None = None) -> Tagging:
    """Tag one neuron from its promoted tokens (strings, best first) and top-context texts."""
    terms = GROUP_TERMS.get(domain)
    if terms is None:
        raise InputError(f"no word list for domain {domain!r}; domains: {', '.join(GROUP_TERMS)}")
    stripped = [token.strip().lower() for token in promoted]
    pronouns = sum(token in PRONOUNS for token in stripped)
    groups = sum(token in terms and token not in PRONOUNS for token in stripped)
    share = sum(has_term(text, terms) for text in contexts) / len(contexts) if contexts else None
    applied = []
    if pronouns >= _MIN_TOKENS:
        applied.append("pronoun-writer")
    if groups >= _MIN_TOKENS:
        applied.append("group-term")
    if share is not None and share >= 0.5 and (base_share is None or share >= 2 * base_share):
        applied.append(_CONTEXT_TAGS[domain])
    return Tagging(applied[0] if applied else "unclear", tuple(applied) or ("unclear",), pronouns, groups, share,
                   base_share)
