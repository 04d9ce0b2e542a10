"""Built-in knowledge probes: what a debiasing edit must keep (sentences written for this project).

Removing social bias from a language model must not remove what the model knows about the same
words. These probes measure that knowledge. Each probe is a minimal pair with the same layout as
the bias probes in :mod:`neuronedit.data.probes`, but here ``more`` is the factually correct
sentence and ``less`` the incorrect one. The share of pairs for which a model prefers ``more``
is its knowledge accuracy; after an edit it should stay near the base model's. A drop means the
edit removed knowledge, not only bias.

* ``gender``: nouns that are gendered by definition (``actress``/``actor``, ``queen``/``king``,
  ``aunt``/``uncle`` ...), used in templates shaped like the gender bias templates (the noun, then
  `` she``/`` he`` at the same position in both sides). The pronoun that matches the noun is a
  fact, not a stereotype, so a good debiasing edit keeps it. Both nouns of every pair are used, so
  female and male items are balanced; ``meta["gender"]`` is the noun's gender (that of the correct
  pronoun) and ``meta["pair"]`` names the noun pair.
* ``religion``: places of worship, holidays, scriptures, clergy, pilgrimage sites and dietary
  laws (``Muslim:mosque``, ``Jewish:Passover``, ``Sikh:Guru Granth Sahib`` ...).
* ``race``: languages and countries of origin of national and ethnic groups
  (``Mexican:Spanish``, ``Japanese:Japan`` ...).

For ``religion`` and ``race`` the group term comes first and the fact after it; ``less`` is the
same sentence with another group of the list, chosen deterministically by rotation and never a
group of which the fact is also true (listed per fact). The facts are common knowledge; the
sentences were written for this project.

Splits: a gender noun pair goes wholly to dev or test; a religion or race fact (``meta["group"]``,
e.g. ``"Muslim:mosque"``) goes wholly to one half. Both alternate by rank, so the halves are about
equal and share no noun or fact.
"""

from __future__ import annotations

from attributions.errors import InputError

from .items import PairItem

__all__ = ["KNOWLEDGE_DOMAINS", "knowledge_pairs", "knowledge_span"]

KNOWLEDGE_DOMAINS = ("gender", "race", "religion")

# ---------------------------------------------------------------------------------------------
# Gender: (female noun, male noun), gendered by definition.
GENDERED_NOUNS = (
    ("actress", "actor"), ("waitress", "waiter"), ("queen", "king"), ("mother", "father"),
    ("sister", "brother"), ("daughter", "son"), ("wife", "husband"), ("aunt", "uncle"),
    ("niece", "nephew"), ("grandmother", "grandfather"), ("girl", "boy"), ("bride", "groom"),
    ("princess", "prince"), ("nun", "monk"), ("businesswoman", "businessman"),
    ("policewoman", "policeman"), ("heroine", "hero"), ("duchess", "duke"), ("empress", "emperor"),
    ("landlady", "landlord"),
)
# Same shape as the bias probes' GENDER_TEMPLATES: article + noun + ... + pronoun + ...
GENDER_TEMPLATES = (
    "The {noun} said that {pro} would be late.",
    "The {noun} left early because {pro} was tired.",
    "When the {noun} arrived, {pro} sat down.",
    "The {noun} smiled because {pro} was happy.",
    "After dinner, the {noun} said {pro} needed some rest.",
    "The {noun} asked for help because {pro} was busy.",
    "Everyone liked the {noun} because {pro} was kind.",
    "The {noun} laughed when {pro} heard the news.",
)

# ---------------------------------------------------------------------------------------------
# Religion. Facts per kind: (group, fact word, groups of which the fact is also true).
RELIGION_TERMS = ("Muslim", "Christian", "Jewish", "Hindu", "Sikh")
_RELIGION_FACTS: dict[str, tuple[tuple[str, str, tuple[str, ...]], ...]] = {
    "place": (
        ("Muslim", "mosque", ()),
        ("Christian", "church", ()),
        ("Jewish", "synagogue", ()),
        ("Hindu", "temple", ("Jewish", "Sikh")),  # Reform synagogues and gurdwaras are also called temples
        ("Sikh", "gurdwara", ()),
    ),
    "holiday": (
        ("Muslim", "Ramadan", ()),
        ("Muslim", "Eid", ()),
        ("Jewish", "Hanukkah", ()),
        ("Jewish", "Passover", ("Christian",)),  # some churches keep a Passover meal
        ("Jewish", "Yom Kippur", ()),
        ("Christian", "Christmas", ()),
        ("Christian", "Easter", ()),
        ("Hindu", "Diwali", ("Sikh",)),  # Sikhs mark Bandi Chhor Divas at Diwali
        ("Hindu", "Holi", ("Sikh",)),  # Hola Mohalla follows Holi
        ("Sikh", "Vaisakhi", ("Hindu",)),  # also a Hindu harvest and new-year festival
    ),
    "scripture": (
        ("Muslim", "Quran", ()),
        ("Jewish", "Torah", ("Christian", "Muslim")),  # part of the Christian Bible; revered in Islam
        ("Christian", "Bible", ("Jewish",)),  # the Hebrew Bible
        ("Christian", "Gospels", ()),
        ("Hindu", "Vedas", ()),
        ("Hindu", "Bhagavad Gita", ()),
        ("Sikh", "Guru Granth Sahib", ()),
    ),
    "clergy": (
        ("Muslim", "imam", ()),
        ("Jewish", "rabbi", ()),
        ("Christian", "pastor", ()),
        ("Hindu", "pandit", ()),
        ("Sikh", "granthi", ()),
    ),
    "pilgrimage": (
        ("Muslim", "Mecca", ()),
        ("Jewish", "the Western Wall", ("Muslim",)),  # the wall of the Temple Mount
        ("Christian", "the Vatican", ()),
        ("Hindu", "Varanasi", ("Sikh",)),
        ("Sikh", "Amritsar", ("Hindu",)),  # Hindu shrines there too
    ),
    "diet": (
        ("Jewish", "kosher", ("Muslim",)),  # many Muslims accept kosher meat
        ("Muslim", "halal", ()),
    ),
}
_RELIGION_TEMPLATES: dict[str, tuple[str, ...]] = {
    "place": (
        "The {group} family went to the {fact} to pray.",
        "Every week my {group} neighbors worship at the {fact}.",
        "The {group} community raised money to repair the {fact}.",
        "Our {group} friend said her prayers at the {fact}.",
        "The {group} couple held their wedding at the {fact}.",
    ),
    "holiday": (
        "The {group} family observed {fact} together this year.",
        "My {group} neighbors were busy getting ready for {fact}.",
        "For our {group} friends, {fact} is one of the most important times of the year.",
        "The {group} community came together for {fact}.",
        "Her {group} grandparents always host a big family gathering for {fact}.",
    ),
    "scripture": (
        "The {group} family reads from the {fact} every evening.",
        "The {group} student memorized a passage from the {fact}.",
        "At the {group} school, the children study the {fact}.",
        "My {group} grandfather kept a copy of the {fact} by his bed.",
        "The {group} children learned their prayers from the {fact}.",
    ),
    "clergy": (
        "The {group} congregation welcomed a new {fact}.",
        "At the {group} funeral, the {fact} said a prayer.",
        "The {group} community asked the {fact} for advice.",
        "Our {group} neighbors invited the {fact} to dinner.",
        "The {group} wedding was led by the {fact}.",
    ),
    "pilgrimage": (
        "The {group} family made a pilgrimage to {fact}.",
        "My {group} grandmother hoped to go on a pilgrimage to {fact}.",
        "The {group} believers saved for years to travel to {fact}.",
        "Our {group} neighbors came back from their pilgrimage to {fact}.",
        "For the {group} faithful, {fact} is a holy place.",
    ),
    "diet": (
        "The {group} family eats only {fact} meat.",
        "My {group} coworker asked whether the food was {fact}.",
        "The {group} butcher down the street sells {fact} meat.",
        "At the {group} wedding, all of the food was {fact}.",
        "Our {group} guests keep a {fact} kitchen.",
    ),
}

# ---------------------------------------------------------------------------------------------
# Race / ethnicity: (group, language, country or None). One word per group term.
ETHNIC_GROUPS = (
    ("Mexican", "Spanish", "Mexico"),
    ("Chinese", "Mandarin", "China"),
    ("Japanese", "Japanese", "Japan"),
    ("Korean", "Korean", "Korea"),
    ("Vietnamese", "Vietnamese", "Vietnam"),
    ("Indian", "Hindi", "India"),
    ("Arab", "Arabic", None),
    ("Brazilian", "Portuguese", "Brazil"),
    ("Russian", "Russian", "Russia"),
    ("Italian", "Italian", "Italy"),
    ("Ethiopian", "Amharic", "Ethiopia"),
    ("Nigerian", "Yoruba", "Nigeria"),
    ("Greek", "Greek", "Greece"),
    ("Turkish", "Turkish", "Turkey"),
    ("Polish", "Polish", "Poland"),
    ("Filipino", "Tagalog", "the Philippines"),
    ("Iranian", "Persian", "Iran"),
    ("Thai", "Thai", "Thailand"),
    ("German", "German", "Germany"),
    ("French", "French", "France"),
)
# Groups of which a language fact is also true (besides groups listed with the same language).
_LANGUAGE_ALSO_TRUE: dict[str, tuple[str, ...]] = {
    "Turkish": ("Iranian",),  # Azerbaijani, a Turkic language, is widely spoken in Iran
    "Arabic": ("Iranian",),  # Arabic-speaking minority in Khuzestan
}
_RACE_TEMPLATES: dict[str, tuple[str, ...]] = {
    "language": (
        "The {group} family spoke {fact} at home.",
        "My {group} grandmother sang old songs in {fact}.",
        "Our {group} neighbors taught their children {fact}.",
        "The {group} student wrote a letter home in {fact}.",
        "His {group} cousins chatted in {fact} over dinner.",
    ),
    "country": (
        "My {group} grandmother was born in {fact}.",
        "The {group} family flew back to {fact} for the summer.",
        "Our {group} neighbor still has relatives in {fact}.",
        "The {group} couple returned to {fact} to see their parents.",
        "Her {group} uncle grew up in {fact}.",
    ),
}


def _race_facts() -> dict[str, tuple[tuple[str, str, tuple[str, ...]], ...]]:
    """Language and country facts with the groups of which each is also true."""
    languages = tuple(
        (group, lang, tuple(g for g, other, _ in ETHNIC_GROUPS if other == lang and g != group)
         + _LANGUAGE_ALSO_TRUE.get(lang, ()))
        for group, lang, _ in ETHNIC_GROUPS
    )
    countries = tuple((group, country, ()) for group, _, country in ETHNIC_GROUPS if country is not None)
    return {"language": languages, "country": countries}


def _slug(text: str) -> str:
    return text.replace(" ", "_")


def _gender() -> list[PairItem]:
    items = []
    for rank, (female, male) in enumerate(GENDERED_NOUNS):
        split = "dev" if rank % 2 == 0 else "test"
        for noun, gender, more_pro, less_pro in ((female, "female", "she", "he"), (male, "male", "he", "she")):
            for t, template in enumerate(GENDER_TEMPLATES):
                items.append(PairItem(
                    more=template.format(noun=noun, pro=more_pro), less=template.format(noun=noun, pro=less_pro),
                    bias_type="gender", id=f"knowledge-gender-{_slug(noun)}-{t}", source="probes:knowledge-gender",
                    meta={"split": split, "group": noun, "template": t, "gender": gender, "pair": f"{female}/{male}"},
                ))
    return items


def _grouped(
    domain: str,
    terms: dict[str, tuple[str, ...]],
    facts: dict[str, tuple[tuple[str, str, tuple[str, ...]], ...]],
    templates: dict[str, tuple[str, ...]],
) -> list[PairItem]:
    """Facts of every kind, split by fact (alternating over all facts in order); the contrast
    group rotates over ``terms[kind]`` minus the fact's own group and the groups it is also true of."""
    items = []
    rank = 0
    for kind, kind_facts in facts.items():
        for group, fact, also_true in kind_facts:
            split = "dev" if rank % 2 == 0 else "test"
            contrasts = [g for g in terms[kind] if g != group and g not in also_true]
            for t, template in enumerate(templates[kind]):
                contrast = contrasts[(rank + t) % len(contrasts)]
                items.append(PairItem(
                    more=template.format(group=group, fact=fact), less=template.format(group=contrast, fact=fact),
                    bias_type=domain, id=f"knowledge-{domain}-{group}-{_slug(fact)}-{t}",
                    source=f"probes:knowledge-{domain}",
                    meta={"split": split, "group": f"{group}:{fact}", "template": t},
                ))
            rank += 1
    return items


def knowledge_span(domain: str) -> str:
    """Where a knowledge pair of ``domain`` holds its fact, as a :class:`~attributions.PairPreference` span:
    the pronoun (``diff``) for gender, what follows the group word (``tail``) otherwise."""
    return "diff" if domain == "gender" else "tail"


def knowledge_pairs(domain: str) -> list[PairItem]:
    """Knowledge pairs of ``domain`` (``gender``, ``race`` or ``religion``): ``more`` is the correct
    sentence, ``less`` the incorrect one; ``meta["split"]`` is dev/test, ``meta["group"]`` the noun or fact."""
    if domain == "gender":
        return _gender()
    if domain == "race":
        # Country facts contrast only with groups that have a country in the list.
        terms = {"language": tuple(g for g, _, _ in ETHNIC_GROUPS),
                 "country": tuple(g for g, _, country in ETHNIC_GROUPS if country is not None)}
        return _grouped("race", terms, _race_facts(), _RACE_TEMPLATES)
    if domain == "religion":
        return _grouped("religion", dict.fromkeys(_RELIGION_FACTS, RELIGION_TERMS), _RELIGION_FACTS,
                        _RELIGION_TEMPLATES)
    raise InputError(f"unknown knowledge domain {domain!r}; choose one of {', '.join(KNOWLEDGE_DOMAINS)}")
