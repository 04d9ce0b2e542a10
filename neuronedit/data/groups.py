"""Group words of each bias domain, for counterfactual swaps (CDA) and group labels (LEACE).

Each domain lists groups as parallel word columns: ``GROUPS["gender"]`` has two groups (male,
female), and word ``i`` of one group swaps with word ``i`` of the next (cyclically, so two groups
swap both ways and three or more rotate). The lists are the project's own; they are short on
purpose (the words that name a group), not a lexicon. A word in two columns ("her", partner of
"his" and of "him") swaps by its first ("her" -> "his"), so "He saw her" becomes "She saw his": swaps
are word-by-word, without syntax, as in most CDA word lists.
"""

from __future__ import annotations

import re
from functools import lru_cache

from attributions.errors import InputError

__all__ = ["GROUPS", "group_of", "swap_groups"]

_GENDER_PAIRS = (
    "he she", "his her", "him her", "himself herself", "man woman", "men women", "boy girl", "boys girls",
    "male female", "males females", "father mother", "fathers mothers", "dad mom", "daddy mommy", "son daughter",
    "sons daughters", "husband wife", "husbands wives", "brother sister", "brothers sisters", "king queen",
    "kings queens", "uncle aunt", "uncles aunts", "nephew niece", "grandfather grandmother", "grandson granddaughter",
    "grandpa grandma", "boyfriend girlfriend", "gentleman lady", "gentlemen ladies", "mr mrs", "sir madam",
    "prince princess", "groom bride", "actor actress", "waiter waitress", "schoolboy schoolgirl",
    "stepfather stepmother", "guy gal", "masculine feminine", "fiance fiancee", "lord lady", "monk nun",
)

GROUPS: dict[str, tuple[tuple[str, ...], ...]] = {
    "gender": tuple(zip(*(pair.split() for pair in _GENDER_PAIRS))),
    "race": (
        ("black", "blacks", "african", "africans", "africa"),
        ("white", "whites", "european", "europeans", "europe"),
        ("asian", "asians", "asian", "asians", "asia"),
        ("hispanic", "hispanics", "latino", "latinos", "mexico"),
        ("arab", "arabs", "arab", "arabs", "arabia"),
    ),
    "religion": (
        ("christian", "christians", "christianity", "church", "bible", "priest", "jesus"),
        ("muslim", "muslims", "islam", "mosque", "quran", "imam", "muhammad"),
        ("jewish", "jews", "judaism", "synagogue", "torah", "rabbi", "moses"),
        ("hindu", "hindus", "hinduism", "temple", "vedas", "pandit", "krishna"),
    ),
}
"""Per domain, one tuple of words per group; word ``i`` of each group corresponds across groups."""

_WORD = re.compile(r"[A-Za-z]+")


@lru_cache(maxsize=8)
def _index(domain: str) -> dict[str, list[tuple[int, int]]]:
    """word -> every (group, column) it appears at (``her`` is both ``him``'s and ``his``'s partner)."""
    if domain not in GROUPS:
        raise InputError(f"no group words for domain {domain!r}; choose one of {', '.join(GROUPS)}")
    out: dict[str, list[tuple[int, int]]] = {}
    for g, words in enumerate(GROUPS[domain]):
        for column, word in enumerate(words):
            out.setdefault(word, []).append((g, column))
    return out


def group_of(text: str, domain: str) -> int | None:
    """The one group whose words ``text`` uses (index into ``GROUPS[domain]``), or None when it uses
    none or words of several groups."""
    index = _index(domain)
    found = {g for word in _WORD.findall(text) for g, _ in index.get(word.lower(), [])}
    return found.pop() if len(found) == 1 else None


def _cased(word: str, like: str) -> str:
    if like.isupper() and len(like) > 1:
        return word.upper()
    return word[:1].upper() + word[1:] if like[:1].isupper() else word


def swap_groups(text: str, domain: str, shift: int = 1) -> str:
    """``text`` with every group word replaced by the word in the same column of the group ``shift``
    places on (cyclically); capitalisation is kept. Words in no list are left alone."""
    index, groups = _index(domain), GROUPS[domain]

    def replace(match: re.Match[str]) -> str:
        word = match.group(0)
        places = index.get(word.lower())
        if not places:
            return word
        group, column = places[0]
        return _cased(groups[(group + shift) % len(groups)][column], word)

    return _WORD.sub(replace, text)
